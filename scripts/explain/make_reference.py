#!/usr/bin/python3
"""Ground truth for Miru's ONNX gradient machinery (Grad-CAM and friends without PyTorch): fixture models, fixture
images and torch-autograd reference values, all under test/fixtures/explain/.

    cd <repo> && /usr/bin/python3 scripts/explain/make_reference.py

Needs Debian's python (python3-torch 1.13, python3-onnx 1.12, python3-numpy, python3-pil; the `python3` first on
PATH may lack them) and node with the repo's node_modules (onnxruntime-node runs the ONNX side, through
scripts/explain/ort_run.mjs, since onnx 1.12 has no reference evaluator). One thread, about 10 seconds.
Deterministic: fixed seeds, and torch's exporter writes the same graph each time (floats can differ in the last bits
on another BLAS). The TypeScript tests never run python. Options: --models NAME... regenerates only those models'
files and cases (the other cases in reference.json are kept); --no-write checks only.

What it writes (see test/fixtures/explain/README.md, which it also writes):
- models/<name>.onnx + <name>.card.json for five random-weight fixture models (swin-mini, eva-mini, caformer-mini:
  fixture_models.py; convnext-o13, convnext-o21: scripts/models/architectures.ConvNeXt). Each export is checked with
  onnx.checker (full) and against torch in onnxruntime-node.
- images/*.png at exactly each model's input size (no resampling in preprocessing).
- reference.json: per model, image, target ("score", "class:3", "prob:3") and layer (the card's saliency layer and
  one earlier layer on every input->output path): y, the layer's activation A and gradient dy/dA (base64 float32,
  ONNX layout), the five raw CAM maps, and for "score" on one image dy/dinput. The bundled models
  assets/models/miru-{convnext,vit}-s.onnx are covered too: their torch modules are rebuilt from
  scripts/models/train_bundled_models.MODELS and loaded with the ONNX initializers (checked against
  assets/models/*.reference.json). Layer tensor names are found by comparing torch's tensor with every intermediate
  tensor of the ONNX graph (run in onnxruntime with all node outputs exposed).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / 'scripts' / 'models'))
import fixture_models as fm  # noqa: E402
import onnx_tools as ot  # noqa: E402
import train_bundled_models as tbm  # noqa: E402
from architectures import ConvNeXt  # noqa: E402

OUT = REPO / 'test' / 'fixtures' / 'explain'
MODELS_DIR = OUT / 'models'
IMAGES_DIR = OUT / 'images'
ASSETS = REPO / 'assets' / 'models'

CLASS_VALUES = [1, 2, 3, 4, 5]
TARGET_CLASS = 3
TARGETS = ['score', f'class:{TARGET_CLASS}', f'prob:{TARGET_CLASS}']
METHODS = ['gradcam', 'hirescam', 'xgradcam', 'gradcam++', 'layercam']
TOLERANCE = 1e-4  # ONNX Runtime vs torch, and rebuilt bundled modules vs their reference.json
MAX_MODEL_BYTES = 1.5 * 1024 * 1024
CONVNEXT_FIXTURE = {'depths': [2, 2, 4], 'dims': [16, 32, 64], 'layer_scale': 0.5, 'stem_norm': True}


def log(*args: object) -> None:
    print(*args, flush=True)


def rel(path: Path) -> str:
    return path.resolve().relative_to(REPO).as_posix()


def b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype='<f4').tobytes()).decode('ascii')


# -------------------------------------------------------------------------------------------------------- images

def draw_shapes(size: int) -> Image.Image:
    """A small scene with structure at every scale: sky gradient, sun, hills, a house with a roof and a window, a
    striped field. Drawn at 4x and reduced with a box filter (anti-aliasing); the PNG is exactly size x size."""
    s = size * 4
    img = Image.new('RGB', (s, s))
    d = ImageDraw.Draw(img)
    for y in range(s):  # sky: deep blue -> pale cyan
        t = y / (s - 1)
        d.line([(0, y), (s, y)], fill=(int(30 + 150 * t), int(70 + 150 * t), int(160 + 80 * t)))
    d.ellipse([s * 0.68, s * 0.08, s * 0.90, s * 0.30], fill=(255, 214, 64))  # sun
    d.ellipse([-s * 0.3, s * 0.52, s * 0.7, s * 1.2], fill=(58, 140, 62))  # hills
    d.ellipse([s * 0.35, s * 0.58, s * 1.3, s * 1.3], fill=(92, 168, 70))
    for i in range(6):  # striped field in the front
        y0 = s * (0.80 + 0.035 * i)
        d.rectangle([0, y0, s, y0 + s * 0.017], fill=(196, 170, 60))
    d.rectangle([s * 0.14, s * 0.46, s * 0.42, s * 0.72], fill=(200, 60, 48))  # house
    d.polygon([(s * 0.10, s * 0.47), (s * 0.28, s * 0.30), (s * 0.46, s * 0.47)], fill=(90, 40, 30))  # roof
    d.rectangle([s * 0.20, s * 0.52, s * 0.28, s * 0.60], fill=(250, 240, 180))  # window
    d.rectangle([s * 0.32, s * 0.58, s * 0.38, s * 0.72], fill=(60, 30, 20))  # door
    return img.reduce(4)


def synth_image(index: int) -> Image.Image:
    """Held-out `miru synth` image `index` as the bundled models' reference.json stores it (uint8 after the card's
    128x128 stretch)."""
    ref = json.loads((ASSETS / 'miru-convnext-s.reference.json').read_text())
    n, _, h, w = ref['input']['shape']
    pixels = np.frombuffer(base64.b64decode(ref['input']['pixelsNHWCUint8Base64']), dtype=np.uint8)
    return Image.fromarray(pixels.reshape(n, h, w, 3)[index])


def write_images() -> dict[str, Path]:
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    images = {
        'shapes-64': draw_shapes(64),
        'synth-0-64': synth_image(0).reduce(2),
        'synth-0-128': synth_image(0),
        'synth-1-128': synth_image(1),
    }
    paths = {}
    for name, img in images.items():
        path = IMAGES_DIR / f'{name}.png'
        img.save(path, optimize=False, compress_level=9)
        paths[name] = path
    return paths


def load_input(path: Path, size: int) -> torch.Tensor:
    """The card's preprocessing for an image already at the input size: RGB, (p / 255 - 0.5) / 0.5 in float32,
    NCHW (the same float32 arithmetic as train_bundled_models.to_input and check_onnx.mjs)."""
    u8 = np.asarray(Image.open(path).convert('RGB'), dtype=np.uint8)
    if u8.shape[:2] != (size, size):
        raise RuntimeError(f'{path}: {u8.shape[1]}x{u8.shape[0]}, the model wants {size}x{size}')
    return tbm.to_input(u8[None])


# -------------------------------------------------------------------------------------------------------- models

class Tapped(torch.nn.Module):
    """forward(image) -> (logits, taps) for any model here; Export wraps it for torch.onnx.export."""

    def __init__(self, model: torch.nn.Module, fn) -> None:
        super().__init__()
        self.model = model
        self.fn = fn

    def forward(self, image: torch.Tensor):
        return self.fn(self.model, image)


class Export(torch.nn.Module):
    """Returns the logits, then the saliency tap (named by the exporter, then dropped). Holds the model itself (not
    the Tapped wrapper) so the exporter's scope names start at the model's own modules."""

    def __init__(self, tapped: Tapped, layer: str) -> None:
        super().__init__()
        self.model = tapped.model
        self.fn = tapped.fn
        self.layer = layer

    def forward(self, image: torch.Tensor):
        logits, taps = self.fn(self.model, image)
        return logits, taps[self.layer]


def own_forward(model, image):
    return model(image)


def convnext_forward(model: ConvNeXt, image: torch.Tensor):
    """architectures.ConvNeXt.forward with taps: the last stage's output (`feature_map`, the saliency layer) and
    an earlier split point."""
    x = model.stem(image)
    taps = {}
    for i, stage in enumerate(model.stages):
        if i > 0:
            x = model.downsample[i - 1](x)
        if i == len(model.stages) - 1:
            taps['last_stage_input'] = x  # the downsampling's output, input of the last stage's first block
        x = stage(x)
        if i == len(model.stages) - 2:
            taps['stage_output'] = x  # output of the second-to-last stage, before downsampling
    taps['feature_map'] = x
    embedding = model.norm(x.mean(dim=(2, 3)))
    out = {'logits': model.head(embedding), 'embedding': embedding}
    if model.score_head is not None:
        out['score'] = model.score_head(embedding)
    taps.update({k: v for k, v in out.items() if k != 'logits'})
    return out['logits'], taps


def vit_forward(model, image: torch.Tensor):
    """architectures.ViT.forward with taps: the tokens entering the last block (`tokens`) and entering block 1."""
    x = model.patch_embed(image).flatten(2).transpose(1, 2)
    x = torch.cat([model.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + model.pos_embed
    taps = {}
    for i, block in enumerate(model.blocks):
        if i == 1:
            taps['block1_input'] = x
        if i == len(model.blocks) - 1:
            taps['tokens'] = x
        x = block(x)
    embedding = model.norm(x)[:, 0]
    taps['score'] = model.score_head(embedding)
    taps['embedding'] = embedding
    return model.head(embedding), taps


def card(name: str, size: int, layer: str, tokens: dict | None, embedding: bool = False) -> dict:
    """The card format of assets/models/*.card.json."""
    out = {
        'name': name,
        'input': {**tbm.INPUT_CARD, 'size': [size, size]},
        'outputs': {'score': {'name': 'logits', 'kind': 'ordinal', 'labels': [str(v) for v in CLASS_VALUES],
                              'values': CLASS_VALUES, 'activation': 'softmax'}},
        'saliency': {'layer': layer},
    }
    if embedding:
        out['outputs']['embedding'] = {'name': 'embedding'}
    if tokens is not None:
        out['saliency']['tokens'] = tokens
    return out


FIXTURES = {
    # name: builder, seed, opset (torch export; 21 = exported at 17 and upgraded), saliency tap, earlier tap,
    # token layout of both taps (None for N,C,h,w maps), images, description
    'swin-mini': {
        'build': lambda: fm.SwinMini(), 'forward': own_forward, 'seed': 101, 'opset': 17, 'size': 64,
        'layer': 'tokens', 'earlier': 'stage2_input', 'tokens': {'prefix': 0, 'grid': [8, 8]},
        'earlier_tokens': {'prefix': 0, 'grid': [8, 8]}, 'images': ['shapes-64'],
        'about': 'SwinV2-style: 64 px, 4x4 patches, stage 1 (16x16 tokens of 32, window 4, regular + shifted '
                 'block), patch merging, stage 2 (8x8 tokens of 64, regular + shifted), LayerNorm, token mean, '
                 'head. Saliency `tokens` = stage 2 output [1,64,64] (grid 8x8, no prefix); earlier layer = '
                 'stage 2 input (the patch merging output).',
    },
    'eva-mini': {
        'build': lambda: fm.EvaMini(), 'forward': own_forward, 'seed': 102, 'opset': 17, 'size': 64,
        'layer': 'tokens', 'earlier': 'block1_input', 'tokens': {'prefix': 5, 'grid': [8, 8]},
        'earlier_tokens': {'prefix': 5, 'grid': [8, 8]}, 'images': ['shapes-64'],
        'about': 'EVA02-style ViT: 64 px, 8x8 patches of 64 channels, CLS + 4 registers, 2D RoPE, SwiGLU, 3 '
                 'pre-norm blocks, head on CLS. Saliency `tokens` = input of the last block [1,69,64] (prefix 5, '
                 'grid 8x8); earlier layer = input of block 1.',
    },
    'caformer-mini': {
        'build': lambda: fm.CAFormerMini(), 'forward': own_forward, 'seed': 103, 'opset': 13, 'size': 64,
        'layer': 'feature_map', 'earlier': 'stage3_input', 'tokens': None, 'earlier_tokens': None,
        'images': ['shapes-64'],
        'about': 'CAFormer-style: 64 px, stem 7x7/2, ConvFormer stages (SepConv mixer with StarReLU) at 32x32x16 '
                 'and 16x16x32, attention stage at 8x8x64, mean -> LayerNorm -> MLP head; opset 13 (LayerNorm '
                 'decomposed). Saliency `feature_map` = attention stage output [1,64,8,8]; earlier layer = the '
                 'last downsampling\'s output (attention stage input) [1,64,8,8].',
    },
    'convnext-o13': {
        'build': lambda: build_convnext(), 'forward': convnext_forward, 'seed': 104, 'opset': 13, 'size': 64,
        'layer': 'feature_map', 'earlier': 'stage_output', 'tokens': None, 'earlier_tokens': None,
        'images': ['shapes-64', 'synth-0-64'],
        'about': 'architectures.ConvNeXt (the bundled architecture), depths [2,2,4], dims [16,32,64], LayerNorm '
                 'after the stem, random weights, 64 px; opset 13 (LayerNorm decomposed, GELU as Erf). Saliency '
                 '`feature_map` = last stage output [1,64,4,4]; earlier layer = stage 2 output [1,32,8,8].',
    },
    'convnext-o21': {
        'build': lambda: build_convnext(), 'forward': convnext_forward, 'seed': 104, 'opset': 21, 'size': 64,
        'layer': 'feature_map', 'earlier': 'stage_output', 'tokens': None, 'earlier_tokens': None,
        'images': ['shapes-64', 'synth-0-64'],
        'about': 'The same torch model and weights as convnext-o13, exported at opset 17 (LayerNormalization) and '
                 'upgraded to opset 21 / IR 10 (ReduceMean axes as an input).',
    },
}


def build_convnext() -> ConvNeXt:
    a = CONVNEXT_FIXTURE
    return ConvNeXt(a['depths'], a['dims'], len(CLASS_VALUES), scalar_head=False, layer_scale=a['layer_scale'],
                    stem_norm=a['stem_norm'])


BUNDLED = {
    'miru-convnext-s': {'layer': 'feature_map', 'earlier': 'last_stage_input', 'forward': convnext_forward,
                        'images': ['synth-0-128', 'synth-1-128']},
    'miru-vit-s': {'layer': 'tokens', 'earlier': 'block1_input', 'forward': vit_forward,
                   'images': ['synth-0-128', 'synth-1-128']},
}
# Only the first image of each bundled model gets the earlier layer too (keeps reference.json near 4 MB).
BUNDLED_EARLIER_IMAGES = 1


def build_fixture(name: str) -> Tapped:
    spec = FIXTURES[name]
    torch.manual_seed(spec['seed'])
    model = spec['build']()
    fm.randomize(model, spec['seed'])
    return Tapped(model, spec['forward']).eval()


def export_fixture(name: str, tapped: Tapped) -> tuple[Path, onnx.ModelProto, dict]:
    spec = FIXTURES[name]
    path = MODELS_DIR / f'{name}.onnx'
    dummy = torch.zeros(2, 3, spec['size'], spec['size'])
    doc = (f'{name}: Miru explain fixture, random weights (scripts/explain/make_reference.py). {spec["about"]} '
           f'Output logits [batch,5] (ordinal classes 1..5).')
    facts = {}
    if spec['opset'] == 21:
        proto17 = ot.export_named(Export(tapped, spec['layer']), dummy, path, 17, 'image', ['logits'],
                                  spec['layer'], doc)
        converted, said = ot.try_version_converter(proto17, 21)
        facts['version_converter'] = said
        if converted is None:
            log(f'{name}: onnx {onnx.__version__} version_converter cannot reach opset 21 ({said}); '
                'upgrading with onnx_tools.upgrade_17_to_21')
            proto = ot.upgrade_17_to_21(proto17)
            facts['upgraded_by'] = 'scripts/explain/onnx_tools.upgrade_17_to_21'
        else:
            proto = converted
            facts['upgraded_by'] = 'onnx.version_converter'
        try:
            onnx.checker.check_model(proto, full_check=True)
            facts['checker'] = f'onnx {onnx.__version__} checker (full): ok'
        except Exception as e:  # noqa: BLE001 - onnx 1.12 knows opsets up to 17; reported in the README
            facts['checker'] = (f'onnx {onnx.__version__} checker (full) cannot check opset 21: '
                                f'{type(e).__name__}: {str(e).strip().splitlines()[0][:200]}')
        onnx.save(proto, str(path))
    else:
        proto = ot.export_named(Export(tapped, spec['layer']), dummy, path, spec['opset'], 'image', ['logits'],
                                spec['layer'], doc)
        facts['checker'] = f'onnx {onnx.__version__} checker (full): ok'
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise RuntimeError(f'{path}: {size} bytes, over the {MAX_MODEL_BYTES:.0f}-byte limit')
    return path, proto, facts


# ------------------------------------------------------------------------------------------------ bundled models

def load_bundled(name: str) -> tuple[Tapped, onnx.ModelProto, dict]:
    """The bundled model's torch module (architectures.py, spec from train_bundled_models.MODELS) with the weights
    of assets/models/<name>.onnx. Initializers are found by name (`model.<param>`); Linear weights that the exporter
    transposed for MatMul (`onnx::MatMul_*`) by the `model.<linear>.bias` their MatMul's Add reads; BatchNorms of a
    conv stem were folded into their convs by the export (`onnx::Conv_*`), so each conv + BatchNorm pair becomes
    one conv with the folded weight and bias (eval-mode BatchNorm is affine, so values and gradients are those of
    the ONNX graph)."""
    spec = tbm.MODELS[name]
    path = ASSETS / f'{name}.onnx'
    proto = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    a = spec['arch']
    notes = []
    if spec['family'] == 'convnext':
        model = ConvNeXt(a['depths'], a['dims'], len(CLASS_VALUES), scalar_head=True, layer_scale=a['layer_scale'],
                         stem_norm=a['stem_norm'])
    else:
        plain = inits.get('model.patch_embed.weight')
        stem = None if plain is not None and plain.shape[-1] == a['patch'] else a.get('stem')
        if stem is None and a.get('stem'):
            notes.append('the ONNX file has a single patch x patch patch-embedding conv, not the conv stem that '
                         'train_bundled_models.MODELS now specifies (it was exported before the stem was added); '
                         'rebuilt as the file is')
        model = tbm.ViT(tbm.INPUT_SIZE, a['patch'], a['dim'], a['depth'], a['heads'], a['mlp_ratio'],
                        len(CLASS_VALUES), scalar_head=True, stem_widths=stem)
    model.eval()
    graph = proto.graph
    consumers: dict[str, list] = {}
    for node in graph.node:
        for t in node.input:
            consumers.setdefault(t, []).append(node)
    state = {}
    for node in graph.node:  # transposed Linear weights
        if node.op_type != 'MatMul' or node.input[1] not in inits or node.input[1].startswith('model.'):
            continue
        adds = [n for n in consumers.get(node.output[0], []) if n.op_type == 'Add']
        biases = [t for n in adds for t in n.input if t.startswith('model.') and t.endswith('.bias')]
        if len(biases) != 1:
            raise RuntimeError(f'{path}: cannot tell which Linear {node.input[1]} belongs to')
        state[biases[0][len('model.'):-len('.bias')] + '.weight'] = torch.from_numpy(inits[node.input[1]].T.copy())
    folded_convs = [n for n in graph.node if n.op_type == 'Conv' and not n.input[1].startswith('model.')]
    if folded_convs:
        seq = model.patch_embed
        pairs = [i for i, m in enumerate(seq) if isinstance(m, torch.nn.Conv2d)
                 and i + 1 < len(seq) and isinstance(seq[i + 1], torch.nn.BatchNorm2d)]
        if len(pairs) != len(folded_convs):
            raise RuntimeError(f'{path}: {len(folded_convs)} folded convs, {len(pairs)} conv + BatchNorm pairs')
        for i, node in zip(pairs, folded_convs):
            old = seq[i]
            conv = torch.nn.Conv2d(old.in_channels, old.out_channels, old.kernel_size, old.stride, old.padding,
                                   bias=True)
            conv.weight.data = torch.from_numpy(inits[node.input[1]].copy())
            conv.bias.data = torch.from_numpy(inits[node.input[2]].copy())
            seq[i] = conv
            seq[i + 1] = torch.nn.Identity()
        notes.append(f'{len(pairs)} BatchNorm2d folded into their convs by the export; rebuilt as convs with bias')
    for key, p in model.state_dict().items():
        if key in state:
            continue
        onnx_name = f'model.{key}'
        if onnx_name in inits:
            state[key] = torch.from_numpy(inits[onnx_name].copy())
        elif not (key.startswith('patch_embed.') and folded_convs):
            raise RuntimeError(f'{path}: no initializer for {key}')
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith('patch_embed.') for k in missing):
        raise RuntimeError(f'{path}: state dict mismatch: missing {missing}, unexpected {unexpected}')
    # Check against the torch outputs saved at training time.
    ref = json.loads((ASSETS / f'{name}.reference.json').read_text())
    n, c, h, w = ref['input']['shape']
    u8 = np.frombuffer(base64.b64decode(ref['input']['pixelsNHWCUint8Base64']), dtype=np.uint8).reshape(n, h, w, c)
    with torch.no_grad():
        outs = model(tbm.to_input(u8))
    worst = {}
    for key, value in zip(['logits', 'score', 'embedding'], outs):
        worst[key] = float(np.abs(value.numpy() - np.array(ref['outputs'][key], dtype=np.float32)).max())
        if worst[key] > TOLERANCE:
            raise RuntimeError(f'{name}: rebuilt torch module differs from {name}.reference.json on {key} by '
                               f'{worst[key]:.2e}')
    spec_b = BUNDLED[name]
    facts = {'reference_max_abs_diff': worst, 'notes': notes,
             'sha256': hashlib.sha256(path.read_bytes()).hexdigest()}
    return Tapped(model, spec_b['forward']).eval(), proto, facts


# ---------------------------------------------------------------------------------------------------- references

def target_value(logits: torch.Tensor, target: str) -> torch.Tensor:
    p = torch.softmax(logits[0], dim=0)
    if target == 'score':
        return (p * torch.tensor(CLASS_VALUES, dtype=logits.dtype)).sum()
    kind, k = target.split(':')
    return logits[0, int(k)] if kind == 'class' else p[int(k)]


def to_grid(t: np.ndarray, tokens: dict | None) -> np.ndarray:
    """C,h,w float64 from the layer's ONNX layout: N,C,h,w maps as they are; N,L,C tokens after dropping the prefix
    tokens, as pytorch-grad-cam's reshape_transform: A[:, prefix:, :].reshape(1, h, w, C).permute(0, 3, 1, 2)."""
    t = t.astype(np.float64)
    if tokens is None:
        return t[0]
    h, w = tokens['grid']
    grid = t[:, tokens['prefix']:, :]
    if grid.shape[1] != h * w:
        raise RuntimeError(f'{grid.shape[1]} tokens after the prefix, grid {h}x{w} needs {h * w}')
    return grid.reshape(1, h, w, -1).transpose(0, 3, 1, 2)[0]


def raw_cams(a: np.ndarray, g: np.ndarray) -> dict[str, np.ndarray]:
    """The five methods' maps before ReLU and normalisation (pytorch-grad-cam's weightings), A and G as C,h,w
    float64."""
    axes = (1, 2)
    sum_a = a.sum(axis=axes, keepdims=True)
    g2, g3 = g ** 2, g ** 3
    alpha = g2 / (2 * g2 + sum_a * g3 + 1e-7)
    alpha = np.where(g != 0, alpha, 0)
    pp_weights = (np.maximum(g, 0) * alpha).sum(axis=axes, keepdims=True)
    return {
        'gradcam': (g.mean(axis=axes, keepdims=True) * a).sum(axis=0),
        'hirescam': (g * a).sum(axis=0),
        'xgradcam': ((g * a).sum(axis=axes, keepdims=True) / (sum_a + 1e-7) * a).sum(axis=0),
        'gradcam++': (pp_weights * a).sum(axis=0),
        'layercam': (np.maximum(g, 0) * a).sum(axis=0),
    }


def model_cases(name: str, tapped: Tapped, proto: onnx.ModelProto, onnx_path: Path, card_path: Path,
                layers: list[tuple[str, str, dict | None, list[str]]], images: list[str],
                image_paths: dict[str, Path], size: int, info: dict) -> list[dict]:
    """Cases for one model. `layers`: (tap name, card layer name or None, token layout, images it is used for).
    Checks onnxruntime against torch on every image and finds each tap's ONNX tensor name."""
    cases = []
    for index, image_name in enumerate(images):
        image_path = image_paths[image_name]
        x = load_input(image_path, size)
        with torch.no_grad():
            logits_t, taps = tapped(x)
        ort_out, ort_version = ot.run_ort(onnx_path, {'image': x.numpy()}, ['logits'])
        diff = float(np.abs(ort_out['logits'] - logits_t.numpy()).max())
        if diff > TOLERANCE:
            raise RuntimeError(f'{name}: onnxruntime logits differ from torch by {diff:.2e} on {image_name}')
        info.setdefault('ort_vs_torch_logits', {})[image_name] = diff
        info['onnxruntime'] = ort_version
        intermediates = ot.all_intermediates(proto, {'image': x.numpy()})
        layer_names = {}
        for tap, card_layer, tokens, layer_images in layers:
            if image_name not in layer_images:
                continue
            found, d, matches = ot.match_tensor(proto, intermediates, taps[tap].numpy(), 'image', 'logits')
            if card_layer is not None and found != card_layer:
                raise RuntimeError(f'{name}: tap {tap} matches {found} ({matches}), the card says {card_layer}')
            layer_names[tap] = found
            info.setdefault('layers', {})[tap] = {'onnx': found, 'max_abs_diff_vs_torch': d,
                                                  'same_values': matches, 'shape': list(taps[tap].shape)}
        for target in TARGETS:
            xg = x.clone().requires_grad_(True)
            logits, taps = tapped(xg)
            y = target_value(logits, target)
            wanted = [tap for tap in layer_names]
            grads = torch.autograd.grad(y, [taps[t] for t in wanted] + [xg])
            for j, (tap, card_layer, tokens, layer_images) in enumerate(layers):
                if tap not in layer_names:
                    continue
                a = taps[tap].detach().numpy().astype(np.float32)
                g = grads[wanted.index(tap)].numpy().astype(np.float32)
                raw = raw_cams(to_grid(a, tokens), to_grid(g, tokens))
                case = {
                    'model': name, 'file': rel(onnx_path), 'card': rel(card_path), 'image': rel(image_path),
                    'inputSum': float(x.numpy().astype(np.float64).sum()),
                    'layer': layer_names[tap], 'layerShape': list(a.shape), 'tokens': tokens,
                    'target': target, 'y': float(y.detach()),
                    'logits': [float(v) for v in logits.detach()[0]],
                    'activation': b64(a), 'gradient': b64(g),
                    'raw': {m: b64(raw[m]) for m in METHODS},
                }
                if target == 'score' and index == 0 and j == 0:
                    case['inputGradient'] = b64(grads[-1].numpy())
                cases.append(case)
    return cases


# ---------------------------------------------------------------------------------------------------------- main

def main() -> None:
    all_models = list(FIXTURES) + list(BUNDLED)
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='*', default=all_models, choices=all_models)
    parser.add_argument('--no-write', action='store_true', help='build and check only; write reference.json/README '
                        'nowhere (models and images are still written)')
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    t0 = time.time()
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    image_paths = write_images()
    ref_path = OUT / 'reference.json'
    old = json.loads(ref_path.read_text()) if ref_path.exists() else {'models': {}, 'cases': []}
    models_info = {k: v for k, v in old['models'].items() if k not in args.models}
    cases = [c for c in old['cases'] if c['model'] not in args.models]

    for name in args.models:
        t = time.time()
        if name in FIXTURES:
            spec = FIXTURES[name]
            tapped = build_fixture(name)
            onnx_path, proto, facts = export_fixture(name, tapped)
            card_path = MODELS_DIR / f'{name}.card.json'
            card_path.write_text(json.dumps(card(name, spec['size'], spec['layer'], spec['tokens']), indent=2)
                                 + '\n')
            layers = [(spec['layer'], spec['layer'], spec['tokens'], spec['images']),
                      (spec['earlier'], None, spec['earlier_tokens'], spec['images'])]
            images, size = spec['images'], spec['size']
            info = {'kind': 'fixture', 'about': spec['about'], 'seed': spec['seed'], **facts}
        else:
            spec = BUNDLED[name]
            tapped, proto, facts = load_bundled(name)
            onnx_path, card_path = ASSETS / f'{name}.onnx', ASSETS / f'{name}.card.json'
            c = json.loads(card_path.read_text())
            size = c['input']['size'][0]
            tokens = c['saliency'].get('tokens')
            earlier_tokens = tokens
            layers = [(spec['layer'], c['saliency']['layer'], tokens, spec['images']),
                      (spec['earlier'], None, earlier_tokens, spec['images'][:BUNDLED_EARLIER_IMAGES])]
            images = spec['images']
            info = {'kind': 'bundled', **facts}
        info.update({'file': rel(onnx_path), 'card': rel(card_path), 'bytes': onnx_path.stat().st_size,
                     'opset': proto.opset_import[0].version, 'ir_version': proto.ir_version,
                     'nodes': len(proto.graph.node), 'ops': ot.op_histogram(proto),
                     'gradientPathOps': ot.gradient_path_ops(proto, 'image', 'logits'), 'inputSize': size})
        new = model_cases(name, tapped, proto, onnx_path, card_path, layers, images, image_paths, size, info)
        cases += new
        models_info[name] = info
        found = ', '.join(f'{k} -> {v["onnx"]} {v["shape"]}' for k, v in info['layers'].items())
        log(f'{name}: opset {info["opset"]}, {info["bytes"]:,} bytes, {info["nodes"]} nodes, {len(new)} cases, '
            f'layers {found}, '
            f'ORT vs torch {max(info["ort_vs_torch_logits"].values()):.1e} [{time.time() - t:.0f}s]')

    order = {n: i for i, n in enumerate(all_models)}
    models_info = {n: models_info[n] for n in sorted(models_info, key=order.get)}
    cases.sort(key=lambda c: order[c['model']])  # stable: per model, the order they were made in
    reference = {
        'generatedBy': 'scripts/explain/make_reference.py',
        'torch': torch.__version__, 'onnx': onnx.__version__,
        'preprocess': 'image already at the input size: RGB, float32 (p / 255 - 0.5) / 0.5, NCHW',
        'targets': {'score': 'sum_i values_i * softmax(logits)_i, values 1..5',
                    'class:K': 'logits[K] (raw)', 'prob:K': 'softmax(logits)[K]'},
        'encoding': 'activation, gradient, raw.*, inputGradient: base64 of little-endian float32; activation and '
                    'gradient in the layer\'s ONNX layout (layerShape), raw maps h*w row-major, inputGradient NCHW',
        'tokens': 'token layers [1,L,C]: drop `prefix` tokens, A[:, prefix:, :].reshape(1, h, w, C)'
                  '.permute(0, 3, 1, 2), same for the gradient, before the formulas',
        'formulas': {
            'gradcam': 'sum_k mean_ij(G_k) A_k', 'hirescam': 'sum_k G_k A_k',
            'xgradcam': 'sum_k [sum_ij(G_k A_k) / (sum_ij A_k + 1e-7)] A_k',
            'gradcam++': 'g2 = G^2, g3 = G^3, s_k = sum_ij A_k, a = g2 / (2 g2 + s_k g3 + 1e-7), a = 0 where G = 0, '
                         'w_k = sum_ij relu(G_k) a_k, raw = sum_k w_k A_k',
            'layercam': 'sum_k relu(G_k) A_k',
            'note': 'before ReLU and normalisation; computed in float64 from the float32 A and G',
        },
        'models': models_info,
        'cases': cases,
    }
    if args.no_write:
        log(f'checked {len(cases)} cases (nothing written) in {time.time() - t0:.0f}s')
        return
    ref_path.write_text(json.dumps(reference, indent=1) + '\n')
    write_readme(reference, image_paths)
    log(f'wrote {rel(ref_path)} ({ref_path.stat().st_size:,} bytes, {len(cases)} cases) in {time.time() - t0:.0f}s')


def write_readme(reference: dict, image_paths: dict[str, Path]) -> None:
    models = reference['models']
    all_ops = sorted({op for m in models.values() for op in m['ops']})
    lines = [
        '# Explain fixtures: torch-autograd ground truth for ONNX gradients',
        '',
        'Reference values for Miru\'s own gradient machinery (backward graphs run in ONNX Runtime; Grad-CAM, '
        'HiResCAM, XGrad-CAM, Grad-CAM++, LayerCAM). Everything here is written by '
        '`scripts/explain/make_reference.py`; do not edit by hand, rerun it:',
        '',
        '```sh',
        '/usr/bin/python3 scripts/explain/make_reference.py            # Debian python3-torch 1.13, -onnx 1.12, '
        '-numpy, -pil; node + node_modules',
        '/usr/bin/python3 scripts/explain/make_reference.py --models eva-mini   # one model (other cases kept)',
        '```',
        '',
        'It is deterministic (fixed seeds, one thread); the ONNX side is checked in onnxruntime-node '
        f'{next(iter(models.values())).get("onnxruntime", "")} (`scripts/explain/ort_run.mjs`), since onnx '
        f'{reference["onnx"]} has no reference evaluator. The TypeScript tests never run python.',
        '',
        '## Files',
        '',
        '| path | what |',
        '|---|---|',
        '| `models/<name>.onnx`, `models/<name>.card.json` | random-weight fixture models and their cards (the '
        'format of `assets/models/*.card.json`: ordinal 5-class `logits`, values 1..5, softmax; `saliency.layer`, '
        'and `saliency.tokens` {prefix, grid} for token layers) |',
        '| `images/*.png` | fixture images at exactly the models\' input sizes (64 or 128 px), so preprocessing does '
        'no resampling: `shapes-64` is drawn with PIL (sky, sun, hills, house, striped field); `synth-0-128`, '
        '`synth-1-128` are the first two held-out `miru synth` images of `assets/models/*.reference.json`; '
        '`synth-0-64` is `synth-0-128` reduced 2x2 |',
        '| `reference.json` | the cases (below) and, under `models`, facts per model: file, sha256 (bundled), '
        'opset, op histogram, layer names found, ONNX Runtime vs torch differences |',
        '',
        '## Models',
        '',
        '| model | ONNX | opset / IR | size | nodes | saliency layer | earlier layer | images |',
        '|---|---|---|---|---|---|---|---|',
    ]
    for name, m in models.items():
        layer_list = list(m['layers'].values())
        sal, early = layer_list[0], layer_list[1]
        imgs = sorted({Path(c['image']).stem for c in reference['cases'] if c['model'] == name})
        lines.append(f'| `{name}` | `{m["file"]}` | {m["opset"]} / {m["ir_version"]} | {m["bytes"]:,} B | '
                     f'{m["nodes"]} | `{sal["onnx"]}` {sal["shape"]} | `{early["onnx"]}` {early["shape"]} | '
                     f'{", ".join(imgs)} |')
    lines += ['']
    for name, m in models.items():
        if m['kind'] == 'fixture':
            lines.append(f'- **{name}**: {m["about"]} Seed {m["seed"]}. {m["checker"].rstrip(".")}.'
                         + (f' onnx.version_converter to 21: {m["version_converter"]}; upgraded by '
                            f'`{m["upgraded_by"]}` instead (Reduce* `axes` attribute -> int64 input, IR 10; every '
                            'other operator here keeps its opset-17 meaning at 21), loaded and checked by '
                            'onnxruntime-node, whose schema check rejects an `axes` attribute at opset >= 18.'
                            if 'version_converter' in m else ''))
        else:
            diffs = ', '.join(f'{k} {v:.1e}' for k, v in m['reference_max_abs_diff'].items())
            lines.append(f'- **{name}** (bundled, `{m["file"]}`, sha256 `{m["sha256"][:16]}...`): torch module '
                         'rebuilt from `scripts/models/architectures.py` + `train_bundled_models.MODELS` and loaded '
                         'from the ONNX initializers (by name; MatMul weights transposed back; see `load_bundled`); '
                         f'reproduces `{name}.reference.json` within {diffs}. '
                         + ''.join(n[0].upper() + n[1:] + '. ' for n in m['notes'])
                         + 'Reference values go stale if the model is retrained: compare the sha256 and rerun.')
    lines += [
        '',
        'Every fixture ONNX passes `onnx.checker.check_model(full_check=True)` (opset 21: see above) and matches '
        'torch in onnxruntime-node within 1e-4 (`models.*.ort_vs_torch_logits`). Each layer\'s ONNX tensor name '
        'was found by exposing every float intermediate tensor as an output, running the graph in onnxruntime '
        '(optimisations off) and comparing with the torch tensor; it is on every path from `image` to `logits` '
        '(a valid split point). Layers named `feature_map`/`tokens` were given those names at export (returned as '
        'an extra output, then dropped), as the bundled models are; the earlier layers keep the exporter\'s names.',
        '',
        '## reference.json cases',
        '',
        'One case per model x image x target x layer (bundled models: the earlier layer on the first image only, '
        'to keep the file near 4 MB). Fields: `model`, `file`, `card`, `image` (repo-relative), `inputSum` (sum of '
        'the float32 input tensor, to check preprocessing), `layer` (ONNX tensor name), `layerShape` (ONNX, batch '
        '1), `tokens` ({prefix, grid} or null), `target` (`score` = sum_i values_i softmax(logits)_i, `class:3` = '
        'logits[3], `prob:3` = softmax(logits)[3]), `y`, `logits` (torch), `activation` and `gradient` (base64 '
        'little-endian float32 of A and dy/dA in the ONNX layout), `raw` (the five maps, base64 float32 h*w '
        'row-major), `inputGradient` (dy/dinput, NCHW; target `score`, first image, saliency-layer case only).',
        '',
        'Raw maps, from A and G = dy/dA as C,h,w (token layers: drop the prefix tokens, then '
        '`A[:, prefix:, :].reshape(1, h, w, C).permute(0, 3, 1, 2)` as pytorch-grad-cam\'s reshape_transform), '
        'in float64 from the float32 A and G, before ReLU and normalisation: gradcam = sum_k mean_ij(G_k) A_k; '
        'hirescam = sum_k G_k A_k; xgradcam = sum_k [sum_ij(G_k A_k) / (sum_ij A_k + 1e-7)] A_k; gradcam++: '
        'a = G^2 / (2 G^2 + sum_ij(A_k) G^3 + 1e-7), a = 0 where G = 0, w_k = sum_ij relu(G_k) a_k, raw = '
        'sum_k w_k A_k; layercam = sum_k relu(G_k) A_k.',
        '',
        '## Operators per model',
        '',
        'Node counts in each graph as `all (on the gradient path)`. "On the gradient path": the node reads a tensor '
        'that depends on `image` through differentiable operators, and `logits` depends on its output '
        '(`onnx_tools.gradient_path_ops`; `models.*.gradientPathOps` in reference.json). The TypeScript backward '
        'rules must cover every operator of the second kind (for the inputs on the path); the rest is shape '
        'arithmetic (Shape -> Gather -> Unsqueeze -> Concat -> a Reshape\'s shape) or weight-only subgraphs (the '
        'SwinV2 position-bias MLP and its index Gather, the clamped logit scale), which carry no gradient to the '
        'input but must still be evaluated.',
        '',
        '| operator | ' + ' | '.join(f'`{n}`' for n in models) + ' |',
        '|---|' + '---|' * len(models),
    ]
    for op in all_ops:
        cells = [f'{m["ops"][op]} ({m["gradientPathOps"].get(op, 0)})' if op in m['ops'] else ''
                 for m in models.values()]
        lines.append(f'| {op} | ' + ' | '.join(cells) + ' |')
    lines.append('| **nodes** | ' + ' | '.join(f'**{m["nodes"]} ({sum(m["gradientPathOps"].values())})**'
                                                for m in models.values()) + ' |')
    lines.append('')
    (OUT / 'README.md').write_text('\n'.join(lines))


if __name__ == '__main__':
    main()
