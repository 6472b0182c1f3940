#!/usr/bin/python3
"""Train, export and document Miru's two bundled demo models (issue 3, "Bundled models").

    cd <repo> && npx tsc -p tsconfig.json          # bin/miru.js needs dist/
    /usr/bin/python3 scripts/models/train_bundled_models.py

Writes assets/models/{miru-convnext-s,miru-vit-s}.{onnx,card.json,reference.json} and assets/models/README.md,
and prints the held-out metrics. Uses Debian's python3-torch (1.13, CPU), python3-onnx, python3-numpy and
python3-pil; nothing else. Deterministic: fixed seeds, 2 threads, and a synthetic dataset that `miru synth`
makes byte-identical for the same options. (Float results can differ in the last bits between BLAS builds;
see README.md.)

Steps: (1) `node bin/miru.js synth` into .bench/models-train/ (cached; not committed), images resized exactly
as the cards say (PIL bilinear stretch to 128x128, RGB), 15% held out by image; (2) train a ConvNeXt-style CNN
and a ViT-style transformer to predict the ground truth as 5 ordinal classes (cross-entropy + squared-EMD) and
as a scalar (MSE on trueScore); (3) export ONNX (opset 17, dynamic batch) with outputs logits/score/embedding,
check it with onnx.checker, and compare onnxruntime-node's outputs with torch's (check_onnx.mjs, 1e-4);
(4) write the model cards and README.
"""
from __future__ import annotations

import argparse
import base64
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from architectures import ConvNeXt, ViT, parameter_count  # noqa: E402
from onnx_export import export_with_layer  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / 'assets' / 'models'
CACHE_DIR = REPO / '.bench' / 'models-train'

# Data: one synthetic dataset, split by image.
# Three sizes so the models see the range Miru's demo (--size 384) and benchmarks (512) feed them: after the stretch
# to 128 px, noise is stronger on the smaller originals (less averaging), while blur looks the same (synth scales
# its sigma with the long side). Ratings are not used (targets are the truth), so few raters keeps synth quick.
SYNTH_COMMON = {'raters': 3, 'classes': 5}
SYNTH_PARTS = [{'images': 6000, 'seed': 20240603, 'size': 256}, {'images': 6000, 'seed': 20240605, 'size': 384},
               {'images': 6000, 'seed': 20240604, 'size': 512}]
HOLDOUT_FRACTION = 0.15
SPLIT_SEED = 7
INPUT_SIZE = 128
CLASS_VALUES = [1, 2, 3, 4, 5]

# Preprocessing, as every card states it: PIL bilinear stretch to 128x128 of the RGB image, p/255, mean/std 0.5.
INPUT_CARD = {
    'name': 'image', 'layout': 'NCHW', 'size': [INPUT_SIZE, INPUT_SIZE], 'channels': 'RGB', 'resize': 'stretch',
    'pad': [255, 255, 255], 'interpolation': 'bilinear', 'scale': 255, 'mean': [0.5, 0.5, 0.5],
    'std': [0.5, 0.5, 0.5],
}

MODELS = {
    'miru-convnext-s': {
        'family': 'convnext',
        # Three stages so the last map is 8x8 at 128 px, the same grid as the ViT's tokens: a 4x4 map (a fourth
        # stage) would make saliency overlays too coarse to read.
        'arch': {'depths': [1, 1, 3], 'dims': [48, 96, 192], 'layer_scale': 0.1, 'stem_norm': False},
        'epochs': 7, 'lr': 3e-3, 'weight_decay': 0.05, 'batch': 32, 'warmup_epochs': 1,
    },
    'miru-vit-s': {
        'family': 'vit',
        # A convolutional stem instead of one 16x16 patch projection (architectures.conv_stem): with the plain
        # projection this ViT stalled at a held-out Spearman of 0.75 and did not learn noise at all (head R^2 0.01).
        'arch': {'patch': 16, 'dim': 128, 'depth': 4, 'heads': 4, 'mlp_ratio': 2.0, 'stem': [24, 48, 96, 128]},
        'epochs': 12, 'lr': 1e-3, 'weight_decay': 0.05, 'batch': 64, 'warmup_epochs': 1,
    },
}

LOSS_WEIGHTS = {'ce': 1.0, 'emd': 1.0, 'scalar': 1.0, 'attributes': 1.0}
# Auxiliary training targets: the synthetic attributes that carry weight in the truth (subjectX/subjectY are the
# truth's null controls and are left out). A training-only head predicts them from the embedding; it is not part of
# the exported model. The aesthetic is a weighted sum of these, so learning each one directly is much faster
# than discovering all of them from the single score target (credit assignment) on a 2-core CPU budget.
AUX_ATTRIBUTES = ['saturation', 'contrast', 'sharpness', 'noise', 'harmony', 'subjectSize', 'symmetry', 'resolution']
TORCH_SEED = 1234
TOLERANCE = 1e-4
MAX_BYTES = 10 * 1024 * 1024
# Training throughput (forward + backward + AdamW step, 2 threads, OpenBLAS) measured at an idle moment of the
# machine that trained the committed models; only used to put the README's wall times in context.
IDLE_IMAGES_PER_SECOND = {'miru-convnext-s': 118, 'miru-vit-s': 152}
RESULTS_FILE = CACHE_DIR / 'results.json'  # the last run's numbers, from which README.md is written


def log(*args: object) -> None:
    print(*args, flush=True)


# ---------------------------------------------------------------------------------------------------------- data

def synth_dir(part: dict) -> Path:
    return CACHE_DIR / f"synth-seed{part['seed']}-n{part['images']}-px{part['size']}-c{part['classes']}"


def ensure_synth(part: dict) -> tuple[Path, dict]:
    out = synth_dir(part)
    truth_file = out / 'truth.json'
    want = {k: part[k] for k in ('images', 'raters', 'seed', 'size', 'classes')}
    if truth_file.exists():
        truth = json.loads(truth_file.read_text())
        if {k: truth['options'].get(k) for k in want} == want:
            log(f'synth: reusing {out.relative_to(REPO)}')
            return out, truth
    cmd = ['node', str(REPO / 'bin' / 'miru.js'), 'synth', str(out)]
    for k, v in want.items():
        cmd += [f'--{k}', str(v)]
    log('synth: miru', ' '.join(cmd[2:] + ['--json']))
    t0 = time.time()
    result = subprocess.run(cmd + ['--json'], cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f'miru synth failed (exit {result.returncode}); build the CLI first with '
                 f'`npx tsc -p tsconfig.json`.\n{result.stderr}')
    log(f'synth: {part["images"]} images in {time.time() - t0:.0f}s')
    return out, json.loads(truth_file.read_text())


def load_rgb(path: Path) -> Image.Image:
    """Decoded as Miru's runtime does: EXIF orientation applied, alpha composited onto the card's pad colour."""
    from PIL import ImageOps
    image = ImageOps.exif_transpose(Image.open(path))
    if image.mode in ('RGBA', 'LA', 'PA') or (image.mode == 'P' and 'transparency' in image.info):
        rgba = image.convert('RGBA')
        background = Image.new('RGBA', rgba.size, tuple(INPUT_CARD['pad']) + (255,))
        image = Image.alpha_composite(background, rgba)
    return image.convert('RGB')


def preprocess_u8(path: Path) -> np.ndarray:
    """H,W,3 uint8 after the card's resize (bilinear stretch); normalisation happens in to_input()."""
    image = load_rgb(path).resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def to_input(u8: np.ndarray) -> torch.Tensor:
    """N,H,W,3 uint8 -> N,3,H,W float32 as (p/scale - mean)/std, in float32 like onnxruntime's callers."""
    x = u8.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(0.5)) / np.float32(0.5)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def load_part(part: dict) -> dict:
    folder, truth = ensure_synth(part)
    cache = CACHE_DIR / f'{folder.name}-input{INPUT_SIZE}-stretch-bilinear.npz'
    records = truth['images']
    if cache.exists():
        pixels = np.load(cache)['pixels']
        log(f'data: reusing {cache.relative_to(REPO)}')
    else:
        t0 = time.time()
        pixels = np.stack([preprocess_u8(folder / 'images' / r['file']) for r in records])
        np.savez(cache, pixels=pixels)
        log(f'data: decoded and resized {len(records)} images in {time.time() - t0:.0f}s')
    names = list(truth['attributes'])
    return {
        'pixels': pixels,
        'score': np.array([r['trueScore'] for r in records], dtype=np.float32),
        'cls': np.array([r['trueClass'] - 1 for r in records], dtype=np.int64),
        'files': np.array([f'{folder.name}/images/{r["file"]}' for r in records]),
        'synth_size': np.full(len(records), part['size']),
        'attributes': np.array([[r['attributes'][a] for a in names] for r in records], dtype=np.float32),
        'attribute_names': names,
        'weights': np.array([truth['weights']['population'][a] for a in names]),
    }


def load_dataset() -> dict:
    """All SYNTH_PARTS concatenated (classes are by rank within each part; the parts are draws from the same
    distribution, so the class boundaries agree), then one split by image with a fixed seed."""
    parts = [load_part({**SYNTH_COMMON, **p}) for p in SYNTH_PARTS]
    data = {k: np.concatenate([p[k] for p in parts]) for k in
            ('pixels', 'score', 'cls', 'files', 'synth_size', 'attributes')}
    data['attribute_names'] = parts[0]['attribute_names']
    data['weights'] = parts[0]['weights']
    n = len(data['score'])
    order = np.random.RandomState(SPLIT_SEED).permutation(n)
    n_hold = int(round(HOLDOUT_FRACTION * n))
    data['holdout_idx'] = np.sort(order[:n_hold])
    data['train_idx'] = np.sort(order[n_hold:])
    return data


# ------------------------------------------------------------------------------------------------------- metrics

def ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), as scipy.stats.rankdata."""
    order = np.argsort(x, kind='mergesort')
    r = np.empty(len(x), dtype=np.float64)
    r[order] = np.arange(len(x), dtype=np.float64)
    sorted_x = x[order]
    start = 0
    for i in range(1, len(x) + 1):
        if i == len(x) or sorted_x[i] != sorted_x[start]:
            r[order[start:i]] = (start + i - 1) / 2.0
            start = i
    return r


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    return float((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return pearson(ranks(a), ranks(b))


def metrics(logits: np.ndarray, scalar: np.ndarray, true_score: np.ndarray, true_cls: np.ndarray) -> dict:
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    expected = p @ np.array(CLASS_VALUES, dtype=np.float64)
    true_class_value = true_cls + 1
    return {
        'ordinal': {  # expected score sum(values_i * softmax_i), on the 1..5 scale
            'spearman': spearman(expected, true_score), 'pearson': pearson(expected, true_score),
            'accuracy': float((p.argmax(axis=1) == true_cls).mean()),
            'mae_classes': float(np.abs(expected - true_class_value).mean()),
        },
        'scalar': {  # the "score" output, in trueScore units (0..1)
            'spearman': spearman(scalar, true_score), 'pearson': pearson(scalar, true_score),
            'mae': float(np.abs(scalar - true_score).mean()),
        },
    }


def attribute_fit(prediction: np.ndarray, attributes: np.ndarray, names: list, weights: np.ndarray) -> dict:
    """Least-squares fit of a prediction on the attributes, scaled so the fitted weights' absolute values sum to 1
    like the truth's: which parts of the truth a model picked up (a diagnostic printed with the metrics)."""
    design = np.concatenate([attributes.astype(np.float64), np.ones((len(attributes), 1))], axis=1)
    coef = np.linalg.lstsq(design, prediction.astype(np.float64), rcond=None)[0][:-1]
    coef = coef / np.abs(coef).sum()
    return {n: {'fitted': round(float(c), 3), 'truth': round(float(w), 3)} for n, c, w in zip(names, coef, weights)}


# ------------------------------------------------------------------------------------------------------ training

def build(spec: dict) -> torch.nn.Module:
    a = spec['arch']
    aux = len(AUX_ATTRIBUTES) if LOSS_WEIGHTS['attributes'] > 0 else 0
    if spec['family'] == 'convnext':
        return ConvNeXt(a['depths'], a['dims'], len(CLASS_VALUES), scalar_head=True, layer_scale=a['layer_scale'],
                        aux_outputs=aux, stem_norm=a['stem_norm'])
    return ViT(INPUT_SIZE, a['patch'], a['dim'], a['depth'], a['heads'], a['mlp_ratio'], len(CLASS_VALUES),
               scalar_head=True, aux_outputs=aux, stem_widths=a.get('stem'))


def emd2(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared earth mover's distance between predicted and one-hot class distributions (ordinal-aware)."""
    cdf = torch.cumsum(torch.softmax(logits, dim=1), dim=1)
    true_cdf = torch.cumsum(F.one_hot(target, logits.shape[1]).to(logits.dtype), dim=1)
    return ((cdf - true_cdf) ** 2).sum(dim=1).mean()


@torch.no_grad()
def aux_r2(model: torch.nn.Module, pixels: np.ndarray, targets: np.ndarray, batch: int = 256) -> dict:
    """Held-out R^2 of the training-only attribute head, per attribute (a diagnostic)."""
    model.eval()
    pred = torch.cat([model.aux_head(model(to_input(pixels[i:i + batch]))[2])
                      for i in range(0, len(pixels), batch)]).numpy()
    r2 = 1 - ((pred - targets) ** 2).mean(axis=0) / targets.var(axis=0)
    return {a: round(float(v), 3) for a, v in zip(AUX_ATTRIBUTES, r2)}


@torch.no_grad()
def predict(model: torch.nn.Module, pixels: np.ndarray, batch: int = 256) -> tuple[np.ndarray, ...]:
    model.eval()
    outs = [model(to_input(pixels[i:i + batch])) for i in range(0, len(pixels), batch)]
    return tuple(torch.cat([o[k] for o in outs]).numpy() for k in range(3))


def train(name: str, spec: dict, data: dict) -> tuple[torch.nn.Module, dict]:
    torch.manual_seed(TORCH_SEED)
    model = build(spec)
    train_idx, hold_idx = data['train_idx'], data['holdout_idx']
    pixels, true_score, true_cls = data['pixels'], data['score'], data['cls']
    aux_cols = [data['attribute_names'].index(a) for a in AUX_ATTRIBUTES]
    aux_targets = data['attributes'][:, aux_cols]
    score_mean = float(true_score[train_idx].mean())
    score_std = float(true_score[train_idx].std())
    with torch.no_grad():  # start the scalar head at the mean so early steps learn ranking, not the offset
        model.score_head.bias.fill_(score_mean)
    # Channels-last makes the ConvNeXt's permutes free and mkldnn's depthwise conv faster on CPU (~25%); it does not
    # change the math, and the model goes back to the default layout before export.
    memory_format = torch.channels_last if spec['family'] == 'convnext' else torch.contiguous_format
    model = model.to(memory_format=memory_format)

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and 'pos_embed' not in n and 'cls_token' not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and 'pos_embed' not in n
                                                                and 'cls_token' not in n)]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': spec['weight_decay']},
                             {'params': no_decay, 'weight_decay': 0.0}], lr=spec['lr'])
    batch = spec['batch']
    steps_per_epoch = len(train_idx) // batch  # drop the ragged last batch: every step sees a full batch
    total = steps_per_epoch * spec['epochs']
    warmup = steps_per_epoch * spec['warmup_epochs']

    def lr_at(step: int) -> float:
        if step < warmup:
            return spec['lr'] * (step + 1) / warmup
        return spec['lr'] * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    gen = torch.Generator().manual_seed(TORCH_SEED + 1)
    log(f'{name}: {parameter_count(model):,} parameters, {spec["epochs"]} epochs x {steps_per_epoch} steps '
        f'of {batch}')
    t0 = time.time()
    cpu0 = time.process_time()
    step = 0
    history = []
    for epoch in range(spec['epochs']):
        model.train()
        perm = torch.from_numpy(train_idx)[torch.randperm(len(train_idx), generator=gen)]
        running = {'loss': 0.0, 'ce': 0.0, 'emd': 0.0, 'scalar': 0.0, 'attributes': 0.0}
        for s in range(steps_per_epoch):
            idx = perm[s * batch:(s + 1) * batch].numpy()
            x = to_input(pixels[idx]).contiguous(memory_format=memory_format)
            # Horizontal flips only: subjectX has weight 0, so a mirror image has the same truth. Colour, blur
            # and noise are the signal and are left alone; vertical flips would put the ground in the sky.
            flip = torch.rand(len(idx), generator=gen) < 0.5
            x[flip] = x[flip].flip(-1)
            y_cls = torch.from_numpy(true_cls[idx])
            y_score = torch.from_numpy(true_score[idx])
            for g in opt.param_groups:
                g['lr'] = lr_at(step)
            logits, score, embedding = model(x)
            ce = F.cross_entropy(logits, y_cls)
            emd = emd2(logits, y_cls)
            scalar = F.mse_loss(score[:, 0], y_score) / (score_std ** 2)
            loss = LOSS_WEIGHTS['ce'] * ce + LOSS_WEIGHTS['emd'] * emd + LOSS_WEIGHTS['scalar'] * scalar
            if model.aux_head is not None:
                # Attributes are uniform on [0, 1] (variance 1/12): MSE * 12 is 1 for a constant guess.
                attributes = F.mse_loss(model.aux_head(embedding), torch.from_numpy(aux_targets[idx])) * 12.0
                loss = loss + LOSS_WEIGHTS['attributes'] * attributes
            else:
                attributes = torch.zeros(())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            for k, v in (('loss', loss), ('ce', ce), ('emd', emd), ('scalar', scalar), ('attributes', attributes)):
                running[k] += float(v) / steps_per_epoch
        logits_h, score_h, _ = predict(model, pixels[hold_idx])
        m = metrics(logits_h, score_h[:, 0], true_score[hold_idx], true_cls[hold_idx])
        history.append({'epoch': epoch + 1, 'load_average': round(os.getloadavg()[0], 2),
                        **{k: round(v, 4) for k, v in running.items()},
                        'holdout_spearman_ordinal': round(m['ordinal']['spearman'], 4),
                        'holdout_spearman_scalar': round(m['scalar']['spearman'], 4)})
        log(f'{name}: epoch {epoch + 1:2d}/{spec["epochs"]} loss {running["loss"]:.3f} (ce {running["ce"]:.3f} '
            f'emd {running["emd"]:.3f} mse/var {running["scalar"]:.3f} attr {running["attributes"]:.3f})  held-out spearman ordinal '
            f'{m["ordinal"]["spearman"]:.3f} scalar {m["scalar"]["spearman"]:.3f}  [{time.time() - t0:.0f}s]')
    train_seconds = time.time() - t0
    cpu_seconds = time.process_time() - cpu0
    model = model.to(memory_format=torch.contiguous_format).eval()
    r2 = aux_r2(model, pixels[hold_idx], aux_targets[hold_idx]) if model.aux_head is not None else {}
    if r2:
        log(f'{name}: held-out R^2 of the training-only attribute head: ' +
            ', '.join(f'{k} {v:.2f}' for k, v in r2.items()))
    load = float(np.mean([h['load_average'] for h in history]))
    return model, {'train_seconds': train_seconds, 'cpu_seconds': cpu_seconds, 'history': history, 'steps': total,
                   'mean_load_average': round(load, 2),
                   'aux_r2': r2}


# -------------------------------------------------------------------------------------------------------- export

class Exportable(torch.nn.Module):
    """Forward for export: the saliency tensor is also returned so its ONNX name can be found and renamed, then
    it is dropped from the graph outputs again."""

    def __init__(self, model: torch.nn.Module, family: str) -> None:
        super().__init__()
        self.model = model
        self.family = family

    def forward(self, image: torch.Tensor):
        m = self.model
        if self.family == 'convnext':
            feature_map = m.features(image)
            embedding = m.norm(feature_map.mean(dim=(2, 3)))
            return m.head(embedding), m.score_head(embedding), embedding, feature_map
        tokens = m.tokens(image)
        embedding = m.norm(m.blocks[-1](tokens))[:, 0]
        return m.head(embedding), m.score_head(embedding), embedding, tokens


def export(name: str, spec: dict, model: torch.nn.Module, path: Path) -> dict:
    saliency_name = 'feature_map' if spec['family'] == 'convnext' else 'tokens'
    t0 = time.time()
    info = export_with_layer(
        Exportable(model, spec['family']).eval(), torch.zeros(2, 3, INPUT_SIZE, INPUT_SIZE), path, 'image',
        ['logits', 'score', 'embedding'], saliency_name, 'logits',
        f'{name}: Miru bundled demo model trained on `miru synth` data (scripts/models/train_bundled_models.py). '
        f'Outputs: logits [batch,5] ordinal classes 1..5, score [batch,1] scalar trueScore estimate, '
        f'embedding [batch,D].')
    if info['bytes'] > MAX_BYTES:
        sys.exit(f'{name}: {path} is {info["bytes"]} bytes, over the 10 MB limit')
    info['embedding_shape'] = info['output_shapes']['embedding']
    log(f'{name}: exported {path} ({info["bytes"] / 1e6:.2f} MB, {info["nodes"]} nodes) in '
        f'{time.time() - t0:.1f}s; saliency layer {saliency_name} {info["saliency_shape"]}')
    return info


def write_reference(name: str, model: torch.nn.Module, data: dict, path: Path) -> None:
    """Three held-out images (uint8 after resize, so the file stays small) and torch's outputs for them."""
    idx = data['holdout_idx'][:3]
    u8 = data['pixels'][idx]
    with torch.no_grad():
        logits, score, embedding = model(to_input(u8))
    ref = {
        'model': f'{name}.onnx', 'tolerance': TOLERANCE,
        'input': {'name': 'image', 'shape': [len(idx), 3, INPUT_SIZE, INPUT_SIZE],
                  'pixelsNHWCUint8Base64': base64.b64encode(u8.tobytes()).decode('ascii'),
                  'transform': '(p / 255 - 0.5) / 0.5 in float32, NHWC -> NCHW',
                  'files': [str(f) for f in data['files'][idx]]},
        'outputs': {'logits': logits.tolist(), 'score': score.tolist(), 'embedding': embedding.tolist()},
    }
    path.write_text(json.dumps(ref, separators=(',', ':')) + '\n')


def node_check(model_path: Path, ref_path: Path) -> str:
    script = Path(__file__).resolve().parent / 'check_onnx.mjs'
    result = subprocess.run(['node', str(script), str(model_path), str(ref_path)], cwd=REPO, capture_output=True,
                            text=True)
    if result.returncode != 0:
        sys.exit(f'onnxruntime-node check failed for {model_path.name}:\n{result.stdout}{result.stderr}')
    return result.stdout.strip()


def card(name: str, spec: dict, exported: dict) -> dict:
    out = {
        'name': name,
        'input': INPUT_CARD,
        'outputs': {
            'score': {'name': 'logits', 'kind': 'ordinal', 'labels': [str(v) for v in CLASS_VALUES],
                      'values': CLASS_VALUES, 'activation': 'softmax'},
            'embedding': {'name': 'embedding'},
        },
        'saliency': {'layer': exported['saliency_layer']},
    }
    if spec['family'] == 'vit':
        grid = INPUT_SIZE // spec['arch']['patch']
        out['saliency']['tokens'] = {'prefix': 1, 'grid': [grid, grid]}
    return out


# -------------------------------------------------------------------------------------------------------- README

def shape(dims: list) -> str:
    return '[' + ','.join(str(d) for d in dims) + ']'


def write_readme(run: dict) -> None:
    """assets/models/README.md from the saved results of the last run of each model (RESULTS_FILE)."""
    results, data = run['models'], run['data']
    parts = ', '.join(f'`miru synth --images {p["images"]} --raters {p["raters"]} --seed {p["seed"]} '
                      f'--size {p["size"]} --classes {p["classes"]}`' for p in data['parts'])
    lines = [
        '# Bundled models',
        '',
        'Two small demo models that stand for the seed research\'s two architecture families (issue 3), trained on',
        '`miru synth` data to predict its ground-truth aesthetic. They are the demo\'s default models and test',
        'fixtures. Everything in this folder is written by `scripts/models/train_bundled_models.py`; do not edit by',
        'hand, rerun it:',
        '',
        '```sh',
        'npx tsc -p tsconfig.json                                  # the script runs bin/miru.js synth',
        '/usr/bin/python3 scripts/models/train_bundled_models.py   # Debian python3-torch 1.13, -onnx, -numpy, -pil',
        '```',
        '',
        '| file | what |',
        '|---|---|',
        '| `<name>.onnx` | the model: opset 17, input `image` [batch,3,128,128] float32, outputs `logits` [batch,5], '
        '`score` [batch,1], `embedding` [batch,D]; dynamic batch axis `batch` |',
        '| `<name>.card.json` | the Miru model card: preprocessing, score output, embedding, saliency layer |',
        '| `<name>.reference.json` | 3 held-out images (uint8 after the resize, base64) and torch\'s outputs for '
        'them; `node scripts/models/check_onnx.mjs assets/models/<name>.onnx assets/models/<name>.reference.json` '
        'checks onnxruntime-node against them (max abs difference <= 1e-4) |',
        '',
        '## Models',
        '',
        '| model | architecture | parameters | ONNX file | embedding | saliency layer |',
        '|---|---|---|---|---|---|',
    ]
    for name, r in results.items():
        e = r['export']
        lines.append(f'| `{name}` | {r["summary"]} | {r["params"]:,} | {e["bytes"] / 1e6:.2f} MB ({e["bytes"]:,} '
                     f'bytes), {e["nodes"]} nodes | {shape(e["embedding_shape"])} | `{e["saliency_layer"]}` '
                     f'{shape(e["saliency_shape"])} |')
    lines += [
        '',
        'Both predict the aesthetic two ways: `logits`, 5 ordinal classes (the `trueClass` 1..5 of `miru synth`; '
        'the cards score an image by the expected value sum(values_i * softmax_i), values 1..5), and `score`, a '
        'scalar regression of `trueScore` (0..1 units). `embedding` is the pooled feature both heads read (after '
        'the final LayerNorm).',
        '',
        '- **miru-convnext-s**, ConvNeXt-style CNN: stem conv 4x4 stride 4; stages of blocks (depthwise 7x7 conv '
        '-> LayerNorm (channels-last via permute) -> Linear 4x -> GELU -> Linear -> layer scale -> residual); '
        'LayerNorm + conv 2x2 stride 2 between stages; global average pool -> LayerNorm -> heads. Two departures '
        'from ConvNeXt, both for this task: three stages instead of four, so the last map is 8x8 at 128 px (a '
        'fourth stage would leave 4x4, too coarse for a saliency overlay; the ViT has the same 8x8 grid), and no '
        'LayerNorm right after the stem (normalising each 4x4 patch\'s response vector throws away its amplitude, '
        'which is where contrast, noise and blur show). Saliency layer `feature_map` [batch,C,8,8]: the output of '
        'the last stage (the last block\'s residual Add), which the global pool reads.',
        '- **miru-vit-s**, ViT-style transformer: patch-embedding conv 16x16 stride 16 (8x8 = 64 patches), CLS '
        'token, learned positional embeddings; pre-norm blocks (LayerNorm -> multi-head self-attention written '
        'with MatMul/Softmax -> residual; LayerNorm -> MLP with GELU -> residual); final LayerNorm; heads on the '
        'CLS token. Saliency layer `tokens` [batch,65,C] (1 CLS token, then the 8x8 grid in row-major order) is '
        'the token sequence *entering the last block*, not the one leaving it: the final LayerNorm is per token '
        'and only the CLS token is read, so the last block\'s patch-token outputs cannot affect the logits (their '
        'gradients are exactly zero and Grad-CAM there is blank). Inside the last block the CLS token attends to '
        'these tokens, so gradient and ablation methods get a real signal; pytorch-grad-cam makes the same choice '
        'for ViTs (`blocks[-1].norm1`).',
        '',
        'Both saliency tensors are named explicitly in the graph, and the script checks that each lies on every '
        'path from `image` to `logits` (a valid split point). Operators: ' + '; '.join(
            f'`{n}`: ' + ', '.join(f'{k} {v}' for k, v in r['export']['ops'].items()) for n, r in results.items())
        + '.',
        '',
        '## Preprocessing (what the cards say)',
        '',
        'RGB; bilinear stretch to 128x128 (aspect ratio not kept; PIL `Image.resize(..., BILINEAR)` in training, '
        'sharp in Miru, whose resampler differs slightly); NCHW; (p / 255 - 0.5) / 0.5. Alpha, if any, is '
        'composited onto white (the card\'s pad colour) first.',
        '',
        '## Training',
        '',
        f'Data: {parts}, cached in `.bench/models-train/` (not committed): {data["images"]} images, long sides '
        f'0.5-1x of the base size and varied aspect, PNG and JPEG. Several base sizes so the models see the range '
        f'Miru\'s demo (384) and benchmarks (512) feed them. Targets are the ground truth in truth.json, not the '
        f'simulated ratings: `trueClass` (1..5, by rank: 10/20/40/20/10%) and `trueScore`. Split by image with a '
        f'fixed seed: {data["train"]} training images, {data["holdout"]} held out ({HOLDOUT_FRACTION:.0%}). '
        'Augmentation: horizontal flips only (`subjectX` has weight 0 in the truth, so a mirror image has the same '
        'score); saturation, contrast, blur and noise are the signal and are left alone.',
        '',
        'Loss: cross-entropy on the 5 classes + squared earth mover\'s distance between predicted and true class '
        'CDFs (ordinal-aware) + MSE of `score` vs `trueScore` over its variance + an auxiliary MSE on the 8 '
        'weighted synthetic attributes (saturation, contrast, sharpness, noise, harmony, subjectSize, symmetry, '
        'resolution) from a training-only linear head on the embedding, which is not exported. The aesthetic is a '
        'weighted sum of these attributes, and naming them directly speeds up learning on a small CPU budget. '
        'AdamW, linear warm-up (1 epoch) then cosine decay; seeds fixed; `torch.set_num_threads(2)`.',
        '',
        '| model | epochs | batch | steps | lr | weight decay | training time | mean load average while training |',
        '|---|---|---|---|---|---|---|---|',
    ]
    for name, r in results.items():
        spec = r['spec']
        lines.append(f'| `{name}` | {spec["epochs"]} | {spec["batch"]} | {r["train"]["steps"]} | {spec["lr"]} | '
                     f'{spec["weight_decay"]} | {r["train"]["train_seconds"] / 60:.1f} min | '
                     f'{r["train"]["mean_load_average"]:.1f} |')
    env = dict(run['env'])
    env['blas'] = re.sub(r'/[^ ,()]*/', '', env['blas'])  # library names, not where they were loaded from
    lines += [
        '',
        f'Ran on {env["cpu"]}, 2 cores, torch {env["torch"]}, BLAS: {env["blas"]}. The machine was shared with '
        'other work (a load average above 2 means the 2 cores were oversubscribed), so these wall times are longer '
        'than on an idle machine, where training steps measured ' + ', '.join(
            f'{IDLE_IMAGES_PER_SECOND[n]} images/s for `{n}` (about '
            f'{r["spec"]["epochs"] * data["train"] / IDLE_IMAGES_PER_SECOND[n] / 60:.0f} min for this run)'
            for n, r in results.items()) + '. Debian\'s torch does its Linear/MatMul through the system '
        '`libblas.so.3`: with the '
        'reference BLAS (package libblas3) training is about 2-3x slower than with OpenBLAS (libopenblas0-pthread). '
        'Results are deterministic for a given machine and BLAS; another BLAS changes floats in the last bits.',
        '',
        f'## Held-out results ({data["holdout"]} images)',
        '',
        'Ordinal: the expected score sum(values_i * softmax_i) on the 1..5 scale, what Miru stores with these cards; '
        'accuracy is argmax vs `trueClass`; MAE in class units vs `trueClass`. Scalar: the `score` output; MAE in '
        '`trueScore` units. Correlations are against `trueScore`.',
        '',
        '| model | ordinal Spearman | ordinal Pearson | accuracy | ordinal MAE (classes) | scalar Spearman | '
        'scalar Pearson | scalar MAE |',
        '|---|---|---|---|---|---|---|---|',
    ]
    for name, r in results.items():
        o, c = r['metrics']['ordinal'], r['metrics']['scalar']
        lines.append(f'| `{name}` | {o["spearman"]:.3f} | {o["pearson"]:.3f} | {o["accuracy"]:.3f} | '
                     f'{o["mae_classes"]:.3f} | {c["spearman"]:.3f} | {c["pearson"]:.3f} | {c["mae"]:.4f} |')
    lines += [
        '',
        'By base size of the held-out originals (ordinal Spearman / scalar Spearman): ' + '; '.join(
            f'`{n}` ' + ', '.join(f'{size} px {v["ordinal"]:.3f} / {v["scalar"]:.3f}'
                                  for size, v in r['by_size'].items()) for n, r in results.items()) + '.',
        '',
        'What the models picked up: the scalar output regressed on the attributes (held out; scaled so the '
        'absolute weights sum to 1, like the truth\'s population weights), and the held-out R^2 of the '
        'training-only attribute head.',
        '',
        '| attribute | truth weight | ' + ' | '.join(f'`{n}` fitted weight | `{n}` head R^2' for n in results) + ' |',
        '|---|---|' + '---|---|' * len(results),
    ]
    for attr in data['attribute_names']:
        first = next(iter(results.values()))
        row = [attr, f'{first["attribute_fit"][attr]["truth"]:+.3f}']
        for r in results.values():
            row.append(f'{r["attribute_fit"][attr]["fitted"]:+.3f}')
            row.append(f'{r["aux_r2"][attr]:.2f}' if attr in r['aux_r2'] else '-')
        lines.append('| ' + ' | '.join(row) + ' |')
    lines += [
        '',
        'Held-out ordinal Spearman after each epoch: ' + '; '.join(
            f'`{n}` ' + ', '.join(f'{h["holdout_spearman_ordinal"]:.3f}' for h in r['train']['history'])
            for n, r in results.items()) + '.',
        '',
        'Both models learn the global, high-amplitude attributes (saturation, contrast) well and sharpness and '
        'subject size largely; noise to a degree that depends on the stem (head R^2 ' + ', '.join(
            f'{r["aux_r2"].get("noise", float("nan")):.2f} `{n}`' for n, r in results.items()) + '), and harmony, '
        'symmetry and resolution hardly at all. '
        '`resolution` (weight 0.087) is all but invisible after a stretch to 128 px. Noise is plain to a robust '
        'statistic (the median absolute Laplacian of the resized image correlates about 0.9 with it), but a '
        'single linear projection of each 16x16 patch averages it away: the ViT with that projection reached a '
        'noise R^2 of 0.01 and a held-out Spearman of 0.75, and its convolutional stem (3x3 convs that see '
        'pixel-level texture before any pooling) is what lifted both. Palette harmony and mirror symmetry need '
        'relations between distant regions, which these small models do not pick up within a CPU budget of '
        'minutes; those attributes, rather than overfitting, are what the remaining error is made of (both '
        'held-out curves flatten in the last epochs while the training loss still falls).',
        '',
        '## ONNX checks',
        '',
        '`onnx.checker.check_model(full_check=True)`, the split-point check, the 10 MB limit, and onnxruntime-node '
        '(`scripts/models/check_onnx.mjs`) against torch on the reference images:',
        '',
    ]
    for name, r in results.items():
        lines.append(f'- `{name}`: {r["node_check"]}')
    lines.append('')
    (OUT_DIR / 'README.md').write_text('\n'.join(lines))


def blas_name() -> str:
    """The BLAS library this process actually loaded (torch's Linear/MatMul run on it)."""
    try:
        libs = {line.split()[-1] for line in Path('/proc/self/maps').read_text().splitlines()
                if 'blas' in line.split()[-1].lower()}
    except (OSError, IndexError):
        return 'unknown'
    names = ', '.join(sorted(Path(lib).name for lib in libs))
    if any('openblas' in lib for lib in libs):
        return f'OpenBLAS ({names})'
    return f'reference BLAS ({names})' if libs else 'unknown'


def cpu_name() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


# ---------------------------------------------------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='*', default=list(MODELS), choices=list(MODELS))
    parser.add_argument('--epochs', type=int, help='override every model\'s epochs (experiments; implies --no-write)')
    parser.add_argument('--no-write', action='store_true', help='train and report only; write no assets')
    parser.add_argument('--readme-only', action='store_true', help='rewrite README.md from the saved results')
    args = parser.parse_args()
    write = not (args.no_write or args.epochs)
    if args.readme_only:
        write_readme(json.loads(RESULTS_FILE.read_text()))
        return

    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True, warn_only=True)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    t_all = time.time()
    data = load_dataset()
    env = {'torch': torch.__version__, 'blas': blas_name(), 'cpu': cpu_name()}
    log(f'data: {len(data["train_idx"])} train, {len(data["holdout_idx"])} held out; torch {env["torch"]}, '
        f'BLAS {env["blas"]}')

    results = {}
    hold = data['holdout_idx']
    for name in args.models:
        spec = dict(MODELS[name])
        if args.epochs:
            spec['epochs'] = args.epochs
        model, train_info = train(name, spec, data)
        logits, score, _ = predict(model, data['pixels'][hold])
        m = metrics(logits, score[:, 0], data['score'][hold], data['cls'][hold])
        by_size = {}
        for size in sorted(set(data['synth_size'][hold].tolist())):
            sel = data['synth_size'][hold] == size
            ms = metrics(logits[sel], score[sel, 0], data['score'][hold][sel], data['cls'][hold][sel])
            by_size[str(size)] = {'ordinal': ms['ordinal']['spearman'], 'scalar': ms['scalar']['spearman']}
        fit = attribute_fit(score[:, 0], data['attributes'][hold], data['attribute_names'], data['weights'])
        log(f'{name}: scalar output fitted on the attributes (truth in brackets): ' +
            ', '.join(f'{n} {v["fitted"]:+.3f} ({v["truth"]:+.3f})' for n, v in fit.items()))
        a = spec['arch']
        summary = (f'ConvNeXt, depths {a["depths"]}, dims {a["dims"]}, 128 px' if spec['family'] == 'convnext' else
                   f'ViT, patch {a["patch"]}' + (f' (conv stem {a["stem"]})' if a.get('stem') else '') +
                   f', dim {a["dim"]}, depth {a["depth"]}, heads {a["heads"]}, MLP {a["mlp_ratio"]:g}x, 128 px')
        results[name] = {'metrics': m, 'by_size': by_size, 'train': train_info, 'params': parameter_count(model),
                         'summary': summary, 'attribute_fit': fit, 'aux_r2': train_info.pop('aux_r2', {}),
                         'spec': spec}
        if not write:
            continue
        onnx_path = OUT_DIR / f'{name}.onnx'
        ref_path = OUT_DIR / f'{name}.reference.json'
        results[name]['export'] = export(name, spec, model, onnx_path)
        write_reference(name, model, data, ref_path)
        results[name]['node_check'] = node_check(onnx_path, ref_path)
        log(f'{name}: {results[name]["node_check"]}')
        (OUT_DIR / f'{name}.card.json').write_text(json.dumps(card(name, spec, results[name]['export']),
                                                              indent=2) + '\n')

    if write:
        # Saved per model so one model can be retrained alone; the README covers both once both have results.
        run = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else {'models': {}}
        run['models'].update(results)
        run['models'] = {n: run['models'][n] for n in MODELS if n in run['models']}
        run['env'] = env
        run['data'] = {'parts': [{**SYNTH_COMMON, **p} for p in SYNTH_PARTS], 'images': len(data['score']),
                       'train': len(data['train_idx']), 'holdout': len(hold),
                       'attribute_names': data['attribute_names']}
        RESULTS_FILE.write_text(json.dumps(run, indent=1))
        if set(run['models']) == set(MODELS):
            write_readme(run)
    log('')
    log(f'held-out metrics ({len(hold)} images; correlations vs trueScore):')
    for name, r in results.items():
        o, c = r['metrics']['ordinal'], r['metrics']['scalar']
        log(f'  {name:16s} ordinal expected score: spearman {o["spearman"]:.4f} pearson {o["pearson"]:.4f} '
            f'accuracy {o["accuracy"]:.4f} mae {o["mae_classes"]:.4f} (classes)')
        log(f'  {"":16s} scalar score output:    spearman {c["spearman"]:.4f} pearson {c["pearson"]:.4f} '
            f'mae {c["mae"]:.4f} (trueScore units)')
        log(f'  {"":16s} trained in {r["train"]["train_seconds"] / 60:.1f} min (mean load average '
            f'{r["train"]["mean_load_average"]:.1f} on 2 cores)')
    log(f'total {time.time() - t_all:.0f}s')


if __name__ == '__main__':
    main()
