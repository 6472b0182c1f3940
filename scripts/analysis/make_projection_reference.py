#!/usr/bin/python3
"""Reference outputs for Miru's embedding-space code (core/analysis/knnIndex.ts exactKnn, core/analysis/
projections.ts pca), written to test/fixtures/analysis/projection-knn.json and projection-pca.json.

    cd <repo> && /usr/bin/python3 scripts/analysis/make_projection_reference.py

Needs Debian's python (python3-sklearn 1.2, numpy; the `python3` first on PATH may lack them). Runs in about a
second, deterministic (fixed seed). The TypeScript tests read the JSON; they never run python.

- projection-knn.json: float32 vectors (as embeddings are stored) in overlapping clusters; for metric cosine
  (1 - cos) and l2 (Euclidean), each row's k nearest OTHER rows and their distances, computed in float64 by
  brute force with numpy and cross-checked with sklearn's NearestNeighbors (brute, same metric). Ties are broken
  by the smaller index (a stable argsort), as Miru does; the data has none at float64 resolution. Also the k
  nearest rows of a few outside query vectors (no self to exclude).
- projection-pca.json: sklearn.decomposition.PCA(n_components=2, svd_solver='full') on two float32 matrices, one
  with more rows than columns (Miru's covariance route) and one with fewer (its Gram-matrix route): scores
  (fit_transform), components_, explained_variance_ and explained_variance_ratio_. sklearn 1.2 picks component
  signs from the scores (svd_flip u-based), Miru from the loadings; the tests compare up to sign per component.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / 'test' / 'fixtures' / 'analysis'


def clustered(rng: np.random.Generator, n: int, dim: int, clusters: int, noise: float) -> np.ndarray:
    centres = rng.normal(size=(clusters, dim))
    x = centres[np.arange(n) % clusters] + rng.normal(scale=noise, size=(n, dim))
    return x.astype(np.float32)


def brute_knn(base: np.ndarray, queries: np.ndarray, k: int, metric: str, exclude_self: bool) -> tuple[np.ndarray, np.ndarray]:
    b = base.astype(np.float64)
    q = queries.astype(np.float64)
    if metric == 'cosine':
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        dist = 1.0 - q @ b.T
    else:
        dist = np.sqrt(np.maximum(0.0, (q**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * q @ b.T))
    if exclude_self:
        np.fill_diagonal(dist, np.inf)
    order = np.argsort(dist, axis=1, kind='stable')[:, :k]
    return order, np.take_along_axis(dist, order, axis=1)


def check_with_sklearn(base: np.ndarray, queries: np.ndarray | None, k: int, metric: str, idx: np.ndarray, dist: np.ndarray) -> None:
    nn = NearestNeighbors(n_neighbors=k, algorithm='brute', metric='cosine' if metric == 'cosine' else 'euclidean').fit(base.astype(np.float64))
    d2, i2 = nn.kneighbors(None if queries is None else queries.astype(np.float64), n_neighbors=k)
    assert np.array_equal(i2, idx), f'{metric}: sklearn disagrees on the neighbour order'
    assert np.allclose(d2, dist, atol=1e-9), f'{metric}: sklearn disagrees on the distances'


def knn_reference(rng: np.random.Generator) -> dict:
    n, dim, k = 80, 16, 6
    x = clustered(rng, n, dim, clusters=5, noise=0.8)
    queries = clustered(rng, 4, dim, clusters=2, noise=1.0)
    cases = []
    for metric in ('cosine', 'l2'):
        idx, dist = brute_knn(x, x, k, metric, exclude_self=True)
        check_with_sklearn(x, None, k, metric, idx, dist)
        qidx, qdist = brute_knn(x, queries, k, metric, exclude_self=False)
        check_with_sklearn(x, queries, k, metric, qidx, qdist)
        cases.append({
            'metric': metric,
            'indices': idx.tolist(),
            'distances': dist.tolist(),
            'queryIndices': qidx.tolist(),
            'queryDistances': qdist.tolist(),
        })
    return {
        'generator': 'scripts/analysis/make_projection_reference.py',
        'n': n,
        'dim': dim,
        'k': k,
        'vectors': x.astype(float).tolist(),
        'queries': queries.astype(float).tolist(),
        'cases': cases,
    }


def pca_case(name: str, x: np.ndarray) -> dict:
    pca = PCA(n_components=2, svd_solver='full')
    scores = pca.fit_transform(x.astype(np.float64))
    return {
        'name': name,
        'vectors': x.astype(float).tolist(),
        'scores': scores.tolist(),
        'components': pca.components_.tolist(),
        'explainedVariance': pca.explained_variance_.tolist(),
        'explainedVarianceRatio': pca.explained_variance_ratio_.tolist(),
    }


def pca_reference(rng: np.random.Generator) -> dict:
    # Anisotropic data, so the two leading axes are well separated and their signs well defined.
    tall = (rng.normal(size=(50, 6)) * np.array([5.0, 3.0, 1.0, 0.5, 0.3, 0.1])) @ np.linalg.qr(rng.normal(size=(6, 6)))[0]
    wide = rng.normal(size=(7, 12)) * np.linspace(3.0, 0.2, 12)
    return {
        'generator': 'scripts/analysis/make_projection_reference.py',
        'cases': [pca_case('more rows than columns', tall.astype(np.float32) + 2.0), pca_case('fewer rows than columns', wide.astype(np.float32) - 1.0)],
    }


def main() -> None:
    rng = np.random.default_rng(20240611)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, data in (('projection-knn.json', knn_reference(rng)), ('projection-pca.json', pca_reference(rng))):
        (OUT_DIR / name).write_text(json.dumps(data) + '\n')
        print(f'wrote {OUT_DIR / name}')


if __name__ == '__main__':
    main()
