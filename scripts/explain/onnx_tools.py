"""ONNX helpers for make_reference.py: export with a named layer at a chosen opset, the opset 17 -> 21 upgrade,
operator histograms, and running models (whole, or with every intermediate tensor exposed) in onnxruntime-node
through ort_run.mjs."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / 'scripts' / 'models'))
from onnx_export import is_dominator  # noqa: E402


def export_named(module: torch.nn.Module, dummy: torch.Tensor, path: Path, opset: int, input_name: str,
                 output_names: list[str], layer_name: str, doc: str) -> onnx.ModelProto:
    """Like scripts/models/onnx_export.export_with_layer, at any opset torch 1.13 writes: `module` returns the
    outputs named in `output_names`, then the layer; the layer is named by exporting it as an output, then dropped
    from the outputs again (kept as value_info). Dynamic batch axis "batch". Checked with onnx.checker (full)."""
    names = output_names + [layer_name]
    with torch.no_grad():
        actual = module(dummy)
        torch.onnx.export(module, (dummy,), str(path), opset_version=opset, input_names=[input_name],
                          output_names=names, dynamic_axes={k: {0: 'batch'} for k in [input_name] + names},
                          do_constant_folding=True)
    proto = onnx.load(str(path))
    graph = proto.graph
    if [o.name for o in graph.output] != names:
        raise RuntimeError(f'{path}: exporter wrote outputs {[o.name for o in graph.output]}, want {names}')
    for value, tensor in zip(graph.output, actual):
        dims = value.type.tensor_type.shape.dim
        for i, d in enumerate(dims):
            if i == 0:
                d.dim_param = 'batch'
            else:
                d.dim_value = tensor.shape[i]
    graph.value_info.append(graph.output[len(output_names)])
    del graph.output[len(output_names)]
    proto.doc_string = doc
    if not is_dominator(graph, layer_name, input_name, output_names[0]):
        raise RuntimeError(f'{path}: {layer_name} is not on every path from {input_name} to {output_names[0]}')
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))
    return proto


def op_histogram(proto: onnx.ModelProto) -> dict[str, int]:
    ops: dict[str, int] = {}
    for node in proto.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    return dict(sorted(ops.items()))


# Operators whose opset 18-21 versions only add element types or optional inputs/attributes with defaults that keep
# the opset 17 meaning: carried over as they are.
UNCHANGED_17_TO_21 = {
    'Abs', 'Add', 'AveragePool', 'BatchNormalization', 'Cast', 'Concat', 'Constant', 'ConstantOfShape', 'Conv',
    'Div', 'Equal', 'Erf', 'Exp', 'Expand', 'Flatten', 'Gather', 'Gemm', 'GlobalAveragePool', 'Identity',
    'LayerNormalization', 'MatMul', 'Mul', 'Neg', 'Pow', 'Range', 'Relu', 'Reshape', 'Shape', 'Sigmoid', 'Slice',
    'Softmax', 'Sqrt', 'Squeeze', 'Sub', 'Tanh', 'Transpose', 'Unsqueeze', 'Where', 'Clip', 'Tile', 'Max', 'Min',
}
# Reduce operators whose `axes` attribute became an optional second input in opset 18 (ReduceSum did in 13).
AXES_TO_INPUT_18 = {'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum',
                    'ReduceLogSumExp', 'ReduceSumSquare'}


def upgrade_17_to_21(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Opset 17 -> 21 for the operators above (onnx 1.12's version_converter stops at opset 17): Reduce* `axes`
    attributes become int64 initializer inputs (opset 18); everything else keeps its meaning. IR version 10, which
    opset 21 needs. Raises on any operator not listed, rather than guessing."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    graph = out.graph
    for i, node in enumerate(graph.node):
        if node.domain not in ('', 'ai.onnx'):
            raise RuntimeError(f'upgrade_17_to_21: node {node.name} is in domain {node.domain}')
        if node.op_type in AXES_TO_INPUT_18:
            axes = [a for a in node.attribute if a.name == 'axes']
            if axes:
                name = f'{node.name or node.op_type + str(i)}_axes'.lstrip('/').replace('/', '_')
                graph.initializer.append(numpy_helper.from_array(np.array(axes[0].ints, dtype=np.int64), name))
                node.attribute.remove(axes[0])
                node.input.append(name)
        elif node.op_type not in UNCHANGED_17_TO_21:
            raise RuntimeError(f'upgrade_17_to_21: no rule for {node.op_type} (node {node.name})')
    del out.opset_import[:]
    out.opset_import.append(helper.make_opsetid('', 21))
    out.ir_version = 10
    return out


def try_version_converter(proto: onnx.ModelProto, target: int) -> tuple[onnx.ModelProto | None, str]:
    """onnx.version_converter's attempt, and what it said."""
    from onnx import version_converter
    try:
        converted = version_converter.convert_version(proto, target)
        onnx.checker.check_model(converted, full_check=True)
        return converted, 'ok'
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        return None, f'{type(e).__name__}: {str(e).strip().splitlines()[0][:300]}'


def run_ort(model: Path | onnx.ModelProto, inputs: dict[str, np.ndarray], outputs: list[str],
            optimize: bool = True) -> tuple[dict[str, np.ndarray], str]:
    """Runs `model` in onnxruntime-node (scripts/explain/ort_run.mjs); float32 outputs by name, and ORT's version."""
    with tempfile.TemporaryDirectory(prefix='miru-explain-') as tmp:
        tmp_dir = Path(tmp)
        if isinstance(model, onnx.ModelProto):
            model_path = tmp_dir / 'model.onnx'
            onnx.save(model, str(model_path))
        else:
            model_path = Path(model)
        request = {'model': str(model_path), 'outputs': outputs, 'outDir': str(tmp_dir), 'optimize': optimize,
                   'inputs': {}}
        for name, array in inputs.items():
            f = tmp_dir / f'in-{len(request["inputs"])}.bin'
            f.write_bytes(np.ascontiguousarray(array, dtype='<f4').tobytes())
            request['inputs'][name] = {'file': str(f), 'dims': list(array.shape)}
        (tmp_dir / 'request.json').write_text(json.dumps(request))
        result = subprocess.run(['node', str(HERE / 'ort_run.mjs'), str(tmp_dir / 'request.json')], cwd=REPO,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f'onnxruntime-node failed on {model_path}:\n{result.stdout}{result.stderr}')
        meta = json.loads((tmp_dir / 'outputs.json').read_text())
        values = {}
        for o in meta['outputs']:
            if o['file']:
                values[o['name']] = np.fromfile(o['file'], dtype='<f4').reshape(o['dims'])
        return values, meta['ort']


def float_tensors(proto: onnx.ModelProto) -> list[str]:
    """Names of the node outputs that shape inference types as float32, in graph order."""
    inferred = onnx.shape_inference.infer_shapes(proto)
    types = {v.name: v.type.tensor_type.elem_type for v in
             list(inferred.graph.value_info) + list(inferred.graph.output)}
    names = []
    for node in proto.graph.node:
        for t in node.output:
            if t and types.get(t) == TensorProto.FLOAT:
                names.append(t)
    return names


def all_intermediates(proto: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every float32 node output of `proto`, computed by onnxruntime-node with graph optimisations off (so each
    tensor is the one the graph names)."""
    names = float_tensors(proto)
    exposed = onnx.ModelProto()
    exposed.CopyFrom(proto)
    have = {o.name for o in exposed.graph.output}
    for n in names:
        if n not in have:
            exposed.graph.output.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, None))
    values, _ = run_ort(exposed, inputs, names, optimize=False)
    return values


def match_tensor(proto: onnx.ModelProto, intermediates: dict[str, np.ndarray], reference: np.ndarray,
                 input_name: str, output_name: str, rtol: float = 1e-4) -> tuple[str, float, list[str]]:
    """The ONNX tensor whose values equal `reference` (a torch tensor's), among those on every path from the
    input to the output: max |diff| <= rtol * (1 + max |reference|). Returns (name, max |diff|, every tensor that
    matched, dominator or not). If several dominators match (an Identity, a no-op Reshape), the first in graph
    order wins."""
    tol = rtol * (1 + float(np.abs(reference).max()))
    matches = []
    for name, value in intermediates.items():
        if value.shape != reference.shape:
            continue
        diff = float(np.abs(value.astype(np.float64) - reference).max())
        if diff <= tol:
            matches.append((name, diff))
    dominators = [(n, d) for n, d in matches if is_dominator(proto.graph, n, input_name, output_name)]
    if not dominators:
        raise RuntimeError(f'no dominating ONNX tensor matches the torch tensor of shape {reference.shape} '
                           f'(matches off the main path: {[n for n, _ in matches]})')
    return dominators[0][0], dominators[0][1], [n for n, _ in matches]


# Operators whose outputs are integers or booleans: no gradient flows through them (nor through what is computed
# from them alone, e.g. Shape -> Gather -> Concat -> a Reshape's shape input).
NON_DIFFERENTIABLE = {'Shape', 'Size', 'Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'Not', 'And',
                      'Or', 'Xor', 'ArgMax', 'ArgMin', 'NonZero'}


def gradient_path_ops(proto: onnx.ModelProto, source: str, sink: str) -> dict[str, int]:
    """Histogram of the nodes on a differentiable path from `source` to `sink`: a node counts when one of its
    inputs depends on `source` through differentiable operators and `sink` depends on one of its outputs. These
    are the operators a backward pass from `sink` to `source` needs rules for."""
    reach = {source}
    for node in proto.graph.node:  # nodes are topologically sorted
        if node.op_type not in NON_DIFFERENTIABLE and any(t in reach for t in node.input):
            reach.update(t for t in node.output if t)
    needed = {sink}
    on_path = []
    for node in reversed(proto.graph.node):
        if any(t in needed for t in node.output):
            needed.update(t for t in node.input if t)
            if node.op_type not in NON_DIFFERENTIABLE and any(t in reach for t in node.input):
                on_path.append(node.op_type)
    ops: dict[str, int] = {}
    for op in on_path:
        ops[op] = ops.get(op, 0) + 1
    return dict(sorted(ops.items()))
