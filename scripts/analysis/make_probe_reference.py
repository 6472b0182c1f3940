#!/usr/bin/python3
"""Reference outputs for Miru's probe heads and probe metrics (core/analysis/probeHeads.ts, probeMetrics.ts),
written to test/fixtures/analysis/probe-heads.json and test/fixtures/analysis/probe-metrics.json.

    cd <repo> && /usr/bin/python3 scripts/analysis/make_probe_reference.py

Needs Debian's python (python3-sklearn 1.2, scipy, numpy; the `python3` first on PATH may lack them). Runs in a
second or two, deterministic (fixed seed). The TypeScript tests read the JSON; they never run python.

What each reference is:
  - ridge: Pipeline(StandardScaler(), Ridge(alpha)) -> coefficients on the standardised features, intercept, and
    predictions for held-out rows.
  - logistic: StandardScaler then LogisticRegression(multi_class='multinomial', C, newton-cg, tol 1e-10): coef_,
    intercept_ and predict_proba for held-out rows. Miru's l2 is 1 / C. newton-cg, not lbfgs: scipy's L-BFGS-B
    also stops on a relative objective decrease of 2.2e-9 whatever tol says, leaving a gradient of ~1e-4, while
    newton-cg reaches ~1e-9 (its final line-search warnings are rounding at the optimum).
  - ordinal: there is no proportional-odds model in scikit-learn or scipy (and no statsmodels here), so the
    reference is the penalised maximum-likelihood fit written out independently below (thresholds as parameters,
    an inequality-free parametrisation checked afterwards) and minimised by scipy's BFGS to a tight tolerance.
  - knn: KNeighborsRegressor / KNeighborsClassifier with metric='cosine' and weights='distance' (1 / distance).
  - metrics: scipy.stats spearmanr / pearsonr, sklearn cohen_kappa_score(weights='quadratic'), accuracy_score,
    mean_absolute_error, scipy.stats.wasserstein_distance on the class positions, and the 95% t-interval of fold
    values from scipy.stats.t.interval.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from scipy import optimize, special, stats
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, cohen_kappa_score, mean_absolute_error
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[2]
OUT_HEADS = ROOT / 'test' / 'fixtures' / 'analysis' / 'probe-heads.json'
OUT_METRICS = ROOT / 'test' / 'fixtures' / 'analysis' / 'probe-metrics.json'

N_TRAIN, N_TEST, DIM, CLASSES = 160, 40, 6, 4
RIDGE_ALPHA, LOGISTIC_C, ORDINAL_L2, KNN_K = 2.5, 0.5, 1.0, 5


def make_data(rng: np.random.Generator):
    # Columns on different scales and offsets, so standardisation matters.
    scales = np.array([1.0, 5.0, 0.2, 3.0, 1.0, 10.0])
    offsets = np.array([0.0, 10.0, -3.0, 1.0, 50.0, 0.0])
    x = rng.normal(size=(N_TRAIN + N_TEST, DIM)) * scales + offsets
    z = (x - offsets) / scales
    eta = z @ np.array([1.2, -0.8, 0.5, 0.0, 0.3, 0.9])
    target = 5 + eta + rng.normal(scale=0.5, size=len(eta))
    latent = eta + rng.logistic(size=len(eta))
    labels = np.digitize(latent, [-1.5, 0.0, 1.5])  # 4 ordered classes
    return x, target, labels


def ordinal_nll(params: np.ndarray, z: np.ndarray, y: np.ndarray, l2: float) -> float:
    dim = z.shape[1]
    w, theta = params[:dim], params[dim:]
    eta = z @ w
    upper = np.append(theta, np.inf)[y] - eta
    lower = np.insert(theta, 0, -np.inf)[y] - eta
    p = special.expit(upper) - special.expit(lower)
    return -np.sum(np.log(p)) + 0.5 * l2 * np.dot(w, w)


def ordinal_reference(z_train, y_train, z_test):
    k = CLASSES
    start = np.concatenate([np.zeros(z_train.shape[1]), np.linspace(-1, 1, k - 1)])
    res = optimize.minimize(ordinal_nll, start, args=(z_train, y_train, ORDINAL_L2), method='BFGS', options={'gtol': 1e-9, 'maxiter': 10000})
    dim = z_train.shape[1]
    w, theta = res.x[:dim], res.x[dim:]
    assert np.all(np.diff(theta) > 0), 'thresholds came out unordered'
    cum = special.expit(theta[None, :] - (z_test @ w)[:, None])
    cum = np.hstack([np.zeros((len(z_test), 1)), cum, np.ones((len(z_test), 1))])
    return {'coef': w.tolist(), 'thresholds': theta.tolist(), 'proba': np.diff(cum, axis=1).tolist(), 'objective': float(res.fun)}


def heads_reference() -> dict:
    rng = np.random.default_rng(20240611)
    x, target, labels = make_data(rng)
    train, test = slice(0, N_TRAIN), slice(N_TRAIN, None)
    scaler = StandardScaler().fit(x[train])
    z_train, z_test = scaler.transform(x[train]), scaler.transform(x[test])

    ridge = Ridge(alpha=RIDGE_ALPHA).fit(z_train, target[train])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        logistic = LogisticRegression(multi_class='multinomial', C=LOGISTIC_C, solver='newton-cg', tol=1e-10, max_iter=10000).fit(z_train, labels[train])
    knn_reg = KNeighborsRegressor(n_neighbors=KNN_K, metric='cosine', weights='distance', algorithm='brute').fit(x[train], target[train])
    knn_cls = KNeighborsClassifier(n_neighbors=KNN_K, metric='cosine', weights='distance', algorithm='brute').fit(x[train], labels[train])
    knn_uniform = KNeighborsRegressor(n_neighbors=KNN_K, metric='cosine', weights='uniform', algorithm='brute').fit(x[train], target[train])
    return {
        'generator': 'scripts/analysis/make_probe_reference.py',
        'nTrain': N_TRAIN,
        'nTest': N_TEST,
        'dim': DIM,
        'classes': CLASSES,
        # Row-major; the first nTrain rows train, the rest are held out.
        'vectors': x.ravel().tolist(),
        'target': target.tolist(),
        'labels': labels.tolist(),
        'ridge': {'alpha': RIDGE_ALPHA, 'coef': ridge.coef_.tolist(), 'intercept': float(ridge.intercept_), 'predictions': ridge.predict(z_test).tolist()},
        'logistic': {
            'C': LOGISTIC_C,
            'coef': logistic.coef_.tolist(),
            'intercept': logistic.intercept_.tolist(),
            'proba': logistic.predict_proba(z_test).tolist(),
        },
        'ordinal': {'l2': ORDINAL_L2, **ordinal_reference(z_train, labels[train], z_test)},
        'knn': {
            'k': KNN_K,
            'distanceRegression': knn_reg.predict(x[test]).tolist(),
            'uniformRegression': knn_uniform.predict(x[test]).tolist(),
            'distanceProba': knn_cls.predict_proba(x[test]).tolist(),
        },
    }


def metrics_reference() -> dict:
    rng = np.random.default_rng(7)
    n, k = 60, 5
    target = rng.integers(0, k, size=n).astype(float) + rng.choice([0.0, 0.5], size=n)
    predicted = target + rng.normal(scale=0.9, size=n)
    target_class = np.clip(np.rint(target), 0, k - 1).astype(int)
    predicted_class = np.clip(np.rint(predicted), 0, k - 1).astype(int)
    pred_dist = rng.dirichlet(np.ones(k), size=n)
    target_dist = rng.dirichlet(np.ones(k) * 0.5, size=n)
    positions = np.arange(k)
    emd = [stats.wasserstein_distance(positions, positions, pred_dist[i], target_dist[i]) for i in range(n)]
    fold_values = [0.61, 0.55, 0.70, 0.64, 0.58]
    lo, hi = stats.t.interval(0.95, len(fold_values) - 1, loc=np.mean(fold_values), scale=stats.sem(fold_values))
    return {
        'generator': 'scripts/analysis/make_probe_reference.py',
        'classes': k,
        'target': target.tolist(),
        'predicted': predicted.tolist(),
        'targetClass': target_class.tolist(),
        'predictedClass': predicted_class.tolist(),
        'predictedDistribution': pred_dist.ravel().tolist(),
        'targetDistribution': target_dist.ravel().tolist(),
        'spearman': float(stats.spearmanr(predicted, target).correlation),
        'pearson': float(stats.pearsonr(predicted, target)[0]),
        'qwk': float(cohen_kappa_score(target_class, predicted_class, weights='quadratic')),
        'accuracy': float(accuracy_score(target_class, predicted_class)),
        'mae': float(mean_absolute_error(target, predicted)),
        'emdPerRow': emd,
        'emd': float(np.mean(emd)),
        'foldValues': fold_values,
        'interval': {'mean': float(np.mean(fold_values)), 'lo': float(lo), 'hi': float(hi)},
    }


def main() -> None:
    OUT_HEADS.parent.mkdir(parents=True, exist_ok=True)
    OUT_HEADS.write_text(json.dumps(heads_reference()) + '\n')
    OUT_METRICS.write_text(json.dumps(metrics_reference()) + '\n')
    print(f'wrote {OUT_HEADS.relative_to(ROOT)} and {OUT_METRICS.relative_to(ROOT)}')


if __name__ == '__main__':
    main()
