#!/usr/bin/python3
"""Reference outputs for Miru's label spreading (core/analysis/labelPropagation.ts), written to
test/fixtures/analysis/propagation.json.

    cd <repo> && /usr/bin/python3 scripts/analysis/make_propagation_reference.py

Needs Debian's python (python3-sklearn 1.2, scipy, numpy; the `python3` first on PATH may lack them). Runs in about
a second, deterministic (fixed seed). The TypeScript tests read the JSON; they never run python.

Which variant is matched: scikit-learn's LabelSpreading (Zhou et al. 2004) with a *callable* kernel that returns
Miru's graph, not kernel='knn'. sklearn's own knn kernel uses the directed kNN connectivity matrix (self included,
then dropped from the Laplacian), so S = D^-1/2 A D^-1/2 is not symmetric and conjugate gradient cannot solve it.
Miru's graph (and the callable here) is:
  - the k nearest OTHER points by cosine distance (Euclidean neighbours of the L2-normalised vectors, which rank
    the same), found with sklearn's NearestNeighbors;
  - affinity a_ij = 1 ("connectivity") or max(0, cos_ij)^gamma ("similarity", Iscen et al. 2019, gamma = 3);
  - W = A + A^T (mutual neighbours count twice, as in Iscen et al.'s code);
then sklearn builds S = D^-1/2 W D^-1/2 through scipy's normalised Laplacian and iterates F <- alpha S F + (1-alpha) Y
to convergence (tol 1e-13, so the fixed point is reached). Miru solves (I - alpha S) F = Y by conjugate gradient;
row-normalised, both are the same distribution. A dense numpy solve checks the sklearn run here too.
The "balanced" case is Iscen et al.'s class-balanced right-hand side (Y column c divided by the number of labelled
images of class c), which sklearn lacks; its reference is the dense solve alone.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.neighbors import NearestNeighbors
from sklearn.semi_supervised import LabelSpreading

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / 'test' / 'fixtures' / 'analysis' / 'propagation.json'

# Unequal seed counts per class, so the class-balanced case differs from the plain one.
N, DIM, CLASSES, K, LABELLED_PER_CLASS = 90, 12, 4, 6, (2, 3, 4, 6)


def make_points(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Four overlapping clusters: centres on the unit sphere plus Gaussian noise, so propagation has work to do."""
    centres = rng.normal(size=(CLASSES, DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    truth = np.arange(N) % CLASSES
    x = centres[truth] + rng.normal(scale=0.35, size=(N, DIM))
    # float32, as embeddings are stored; the graph is built from exactly these values.
    return x.astype(np.float32), truth


def knn_graph(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    unit = x.astype(np.float64) / np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    nn = NearestNeighbors(n_neighbors=k).fit(unit)
    # X=None: each point's own row is left out of its neighbours.
    dist, idx = nn.kneighbors(None, n_neighbors=k)
    cos = 1.0 - dist**2 / 2.0  # |u - v|^2 = 2 - 2 cos for unit vectors
    return idx, cos


def affinity(idx: np.ndarray, cos: np.ndarray, mode: str, gamma: float) -> sparse.csr_matrix:
    n, k = idx.shape
    values = np.ones(n * k) if mode == 'connectivity' else np.maximum(cos.ravel(), 0.0) ** gamma
    a = sparse.csr_matrix((values, (np.repeat(np.arange(n), k), idx.ravel())), shape=(n, n))
    return (a + a.T).tocsr()


def dense_solution(w: sparse.csr_matrix, y: np.ndarray, alpha: float, classes: int, balanced: bool) -> np.ndarray:
    w = w.toarray()
    d = w.sum(axis=1)
    inv = np.where(d > 0, 1.0 / np.sqrt(np.where(d > 0, d, 1.0)), 0.0)
    s = inv[:, None] * w * inv[None, :]
    rhs = np.zeros((len(y), classes))
    for c in range(classes):
        members = y == c
        rhs[members, c] = 1.0 / members.sum() if balanced else 1.0
    f = np.linalg.solve(np.eye(len(y)) - alpha * s, rhs)
    return f / f.sum(axis=1, keepdims=True)


def main() -> None:
    rng = np.random.default_rng(20240611)
    x, truth = make_points(rng)
    labelled = np.concatenate([rng.choice(np.flatnonzero(truth == c), LABELLED_PER_CLASS[c], replace=False) for c in range(CLASSES)])
    y = np.full(N, -1)
    y[labelled] = truth[labelled]
    idx, cos = knn_graph(x, K)

    cases = []
    for name, mode, gamma, alpha, balanced in [
        ('connectivity-alpha0.99', 'connectivity', 1.0, 0.99, False),
        ('connectivity-alpha0.5', 'connectivity', 1.0, 0.5, False),
        ('similarity3-alpha0.99', 'similarity', 3.0, 0.99, False),
        ('similarity3-alpha0.99-balanced', 'similarity', 3.0, 0.99, True),
    ]:
        w = affinity(idx, cos, mode, gamma)
        dense = dense_solution(w, y, alpha, CLASSES, balanced)
        if balanced:
            distributions = dense
        else:
            model = LabelSpreading(kernel=lambda a, b, w=w: w.copy(), alpha=alpha, max_iter=100000, tol=1e-13)
            model.fit(x, y)
            distributions = model.label_distributions_
            gap = np.abs(distributions - dense).max()
            assert gap < 1e-9, f'{name}: sklearn and the dense solve differ by {gap}'
            assert (model.transduction_ == distributions.argmax(axis=1)).all()
        cases.append({
            'name': name,
            'affinity': mode,
            'gamma': gamma,
            'alpha': alpha,
            'balanced': balanced,
            'labels': distributions.argmax(axis=1).tolist(),
            'distributions': np.round(distributions, 12).tolist(),
            'accuracyOnUnlabelled': float((distributions.argmax(axis=1) == truth)[y == -1].mean()),
        })

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        'generator': 'scripts/analysis/make_propagation_reference.py',
        'variant': 'sklearn 1.2 LabelSpreading(kernel=callable returning W = A + A^T over the cosine kNN graph, self '
                   'excluded), max_iter=100000, tol=1e-13; balanced case: dense solve of (I - alpha S) F = Y / class counts',
        'k': K,
        'classes': CLASSES,
        'dim': DIM,
        'vectors': [[float(v) for v in row] for row in x],
        'y': y.tolist(),
        'truth': truth.tolist(),
        'neighbors': idx.tolist(),
        'cases': cases,
    }) + '\n')
    print(f'wrote {OUT.relative_to(ROOT)}: {len(cases)} cases, accuracies ' + ', '.join(f"{c['accuracyOnUnlabelled']:.3f}" for c in cases))


if __name__ == '__main__':
    main()
