#!/usr/bin/python3
"""Reference outputs for Miru's rater map (core/analysis/raterEmbedding.ts), written to
test/fixtures/analysis/rater-embedding.json.

    cd <repo> && /usr/bin/python3 scripts/analysis/make_rater_embedding_reference.py

Needs numpy (Debian's python3 has it; the `python3` first on PATH may not). Deterministic (fixed seed), under a
second. The TypeScript tests read the JSON; they never run python.

- mds: classical (Torgerson) multidimensional scaling computed with numpy.linalg.eigh: B = -1/2 J D^2 J, the two
  largest eigenpairs, coordinates v * sqrt(lambda), each axis flipped so its largest-magnitude coordinate is
  positive; `explained` is each eigenvalue over the sum of B's positive eigenvalues. Cases: points in a plane
  (classical MDS recovers them exactly, up to rotation), points in 5-D, and a non-Euclidean symmetric matrix
  (B has negative eigenvalues).
- profiles: the whole raterEmbedding recipe on a random panel's kappa matrix with gaps: agreement shrunk by
  n / (n + shrinkage) where a pair shares n >= minCommon images (else 0, diagonal 1), raters with fewer than two
  known partners left out, profile distance 1 - Pearson of two raters' shrunk rows over the OTHER kept raters
  (1 where Pearson is undefined), then the MDS above.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / 'test' / 'fixtures' / 'analysis' / 'rater-embedding.json'


def classical_mds(d: np.ndarray, dims: int = 2) -> dict:
    n = d.shape[0]
    j = np.eye(n) - np.ones((n, n)) / n
    b = -0.5 * j @ (d ** 2) @ j
    values, vectors = np.linalg.eigh(b)
    order = np.argsort(-values, kind='stable')
    positive = values[values > 0].sum()
    coords = np.zeros((n, dims))
    eig = []
    explained = []
    for k in range(dims):
        lam = values[order[k]]
        eig.append(float(lam))
        if lam <= 1e-10 * positive:
            explained.append(0.0)
            continue
        explained.append(float(lam / positive))
        col = vectors[:, order[k]] * np.sqrt(lam)
        if col[np.argmax(np.abs(col))] < 0:
            col = -col
        coords[:, k] = col
    return {'coords': coords.tolist(), 'eigenvalues': eig, 'explained': explained}


def euclidean(points: np.ndarray) -> np.ndarray:
    diff = points[:, None, :] - points[None, :, :]
    return np.sqrt((diff ** 2).sum(-1))


def profile_case(rng: np.random.Generator, raters: int, min_common: int, shrinkage: float) -> dict:
    # Two tastes: kappa high within a taste, low across; some pairs share too few images (null kappa).
    taste = rng.integers(0, 2, size=raters)
    kappa = np.where(taste[:, None] == taste[None, :], 0.6, 0.1) + rng.normal(scale=0.12, size=(raters, raters))
    kappa = np.round((kappa + kappa.T) / 2, 4)
    common = rng.integers(0, 60, size=(raters, raters))
    common = np.triu(common, 1)
    common = common + common.T
    np.fill_diagonal(common, 100)
    np.fill_diagonal(kappa, 1.0)
    # One rater shares enough images with a single other rater only: it has no profile to compare.
    common[raters - 1, :] = 0
    common[:, raters - 1] = 0
    common[raters - 1, 0] = common[0, raters - 1] = 40
    common[raters - 1, raters - 1] = 40
    known = (common >= min_common)
    matrix = [[(float(kappa[i, j]) if known[i, j] else None) for j in range(raters)] for i in range(raters)]

    with np.errstate(invalid="ignore", divide="ignore"):
        shrunk = np.where(known, kappa * common / (common + shrinkage), 0.0)
    np.fill_diagonal(shrunk, 1.0)
    partners = known.sum(1) - 1
    members = [r for r in range(raters) if partners[r] >= 2]
    m = len(members)
    dist = np.zeros((m, m))
    for x in range(m):
        for y in range(x + 1, m):
            others = [members[z] for z in range(m) if z not in (x, y)]
            a = shrunk[members[x], others]
            b = shrunk[members[y], others]
            with np.errstate(invalid='ignore', divide='ignore'):
                r = np.corrcoef(a, b)[0, 1] if len(others) >= 2 else np.nan
            dist[x, y] = dist[y, x] = 1 - r if np.isfinite(r) else 1.0
    mds = classical_mds(dist)
    names = [f'r{i:02d}' for i in range(raters)]
    return {
        'name': f'kappa profiles of {raters} raters, minCommon {min_common}, shrinkage {shrinkage}',
        'raters': names,
        'matrix': matrix,
        'common': common.tolist(),
        'minCommon': min_common,
        'shrinkage': shrinkage,
        'members': [names[r] for r in members],
        'excluded': [names[r] for r in range(raters) if r not in members],
        'distance': dist.tolist(),
        **mds,
    }


def main() -> None:
    rng = np.random.default_rng(20240611)
    plane = rng.normal(size=(12, 2)) * [3.0, 1.0]
    five = rng.normal(size=(30, 5)) * [4.0, 2.0, 1.0, 0.5, 0.25]
    noisy = rng.uniform(0.2, 1.8, size=(15, 15))
    noisy = np.triu(noisy, 1)
    noisy = noisy + noisy.T
    cases = []
    for name, d in [('points in a plane', euclidean(plane)), ('points in 5-D', euclidean(five)), ('non-Euclidean distances', noisy)]:
        cases.append({'name': name, 'distance': d.tolist(), **classical_mds(d)})
    profiles = [profile_case(rng, 16, 10, 10.0), profile_case(rng, 9, 20, 0.0)]
    OUT.write_text(json.dumps({'mds': cases, 'profiles': profiles}, indent=1) + '\n')
    print(f'wrote {OUT.relative_to(ROOT)}: {len(cases)} MDS cases, {len(profiles)} profile cases')


if __name__ == '__main__':
    main()
