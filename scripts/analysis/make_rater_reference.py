#!/usr/bin/python3
"""Reference values for the rater analyses (test/core/analysis/krippendorffAlpha, raterAgreement, raterConsensus,
raterClusters tests). Run with Debian's python (numpy, scipy, scikit-learn):

    /usr/bin/python3 scripts/analysis/make_rater_reference.py

and commit test/fixtures/analysis/rater_reference.json. CI only reads the JSON.

The oracles are independent of the TypeScript code paths they check:
- Krippendorff's alpha by enumerating every pair of values within each unit (the definition), not through a
  coincidence matrix built from per-unit counts;
- kappa from scikit-learn's cohen_kappa_score, Spearman from scipy.stats.spearmanr;
- CROWDLAB written from cleanlab's multiannotator formulas on a dense N x M label matrix (cleanlab itself is not
  packaged for Debian), with cleanlab's defaults (best_quality consensus, crowdlab quality, self-confidence);
- average linkage from scipy.cluster.hierarchy, silhouette and adjusted Rand index from scikit-learn.
"""
import json
import os

import numpy as np
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform
from scipy.stats import spearmanr
from sklearn.metrics import adjusted_rand_score, cohen_kappa_score, silhouette_score

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'analysis', 'rater_reference.json')
rng = np.random.default_rng(20240611)


# --- Krippendorff's alpha by pair enumeration -------------------------------------------------------------------
def alpha_by_pairs(units, values, metric):
    by_unit = {}
    for u, v in zip(units, values):
        by_unit.setdefault(u, []).append(float(v))
    pairable = {u: vs for u, vs in by_unit.items() if len(vs) >= 2}
    allv = [v for vs in pairable.values() for v in vs]
    n = len(allv)
    uniq = sorted(set(allv))
    counts = {c: allv.count(c) for c in uniq}

    def delta(c, k):
        if c == k:
            return 0.0
        if metric == 'nominal':
            return 1.0
        if metric == 'interval':
            return (c - k) ** 2
        if metric == 'ratio':
            return 0.0 if c + k == 0 else ((c - k) / (c + k)) ** 2
        lo, hi = min(c, k), max(c, k)
        between = sum(counts[g] for g in uniq if lo <= g <= hi)
        return (between - (counts[c] + counts[k]) / 2) ** 2

    observed = 0.0
    for vs in pairable.values():
        m = len(vs)
        for i in range(m):
            for j in range(m):
                if i != j:
                    observed += delta(vs[i], vs[j]) / (m - 1)
    expected = 0.0
    for i in range(n):
        for j in range(n):
            if i != j:
                expected += delta(allv[i], allv[j])
    Do = observed / n
    De = expected / (n * (n - 1))
    return 1 - Do / De


def table_to_lists(table):
    units, values = [], []
    for row in table:
        for u, v in enumerate(row):
            if v is not None:
                units.append(u)
                values.append(v)
    return units, values


METRICS = ['nominal', 'ordinal', 'interval', 'ratio']

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the 4 observers x 12 units example.
K2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]
u, v = table_to_lists(K2011)
krippendorff2011 = {
    'table': K2011,
    'published': {'nominal': 0.743, 'ordinal': 0.815, 'interval': 0.849, 'ratio': 0.797},
    'exact': {m: alpha_by_pairs(u, v, m) for m in METRICS},
}

alpha_cases = []
for case, (units_n, raters_n, density, scale) in enumerate([(30, 5, 0.5, [1, 2, 3, 4, 5]), (60, 8, 0.3, [1, 2, 3, 4, 5, 6, 7]), (25, 3, 0.8, [0, 1, 2, 5, 10])]):
    truth = rng.integers(0, len(scale), size=units_n)
    units, values = [], []
    for unit in range(units_n):
        for r in range(raters_n):
            if rng.random() < density:
                idx = int(np.clip(truth[unit] + rng.integers(-1, 2), 0, len(scale) - 1))
                units.append(unit * 7 + 3)  # sparse, non-contiguous unit ids
                values.append(scale[idx])
    # One unit with a single rating and a value used only there: left out of every metric.
    units.append(10_000)
    values.append(99 if case == 0 else scale[0])
    alpha_cases.append({'units': units, 'values': values, 'alpha': {m: alpha_by_pairs(units, values, m) for m in METRICS}})

# --- kappa (scikit-learn) ------------------------------------------------------------------------------------------
kappa_cases = []
for a, b, labels in [
    ([1, 2, 3, 4, 5, 3, 2], [1, 3, 3, 5, 4, 2, 2], None),
    ([0, 1, 2, 2, 1, 0, 3], [0, 2, 2, 1, 1, 0, 3], None),
    ([2, 3, 4, 3, 2], [2, 3, 3, 3, 4], [1, 2, 3, 4, 5]),
]:
    entry = {'a': a, 'b': b, 'labels': labels}
    for w in [None, 'linear', 'quadratic']:
        entry[w or 'none'] = float(cohen_kappa_score(a, b, weights=w, labels=labels))
    kappa_cases.append(entry)

# --- a small rating set: per-rater LOO Spearman and bias, pairwise kappa and Spearman ----------------------------
R_NAMES = ['ann', 'bob', 'cat', 'dan', 'eve']
N_IMG = 24
latent = rng.random(N_IMG)
rows = []
for r, name in enumerate(R_NAMES):
    for img in range(N_IMG):
        if rng.random() < 0.7:
            if name == 'eve':
                val = int(rng.integers(1, 6))
            else:
                val = int(np.clip(np.round(1 + 4 * latent[img] + rng.normal(0, 0.6) + (0.5 if name == 'dan' else 0)), 1, 5))
            rows.append({'rater': name, 'image': 100 + img, 'value': val})
# 'fay' rates two images only (no Spearman), 'gus' rates everything 3 (constant).
rows += [{'rater': 'fay', 'image': 100, 'value': 4}, {'rater': 'fay', 'image': 101, 'value': 2}]
rows += [{'rater': 'gus', 'image': 100 + i, 'value': 3} for i in range(6)]

by_image = {}
for x in rows:
    by_image.setdefault(x['image'], []).append(x)
all_labels = sorted({x['value'] for x in rows})
rater_stats = {}
for name in R_NAMES + ['fay', 'gus']:
    own, others = [], []
    for x in rows:
        if x['rater'] != name:
            continue
        peers = [y['value'] for y in by_image[x['image']] if y['rater'] != name]
        if peers:
            own.append(x['value'])
            others.append(sum(peers) / len(peers))
    rho = spearmanr(own, others).correlation if len(own) >= 3 and len(set(own)) > 1 and len(set(others)) > 1 else None
    rater_stats[name] = {'overlap': len(own), 'spearman': None if rho is None or np.isnan(rho) else float(rho), 'bias': float(np.mean(np.array(own) - np.array(others))) if own else None}

pairwise = {}
names = R_NAMES + ['fay', 'gus']
for i, a in enumerate(names):
    for b in names[i + 1:]:
        va = {x['image']: x['value'] for x in rows if x['rater'] == a}
        vb = {x['image']: x['value'] for x in rows if x['rater'] == b}
        common = sorted(set(va) & set(vb))
        xa = [va[c] for c in common]
        xb = [vb[c] for c in common]
        entry = {'common': len(common)}
        if len(common) >= 5:
            entry['kappa'] = float(cohen_kappa_score(xa, xb, weights='quadratic', labels=all_labels))
            rho = spearmanr(xa, xb).correlation
            entry['spearman'] = None if np.isnan(rho) else float(rho)
        pairwise[f'{a}|{b}'] = entry

rating_set = {'rows': rows, 'minCommon': 5, 'labels': all_labels, 'raterStats': rater_stats, 'pairwise': pairwise}


# --- CROWDLAB (cleanlab's formulas on a dense label matrix) --------------------------------------------------------
CLIP = 1e-6


def majority_vote(L, K, pred_probs):
    N, M = L.shape
    counts = np.zeros((N, K))
    for m in range(M):
        mask = ~np.isnan(L[:, m])
        counts[np.where(mask)[0], L[mask, m].astype(int)] += 1
    class_freq = counts.sum(axis=0)
    label = np.full(N, -1)
    untied = np.zeros(N, bool)
    tied = {}
    for i in range(N):
        modes = np.where(counts[i] == counts[i].max())[0]
        if len(modes) == 1:
            label[i] = modes[0]
            untied[i] = True
        else:
            tied[i] = modes
    for i, modes in list(tied.items()):
        if pred_probs is not None:
            modes = modes[pred_probs[i, modes] == pred_probs[i, modes].max()]
        if len(modes) > 1:
            modes = modes[class_freq[modes] == class_freq[modes].min()]
        if len(modes) == 1:
            label[i] = modes[0]
            del tied[i]
        else:
            tied[i] = modes
    if tied:
        agree = np.full(M, np.nan)
        for m in range(M):
            mask = ~np.isnan(L[:, m]) & untied
            if mask.sum():
                agree[m] = np.mean(L[mask, m] == label[mask])
        agree[np.isnan(agree)] = np.nanmean(agree)
        for i, modes in tied.items():
            score = [np.mean(agree[np.where(L[i] == k)[0]]) for k in modes]
            label[i] = modes[int(np.argmax(score))]  # first of the best: the lowest class, as the TypeScript does
    return label


def agreement_with_annotators(L, num):
    N, M = L.shape
    out = np.full(M, np.nan)
    for m in range(M):
        mask = ~np.isnan(L[:, m])
        sub = L[mask]
        n = num[mask]
        if np.sum(n - 1) == 0:
            continue
        per = np.zeros(len(sub))
        multi = n > 1
        for j in range(M):
            per[multi] += sub[multi, m] == sub[multi, j]
        per[multi] = (per[multi] - 1) / (n[multi] - 1)
        out[m] = np.average(per, weights=n - 1)
    out[np.isnan(out)] = np.nanmean(out)
    return out


def consensus_stats(L, K, consensus, pred_probs, num):
    N, M = L.shape
    agreement = np.array([np.sum(L[i][~np.isnan(L[i])] == consensus[i]) / num[i] for i in range(N)])
    multi = num != 1
    cl = np.mean(agreement[multi])
    ncl = (1 - cl) / (K - 1)
    sub = consensus[multi]
    mlce = max(np.mean(sub != np.argmax(np.bincount(sub, minlength=K))), CLIP)
    w = np.clip(1 - (1 - agreement_with_annotators(L, num)) / mlce, CLIP, None)
    if pred_probs is not None:
        model_error = np.mean(np.argmax(pred_probs[multi], axis=1) != sub)
        model_weight = max(1 - model_error / mlce, CLIP) * np.sqrt(np.mean(num))
    else:
        model_weight = 0.0
    post = np.zeros((N, K)) if pred_probs is None else pred_probs * model_weight
    total = np.full(N, model_weight)
    for m in range(M):
        mask = ~np.isnan(L[:, m])
        total[mask] += w[m]
        for k in range(K):
            post[mask, k] += np.where(L[mask, m] == k, w[m] * cl, w[m] * ncl)
    post = post / total[:, None]
    quality = post[np.arange(N), consensus]
    return agreement, post, quality, model_weight, w


def crowdlab(L, K, pred_probs):
    num = np.sum(~np.isnan(L), axis=1)
    mv = majority_vote(L, K, pred_probs)
    _, post, _, _, _ = consensus_stats(L, K, mv, pred_probs, num)
    consensus = mv.copy()
    for i in range(len(mv)):
        best = np.where(post[i] == post[i].max())[0]
        if len(best) == 1:
            consensus[i] = best[0]
    agreement, post, quality, model_weight, w = consensus_stats(L, K, consensus, pred_probs, num)
    N, M = L.shape
    lqs = np.array([np.mean(post[~np.isnan(L[:, m]), L[~np.isnan(L[:, m]), m].astype(int)]) for m in range(M)])
    multi = num != 1
    agree = np.array([np.mean(L[multi & ~np.isnan(L[:, m]), m] == consensus[multi & ~np.isnan(L[:, m])]) for m in range(M)])
    adjusted = np.sum(w) * (np.mean(num) / M)
    mix = model_weight / (model_weight + adjusted)
    rater_quality = mix * lqs + (1 - mix) * agree
    return {
        'consensus': consensus.tolist(),
        'quality': quality.tolist(),
        'agreement': agreement.tolist(),
        'posterior': post.tolist(),
        'raterWeight': w.tolist(),
        'raterQuality': rater_quality.tolist(),
        'modelWeight': float(model_weight) if pred_probs is not None else None,
    }


N_C, M_C, K_C = 40, 6, 4
true_class = rng.integers(0, K_C, size=N_C)
accuracy = [0.9, 0.8, 0.75, 0.6, 0.5, 0.25]
L = np.full((N_C, M_C), np.nan)
for i in range(N_C):
    for m in range(M_C):
        if rng.random() < 0.6 or (m < 2):
            L[i, m] = true_class[i] if rng.random() < accuracy[m] else rng.integers(0, K_C)
logits = rng.normal(0, 1, size=(N_C, K_C))
logits[np.arange(N_C), true_class] += 1.5
pred_probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
CLASS_VALUES = [1, 2, 3, 4]
crowdlab_case = {
    'classes': CLASS_VALUES,
    'labels': [[None if np.isnan(x) else CLASS_VALUES[int(x)] for x in row] for row in L],
    'predProbs': pred_probs.tolist(),
    'withModel': crowdlab(L, K_C, pred_probs),
    'withoutModel': crowdlab(L, K_C, None),
}

# --- hierarchical clustering, silhouette, ARI ------------------------------------------------------------------
pts = np.concatenate([rng.normal(c, 0.4, size=(6, 2)) for c in [(0, 0), (3, 0), (0, 3)]])
D = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
Z = linkage(squareform(D, checks=False), method='average')
clustering = {
    'distance': D.tolist(),
    'linkage': [[int(a), int(b), float(h), int(s)] for a, b, h, s in Z],
    'leaves': leaves_list(Z).tolist(),
    'silhouette3': float(silhouette_score(D, [0] * 6 + [1] * 6 + [2] * 6, metric='precomputed')),
    'silhouetteMixed': float(silhouette_score(D, [0, 0, 0, 1, 1, 1] * 3, metric='precomputed')),
}
ari_cases = []
for _ in range(4):
    a = rng.integers(0, 3, size=30).tolist()
    b = [x if rng.random() < 0.7 else int(rng.integers(0, 4)) for x in a]
    ari_cases.append({'a': a, 'b': b, 'ari': float(adjusted_rand_score(a, b))})

with open(OUT, 'w') as f:
    json.dump({
        'krippendorff2011': krippendorff2011,
        'alphaCases': alpha_cases,
        'kappa': kappa_cases,
        'ratingSet': rating_set,
        'crowdlab': crowdlab_case,
        'clustering': clustering,
        'ari': ari_cases,
    }, f, indent=1)
print('wrote', os.path.relpath(OUT))
print('Krippendorff 2011 exact:', {k: round(v, 4) for k, v in krippendorff2011['exact'].items()})
