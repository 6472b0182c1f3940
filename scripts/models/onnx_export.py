"""ONNX export shared by train_bundled_models.py and make_convnext_tiny.py (issue 3).

The saliency layer gets a stable, readable name: the wrapped model returns it as an extra last output, so the
exporter names the tensor after it; the output is then dropped from the graph again and the tensor is checked to
be a valid split point (on every path from the input to the score output).
"""
from __future__ import annotations

from pathlib import Path

import onnx
import torch


def is_dominator(graph: onnx.GraphProto, tensor: str, source: str, sink: str) -> bool:
    """True when every path from `source` to `sink` passes through `tensor`: with the tensor removed, `sink` can
    no longer be reached from `source`."""
    reachable = {source}
    changed = True
    while changed:
        changed = False
        for node in graph.node:
            if any(t in reachable for t in node.input):
                for t in node.output:
                    if t != tensor and t not in reachable:
                        reachable.add(t)
                        changed = True
    return sink not in reachable


def export_with_layer(module: torch.nn.Module, dummy: torch.Tensor, path: Path, input_name: str,
                      output_names: list[str], layer_name: str, score_output: str, doc: str) -> dict:
    """Exports `module` (whose forward returns the outputs named in `output_names`, then the saliency layer) at
    opset 17 with a dynamic batch axis named "batch"; returns facts about the written file."""
    names = output_names + [layer_name]
    with torch.no_grad():
        actual = module(dummy)
        torch.onnx.export(module, (dummy,), str(path), opset_version=17, input_names=[input_name],
                          output_names=names, dynamic_axes={k: {0: 'batch'} for k in [input_name] + names},
                          do_constant_folding=True)
    proto = onnx.load(str(path))
    graph = proto.graph
    if [o.name for o in graph.output] != names:
        raise RuntimeError(f'{path}: exporter wrote outputs {[o.name for o in graph.output]}, want {names}')
    if layer_name not in {t for node in graph.node for t in node.output}:
        raise RuntimeError(f'{path}: no node produces {layer_name}')
    # The exporter leaves some dims symbolic where shape computations hide them (e.g. after the ViT's CLS Expand);
    # every dim but the batch is fixed, so write the true shapes, taken from the torch run above.
    for value, tensor in zip(graph.output, actual):
        dims = value.type.tensor_type.shape.dim
        if len(dims) != tensor.dim():
            raise RuntimeError(f'{path}: {value.name} has rank {len(dims)} in ONNX but {tensor.dim()} in torch')
        for i, d in enumerate(dims):
            if i == 0:
                d.dim_param = 'batch'
            else:
                d.dim_value = tensor.shape[i]
    # Keep what is known about the layer (element type, shape with the symbolic batch) as value_info, so tools
    # that read the graph see its shape without running shape inference.
    graph.value_info.append(graph.output[len(output_names)])
    del graph.output[len(output_names)]
    proto.doc_string = doc
    if not is_dominator(graph, layer_name, input_name, score_output):
        raise RuntimeError(f'{path}: {layer_name} is not on every path from {input_name} to {score_output}')
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))
    inferred = onnx.shape_inference.infer_shapes(proto)
    shapes = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    ops: dict[str, int] = {}
    for node in graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    return {'bytes': path.stat().st_size, 'saliency_layer': layer_name, 'saliency_shape': shapes.get(layer_name),
            'output_shapes': {n: shapes.get(n) for n in output_names}, 'ops': dict(sorted(ops.items())),
            'nodes': len(graph.node), 'opset': proto.opset_import[0].version, 'ir_version': proto.ir_version}
