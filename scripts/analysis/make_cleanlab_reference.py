#!/usr/bin/python3
"""Reference outputs of cleanlab's confident learning for Miru's core/analysis/confidentLearning.ts.

    /usr/bin/python3 scripts/analysis/make_cleanlab_reference.py CLEANLAB_CHECKOUT [--check]

CLEANLAB_CHECKOUT is a folder holding the `cleanlab` package (a git checkout of cleanlab/cleanlab, or any folder
with cleanlab/filter.py, count.py, rank.py and cleanlab/internal/). It is put first on sys.path, so that copy is the
one tested against. cleanlab is AGPL-licensed: keep it outside this repository. Needs numpy, scipy, scikit-learn
and pandas (Debian's python3 has them; the `python3` first on PATH may not). About 20 seconds, deterministic.
--check recomputes and compares with the committed files instead of writing them.

Writes test/fixtures/analysis/:
- cleanlab_reference.json: random cases. Predicted probabilities are Dirichlet draws centred on a true class, with
  2-7 classes, 20-2000 rows, balanced and skewed class priors, a missing class and classes of 1-3 examples; given
  labels are the true class with some flipped (uniformly, or to a neighbouring ordinal class). Probabilities are
  rounded to 8 decimals before cleanlab sees them, so the JSON numbers are exactly its inputs.
- cleanlab_examples.json: the hand-written examples of cleanlab's tests/test_filter_count.py, a small version of
  its make_data() (3 Gaussian classes, noisy labels, 3-fold cross-validated logistic regression), and tie cases
  small enough (at most 17 rows per sorted array) that numpy's argsort is stable, so the order is defined.

Each case holds the inputs and cleanlab's outputs: thresholds (count.get_confident_thresholds), the confident joint
uncalibrated and calibrated with its off-diagonal rows (count.compute_confident_joint), count.num_label_issues both
ways, the three rank.get_label_quality_scores and the adjusted ones (first 300 rows), filter.find_label_issues with every
filter_by x return_indices_ranked_by, and option variants (frac_noise, min_examples_per_class,
num_to_remove_per_class, rank_by_kwargs adjust_pred_probs).
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "test" / "fixtures" / "analysis"

FILTERS = [
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
]
RANKS = ["self_confidence", "normalized_margin", "confidence_weighted_entropy"]
PRUNING = ["prune_by_noise_rate", "prune_by_class", "both"]
SCORE_ROWS = 300


def load_cleanlab(checkout: Path):
    if not (checkout / "cleanlab" / "filter.py").exists():
        sys.exit(f"{checkout} has no cleanlab/filter.py; pass the folder that contains the cleanlab package.")
    sys.path.insert(0, str(checkout))
    import cleanlab.count as count  # noqa: E402
    import cleanlab.filter as filt  # noqa: E402
    import cleanlab.rank as rank  # noqa: E402

    return count, filt, rank


def ints(a) -> list[int]:
    return [int(x) for x in np.asarray(a).ravel()]


def floats(a) -> list[float]:
    return [float(x) for x in np.asarray(a).ravel()]


def matrix(a) -> list[list[float]]:
    return [[float(x) for x in row] for row in np.asarray(a)]


def describe(name: str, labels: np.ndarray, pred_probs: np.ndarray, cl, variants: list[dict], note: str = "") -> dict:
    count, filt, rank = cl
    k = pred_probs.shape[1]
    cj, off = count.compute_confident_joint(labels, pred_probs, calibrate=False, return_indices_of_off_diagonals=True)
    calibrated = count.compute_confident_joint(labels, pred_probs, calibrate=True)
    case = {
        "name": name,
        "note": note,
        "classes": k,
        "labels": ints(labels),
        "predProbs": matrix(pred_probs),
        "thresholds": floats(count.get_confident_thresholds(labels, pred_probs)),
        "confidentJoint": matrix(cj),
        "calibratedJoint": matrix(calibrated),
        "offDiagonal": ints(off),
        "numLabelIssues": {
            m: int(count.num_label_issues(labels, pred_probs, estimation_method=m))
            for m in ["off_diagonal", "off_diagonal_calibrated"]
        },
        # Scores of the first SCORE_ROWS rows only (the rankings below depend on all of them); keeps the file small.
        "scoreRows": min(len(labels), SCORE_ROWS),
        "scores": {m: floats(rank.get_label_quality_scores(labels, pred_probs, method=m)[:SCORE_ROWS]) for m in RANKS},
        "adjustedScores": {
            m: floats(rank.get_label_quality_scores(labels, pred_probs, method=m, adjust_pred_probs=True)[:SCORE_ROWS])
            for m in RANKS[:2]
        },
        "issues": {
            f: {r: ints(filt.find_label_issues(labels, pred_probs, filter_by=f, return_indices_ranked_by=r, n_jobs=1)) for r in RANKS}
            for f in FILTERS
        },
        "variants": [],
    }
    for v in variants:
        kwargs = {
            "filter_by": v.get("filterBy", "prune_by_noise_rate"),
            "return_indices_ranked_by": v.get("rankBy", "self_confidence"),
            "n_jobs": 1,
        }
        if "fracNoise" in v:
            kwargs["frac_noise"] = v["fracNoise"]
        if "minExamplesPerClass" in v:
            kwargs["min_examples_per_class"] = v["minExamplesPerClass"]
        if "numToRemovePerClass" in v:
            kwargs["num_to_remove_per_class"] = v["numToRemovePerClass"]
        if v.get("adjustPredProbs"):
            kwargs["rank_by_kwargs"] = {"adjust_pred_probs": True}
        case["variants"].append({"options": v, "issues": ints(filt.find_label_issues(labels, pred_probs, **kwargs))})
    return case


def removal_is_defined(labels, pred_probs, cl, minimum: int, frac: float) -> bool:
    """num_to_remove_per_class divides by each class's estimated noise rate; cleanlab returns garbage when it is 0."""
    count, filt, _ = cl
    cj = count.compute_confident_joint(labels, pred_probs)
    pcm = filt._keep_at_least_n_per_class(cj.T, minimum, frac_noise=frac)
    psy = pcm / np.sum(pcm, axis=1)
    noise = psy.sum(axis=1) - psy.diagonal()
    return bool(np.all(noise > 0))


def has_ties(labels: np.ndarray, pred_probs: np.ndarray, cl) -> bool:
    """Ties numpy's (unstable, above 17 values) argsort could order differently from Miru's lower-index rule."""
    _, _, rank = cl
    k = pred_probs.shape[1]
    for c in range(k):
        col = pred_probs[labels == c]
        if len(col) == 0:
            continue
        for j in range(k):
            key = col[:, c] - col[:, j] if j != c else col[:, c]
            if len(np.unique(key)) != len(key):
                return True
    for m in RANKS:
        s = rank.get_label_quality_scores(labels, pred_probs, method=m)
        if len(np.unique(s)) != len(s):
            return True
    return False


def dirichlet_case(rng, n: int, k: int, *, priors=None, strength=6.0, noise=0.15, ordinal=False, missing=None, tiny=None):
    """True classes from `priors`, probabilities ~ Dirichlet(1 + strength at the true class), some labels flipped."""
    priors = np.ones(k) / k if priors is None else np.asarray(priors, dtype=float) / np.sum(priors)
    true = rng.choice(k, size=n, p=priors)
    alpha = np.ones((n, k))
    alpha[np.arange(n), true] += strength
    probs = np.array([rng.dirichlet(a) for a in alpha])
    labels = true.copy()
    flip = rng.random(n) < noise
    for i in np.where(flip)[0]:
        if ordinal:
            step = rng.choice([-1, 1])
            labels[i] = min(k - 1, max(0, labels[i] + step))
        else:
            labels[i] = rng.choice([c for c in range(k) if c != true[i]])
    if missing is not None:
        labels[labels == missing] = (missing + 1) % k
    if tiny is not None:
        # Keep only a few examples of class `tiny` (cls, how many).
        cls, keep = tiny
        idx = np.where(labels == cls)[0]
        for i in idx[keep:]:
            labels[i] = (cls + 1) % k
    return labels, np.round(probs, 8)


RANDOM_CASES = [
    # name, n, k, options
    ("k2-n20", 20, 2, {}),
    ("k3-n20", 20, 3, {}),
    ("k4-n35", 35, 4, {"noise": 0.25}),
    ("k5-n50", 50, 5, {"ordinal": True}),
    ("k7-n60", 60, 7, {"ordinal": True, "noise": 0.3}),
    ("k2-n100-skewed", 100, 2, {"priors": [0.85, 0.15]}),
    ("k3-n100", 100, 3, {"strength": 3.0}),
    ("k4-n150-skewed", 150, 4, {"priors": [0.5, 0.3, 0.15, 0.05]}),
    ("k5-n200-ordinal", 200, 5, {"ordinal": True, "noise": 0.2}),
    ("k6-n200", 200, 6, {"noise": 0.1}),
    ("k7-n250-ordinal", 250, 7, {"ordinal": True, "priors": [1, 2, 4, 6, 4, 2, 1]}),
    ("k3-n400-noisy", 400, 3, {"noise": 0.35, "strength": 2.5}),
    ("k7-n500-ordinal", 500, 7, {"ordinal": True, "noise": 0.2, "strength": 4.0}),
    ("k5-n800", 800, 5, {"noise": 0.12}),
    ("k4-n1000", 1000, 4, {"noise": 0.2, "strength": 3.5}),
    ("k3-n2000-skewed", 2000, 3, {"priors": [0.6, 0.3, 0.1], "noise": 0.1}),
    ("k7-n2000-ordinal", 2000, 7, {"ordinal": True, "noise": 0.15, "strength": 5.0}),
    ("k5-n120-missing-class", 120, 5, {"missing": 4}),
    ("k4-n80-one-example-class", 80, 4, {"tiny": (3, 1)}),
    ("k4-n90-two-example-class", 90, 4, {"tiny": (0, 2), "noise": 0.2}),
    ("k6-n150-three-example-class", 150, 6, {"tiny": (5, 3), "ordinal": True}),
    ("k3-n60-weak-model", 60, 3, {"strength": 0.8, "noise": 0.3}),
]


def random_variants(labels, probs, cl, n: int) -> list[dict]:
    variants: list[dict] = []
    for f in PRUNING:
        variants.append({"filterBy": f, "fracNoise": 0.5})
        variants.append({"filterBy": f, "fracNoise": 0.83, "rankBy": "normalized_margin"})
        variants.append({"filterBy": f, "minExamplesPerClass": max(2, n // 12)})
        variants.append({"filterBy": f, "minExamplesPerClass": 0})
    variants.append({"filterBy": "prune_by_noise_rate", "minExamplesPerClass": max(5, n // 4), "fracNoise": 0.7})
    for r in RANKS[:2]:
        variants.append({"filterBy": "prune_by_noise_rate", "rankBy": r, "adjustPredProbs": True})
        variants.append({"filterBy": "low_normalized_margin", "rankBy": r, "adjustPredProbs": True})
    k = probs.shape[1]
    counts = np.bincount(labels, minlength=k)
    if removal_is_defined(labels, probs, cl, 1, 1.0):
        per_class = [int(min(c // 3, 1 + (i % 3))) for i, c in enumerate(counts)]
        variants.append({"filterBy": "prune_by_class", "numToRemovePerClass": per_class})
        variants.append({"filterBy": "both", "numToRemovePerClass": per_class, "rankBy": "normalized_margin"})
        variants.append({"filterBy": "prune_by_noise_rate", "numToRemovePerClass": per_class})
        if counts.min() >= 3:
            variants.append({"filterBy": "prune_by_class", "numToRemovePerClass": 2})
    return variants


def make_random(cl) -> list[dict]:
    cases = []
    for index, (name, n, k, opts) in enumerate(RANDOM_CASES):
        seed = 1000 + index
        while True:
            rng = np.random.default_rng(seed)
            labels, probs = dirichlet_case(rng, n, k, **opts)
            if len(np.unique(labels)) >= 2 and not has_ties(labels, probs, cl):
                break
            seed += 100
        note = f"seed {seed}; " + ", ".join(f"{a}={b}" for a, b in opts.items())
        cases.append(describe(name, labels, probs, cl, random_variants(labels, probs, cl, n), note))
    return cases


def cleanlab_test_examples(cl) -> list[dict]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    cases = []
    # tests/test_filter_count.py: pred_probs_ / labels_ (every filter flags only row 2).
    pp = np.array(
        [
            [0.9, 0.1, 0],
            [0.6, 0.2, 0.2],
            [0.1, 0, 0.9],
            [0.1, 0.8, 0.1],
            [0.1, 0.8, 0.1],
            [0.1, 0.8, 0.1],
            [0.1, 0.8, 0.1],
            [0.1, 0.8, 0.1],
            [0.1, 0.8, 0.1],
            [0.1, 0.1, 0.8],
        ]
    )
    ll = np.array([0, 0, 1, 1, 1, 1, 1, 1, 1, 2])
    cases.append(describe("cleanlab-test-filter-count-simple", ll, pp, cl, [{"filterBy": f, "fracNoise": 0.5} for f in PRUNING], "tests/test_filter_count.py pred_probs_, labels_"))
    # tests/test_filter_count.py test_predicted_neq_given_filter.
    pp = np.array([[0.9, 0.1, 0], [0.6, 0.2, 0.2], [0.3, 0.3, 0.4], [0.1, 0.1, 0.8], [0.4, 0.5, 0.1]])
    ll = np.array([0, 0, 1, 1, 2])
    cases.append(describe("cleanlab-test-predicted-neq-given", ll, pp, cl, [], "tests/test_filter_count.py test_predicted_neq_given_filter"))
    # tests/test_filter_count.py test_issue_158.
    pp = np.array(
        [
            [0.27916167, 0.14589103, 0.29264585, 0.28230144],
            [0.13429196, 0.12536383, 0.47943979, 0.26090442],
            [0.41348584, 0.13463275, 0.25845595, 0.19342546],
            [0.27753469, 0.12295569, 0.33125886, 0.26825075],
            [0.11649856, 0.11219034, 0.51857122, 0.25273988],
            [0.38010026, 0.25572261, 0.13305410, 0.23112304],
            [0.31583755, 0.13630690, 0.29246806, 0.25538750],
            [0.30240076, 0.16925207, 0.26499082, 0.26335636],
            [0.44524505, 0.27410085, 0.08305069, 0.19760341],
            [0.22903975, 0.07783631, 0.38035414, 0.31276980],
            [0.25071560, 0.12072900, 0.32551729, 0.30303812],
            [0.43809229, 0.14401381, 0.20839300, 0.20950090],
            [0.20749181, 0.11883556, 0.38402152, 0.28965111],
            [0.43840254, 0.13538447, 0.24518806, 0.18102493],
            [0.28504779, 0.10309750, 0.34258602, 0.26926868],
            [0.38425408, 0.29168969, 0.15181255, 0.17224368],
            [0.19339907, 0.10804265, 0.37570368, 0.32285460],
            [0.21509781, 0.07190167, 0.38914722, 0.32385330],
            [0.27040334, 0.13037840, 0.32842320, 0.27079507],
            [0.40590210, 0.16713560, 0.24889193, 0.17807036],
        ]
    )
    ll = np.array([3, 3, 1, 3, 0, 2, 2, 2, 0, 2, 2, 1, 0, 0, 0, 0, 2, 1, 3, 3])
    variants = [{"filterBy": f, "fracNoise": 0.6} for f in PRUNING] + [{"filterBy": "both", "minExamplesPerClass": 4}]
    cases.append(describe("cleanlab-test-issue-158", ll, pp, cl, variants, "tests/test_filter_count.py test_issue_158"))

    # A small version of make_data() in tests/test_filter_count.py: three Gaussian classes, labels flipped by a fixed
    # noise matrix, out-of-sample probabilities from 3-fold cross-validated logistic regression.
    def make_data(sizes, seed):
        rng = np.random.default_rng(seed)
        means = [[3, 2], [7, 7], [0, 8]]
        covs = [[[5, -1.5], [-1.5, 1]], [[1, 0.5], [0.5, 4]], [[5, 1], [1, 5]]]
        x = np.vstack([rng.multivariate_normal(means[c], covs[c], size=s) for c, s in enumerate(sizes)])
        true = np.hstack([[c] * s for c, s in enumerate(sizes)])
        noise_matrix = np.array([[0.8, 0.1, 0.15], [0.1, 0.75, 0.05], [0.1, 0.15, 0.8]])  # P(given | true), columns sum to 1
        labels = np.array([rng.choice(3, p=noise_matrix[:, t]) for t in true])
        probs = np.zeros((len(labels), 3))
        folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
        for train, hold in folds.split(x, labels):
            model = LogisticRegression().fit(x[train], labels[train])
            probs[hold] = model.predict_proba(x[hold])
        return labels, np.round(probs, 8)

    labels, probs = make_data([80, 40, 40], 1)
    n = len(labels)
    cases.append(describe("cleanlab-test-make-data", labels, probs, cl, random_variants(labels, probs, cl, n), "make_data(sizes=[80, 40, 40]) analogue"))
    labels, probs = make_data([3, 3, 3], 2)
    cases.append(describe("cleanlab-test-prune-on-small-data", labels, probs, cl, [{"filterBy": f, "minExamplesPerClass": 3} for f in PRUNING], "test_prune_on_small_data analogue (3 per class)"))
    return cases


def tie_cases(cl) -> list[dict]:
    """Exact ties, zeros and duplicated rows, each sorted array at most 17 long (numpy's stable insertion sort)."""
    cases = []
    pp = np.array(
        [
            [0.5, 0.5],
            [0.5, 0.5],
            [0.7, 0.3],
            [0.7, 0.3],
            [0.3, 0.7],
            [0.3, 0.7],
            [0.9, 0.1],
            [0.2, 0.8],
            [0.5, 0.5],
            [0.1, 0.9],
            [0.6, 0.4],
            [0.4, 0.6],
        ]
    )
    ll = np.array([0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0])
    cases.append(describe("ties-binary", ll, pp, cl, [{"filterBy": f, "fracNoise": 0.5} for f in PRUNING], "equal probabilities, duplicated rows"))
    pp = np.array(
        [
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
            [0.0, 1.0, 0.0],
            [0.2, 0.4, 0.4],
            [0.4, 0.4, 0.2],
            [0.25, 0.5, 0.25],
            [0.0, 0.0, 1.0],
            [1.0, 0.0, 0.0],
            [0.34, 0.33, 0.33],
            [0.1, 0.1, 0.8],
            [0.1, 0.8, 0.1],
            [0.8, 0.1, 0.1],
            [0.05, 0.9, 0.05],
        ]
    )
    ll = np.array([0, 0, 1, 1, 2, 0, 2, 2, 2, 1, 0, 1, 2, 1])
    cases.append(describe("ties-zeros-and-ones", ll, pp, cl, [{"filterBy": f, "minExamplesPerClass": 2} for f in PRUNING], "zero and one probabilities (entropy 0), three-way ties"))
    pp = np.array(
        [
            [0.6, 0.3, 0.1, 0.0],
            [0.6, 0.3, 0.1, 0.0],
            [0.6, 0.3, 0.1, 0.0],
            [0.1, 0.6, 0.3, 0.0],
            [0.1, 0.6, 0.3, 0.0],
            [0.3, 0.6, 0.1, 0.0],
            [0.0, 0.1, 0.6, 0.3],
            [0.0, 0.3, 0.6, 0.1],
            [0.0, 0.0, 0.3, 0.7],
            [0.0, 0.1, 0.2, 0.7],
            [0.7, 0.2, 0.1, 0.0],
            [0.0, 0.2, 0.1, 0.7],
            [0.25, 0.25, 0.25, 0.25],
            [0.25, 0.25, 0.25, 0.25],
        ]
    )
    ll = np.array([0, 1, 2, 1, 0, 1, 2, 3, 3, 2, 3, 0, 1, 2])
    cases.append(describe("ties-ordinal-4", ll, pp, cl, [{"filterBy": f, "fracNoise": 0.5} for f in PRUNING], "duplicated rows over four ordinal classes, uniform rows"))
    # Probabilities exactly at a class threshold less 1e-6 (counted as confident: the comparison is >=).
    count, _, _ = cl
    rng = np.random.default_rng(7)
    ll = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 1, 2])
    pp = np.round(np.array([rng.dirichlet(a) for a in np.ones(3) + 4 * np.eye(3)[ll]]), 8)
    t = count.get_confident_thresholds(ll, pp)
    for row, c in [(12, 1), (13, 2), (14, 0)]:
        pp[row, c] = t[c] - 1e-6  # not a member of class c, so the threshold does not move
    t2 = count.get_confident_thresholds(ll, pp)
    assert np.array_equal(t, t2) and all(pp[r, c] >= t[c] - 1e-6 for r, c in [(12, 1), (13, 2), (14, 0)])
    cases.append(describe("threshold-boundary", ll, pp, cl, [{"filterBy": f, "minExamplesPerClass": 0} for f in PRUNING], "rows 12-14 sit exactly at a threshold less 1e-6"))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkout", type=Path, help="folder containing the cleanlab package")
    parser.add_argument("--check", action="store_true", help="compare with the committed fixtures instead of writing")
    args = parser.parse_args()
    cl = load_cleanlab(args.checkout.resolve())
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    source = str(Path(cl[1].__file__).resolve())
    files = {
        "cleanlab_reference.json": {"cases": make_random(cl)},
        "cleanlab_examples.json": {"cases": cleanlab_test_examples(cl) + tie_cases(cl)},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    failed = False
    for name, payload in files.items():
        payload = {
            "generator": "scripts/analysis/make_cleanlab_reference.py",
            "cleanlab": source.replace(str(args.checkout.resolve()), "<checkout>"),
            "numpy": np.__version__,
            **payload,
        }
        text = json.dumps(payload, separators=(",", ":")) + "\n"
        path = OUT / name
        if args.check:
            same = path.exists() and json.loads(path.read_text())["cases"] == json.loads(text)["cases"]
            print(f"{name}: {'matches' if same else 'DIFFERS'}")
            failed |= not same
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO)} ({len(text) // 1024} KiB, {len(payload['cases'])} cases)")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
