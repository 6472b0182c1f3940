#!/usr/bin/python3
"""Write a ConvNeXt-Tiny-sized ONNX model with random weights, for `npm run bench:score` (issue 3, Benchmarks).

    /usr/bin/python3 scripts/models/make_convnext_tiny.py OUT.onnx [--size 448] [--seed 0] [--card]

Depths 3,3,9,3 and dims 96,192,384,768 (28M parameters, the size of deepghs' and WD's ConvNeXt models), input
"image" [batch,3,size,size] NCHW, outputs "logits" [batch,7] (7 ordinal classes, like deepghs anime_aesthetic)
and "embedding" [batch,768]; opset 17, dynamic batch axis "batch". The last stage's output is named
"feature_map" (14x14 at 448 px) for saliency. With --card, also writes OUT.card.json beside it
(deepghs-aesthetic preprocessing: bilinear stretch, p/255, mean/std 0.5; softmax over the 7 logits); without it,
`--preset deepghs-aesthetic` feeds it the same way. Weights are random (fixed seed): only for timing, the scores
mean nothing. About 111 MB, so it is generated at bench time and never committed.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from architectures import ConvNeXt, parameter_count  # noqa: E402
from onnx_export import export_with_layer  # noqa: E402

LABELS = ['worst', 'low', 'normal', 'good', 'great', 'best', 'masterpiece']


class WithFeatureMap(torch.nn.Module):
    def __init__(self, model: ConvNeXt) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor):
        feature_map = self.model.features(image)
        embedding = self.model.norm(feature_map.mean(dim=(2, 3)))
        return self.model.head(embedding), embedding, feature_map


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out', type=Path, help='the .onnx file to write')
    parser.add_argument('--size', type=int, default=448, help='input size in pixels (square; default 448)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--card', action='store_true', help='also write OUT.card.json beside the model')
    args = parser.parse_args()
    if args.size % 32 != 0:
        sys.exit(f'--size must be a multiple of 32 (the network downsamples by 32), got {args.size}')

    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    t0 = time.time()
    model = ConvNeXt([3, 3, 9, 3], [96, 192, 384, 768], classes=len(LABELS), scalar_head=False).eval()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    info = export_with_layer(
        WithFeatureMap(model).eval(), torch.zeros(1, 3, args.size, args.size), args.out, 'image',
        ['logits', 'embedding'], 'feature_map', 'logits',
        f'ConvNeXt-Tiny-sized model with random weights (seed {args.seed}) for Miru benchmarks; not a real scorer.')
    seconds = time.time() - t0
    card = {
        'name': args.out.stem,
        'input': {'name': 'image', 'layout': 'NCHW', 'size': [args.size, args.size], 'channels': 'RGB',
                  'resize': 'stretch', 'pad': [255, 255, 255], 'interpolation': 'bilinear', 'scale': 255,
                  'mean': [0.5, 0.5, 0.5], 'std': [0.5, 0.5, 0.5]},
        'outputs': {'score': {'name': 'logits', 'kind': 'ordinal', 'labels': LABELS,
                              'values': list(range(len(LABELS))), 'activation': 'softmax'},
                    'embedding': {'name': 'embedding'}},
        'saliency': {'layer': 'feature_map'},
    }
    card_path = args.out.with_name(args.out.name.removesuffix('.onnx') + '.card.json')
    if args.card:
        card_path.write_text(json.dumps(card, indent=2) + '\n')
    print(json.dumps({'out': str(args.out), 'card': str(card_path) if args.card else None, 'parameters': parameter_count(model),
                      'bytes': info['bytes'], 'size': args.size, 'outputs': info['output_shapes'],
                      'saliencyLayer': {'name': info['saliency_layer'], 'shape': info['saliency_shape']},
                      'opset': info['opset'], 'nodes': info['nodes'], 'seconds': round(seconds, 1)}))


if __name__ == '__main__':
    main()
