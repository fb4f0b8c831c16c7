"""Statistics for the evaluation: Spearman with scipy, permutation and bootstrap inference, BH, Wilcoxon."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Sequence

import numpy as np
from scipy import stats

MIN_N = 3  # fewer points than this: no correlation is reported (Spearman needs 3 for any p-value)
CORR_KEYS = ("rho", "p", "p_perm", "p_fdr", "ci_low", "ci_high", "n")


@dataclass(frozen=True)
class Inference:
    """Resampling settings shared by every correlation (from params `evaluate:`)."""

    seed: int
    n_resamples: int
    confidence_level: float = 0.95


def spearman_rho(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman's rho along `axis` (Pearson of average ranks), vectorized for resampling; nan where a side is constant."""
    rx = stats.rankdata(x, axis=axis)
    ry = stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(axis=axis) / np.sqrt((rx * rx).sum(axis=axis) * (ry * ry).sum(axis=axis))


def _rho_resampled(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """rho for bootstrap resamples: a resample that repeats one value on a side (likely with 6 points) counts as 0.

    Such a draw carries no association; counting it as 0 rather than nan keeps the CI defined, and widens it
    towards 0 (conservative) instead of dropping the draw.
    """
    return np.nan_to_num(spearman_rho(x, y, axis=axis), nan=0.0)


def _finite(value: Any) -> float | None:
    """A float, or None for nan/inf/None (degenerate results are nulls, never numbers)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _pairs(x: Sequence[float | None], y: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    """The positions where both vectors have a finite value."""
    a = np.array([np.nan if v is None else v for v in x], dtype=float)
    b = np.array([np.nan if v is None else v for v in y], dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def correlate(x: Sequence[float | None], y: Sequence[float | None], inf: Inference) -> dict[str, Any]:
    """Spearman rho with scipy's p, a permutation p and a bootstrap CI over the paired points.

    Pairs with a missing side are dropped; n < 3 or a constant side gives nulls (n is still reported).
    p_fdr is filled in later, across a family of correlations (see `with_fdr`).
    """
    a, b = _pairs(x, y)
    out: dict[str, Any] = dict.fromkeys(CORR_KEYS)
    out["n"] = int(a.size)
    if a.size < MIN_N or np.ptp(a) == 0 or np.ptp(b) == 0:
        return out
    with warnings.catch_warnings():
        # A degenerate CI (e.g. a constant jackknife with 3 points) comes back as nan, which becomes null.
        warnings.simplefilter("ignore")
        res = stats.spearmanr(a, b)
        # Permuting one side only: n! pairings, so small n (<= 7 at 9999 resamples) is an exact test.
        perm = stats.permutation_test(
            (a,), lambda x, axis=-1: spearman_rho(x, b, axis=axis), permutation_type="pairings", vectorized=True,
            n_resamples=inf.n_resamples, alternative="two-sided", rng=np.random.default_rng(inf.seed))
        boot = stats.bootstrap(
            (a, b), _rho_resampled, paired=True, vectorized=True, n_resamples=inf.n_resamples,
            confidence_level=inf.confidence_level, method="BCa", rng=np.random.default_rng(inf.seed))
    out.update(rho=_finite(res.statistic), p=_finite(res.pvalue), p_perm=_finite(perm.pvalue),
               ci_low=_finite(boot.confidence_interval.low), ci_high=_finite(boot.confidence_interval.high))
    return out


def bh(pvalues: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values (scipy); nulls stay null and do not count as tests."""
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    out: list[float | None] = [None] * len(pvalues)
    if idx:
        adjusted = stats.false_discovery_control([pvalues[i] for i in idx], method="bh")
        for i, q in zip(idx, adjusted):
            out[i] = _finite(q)
    return out


def with_fdr(results: list[dict[str, Any]], key: str = "p_perm") -> list[dict[str, Any]]:
    """The family's results with p_fdr = BH over their permutation p-values."""
    adjusted = bh([r[key] for r in results])
    return [{**r, "p_fdr": q} for r, q in zip(results, adjusted)]


def wilcoxon_pairs(matrix: dict[str, Sequence[float | None]], alpha: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Paired Wilcoxon signed-rank test for every pair of rows (countries) over their columns (items).

    Returns one record per pair and the shares of pairs with p <= alpha, raw and after BH across pairs.
    A pair whose differences are all zero (or fewer than one usable item) gets a null p and is left out of the shares.
    """
    names = list(matrix)
    records = []
    for a, b in combinations(names, 2):
        x, y = _pairs(matrix[a], matrix[b])
        stat = p = None
        if x.size and np.any(x != y):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = stats.wilcoxon(x, y)
            stat, p = _finite(res.statistic), _finite(res.pvalue)
        records.append({"country_a": a, "country_b": b, "n": int(x.size), "statistic": stat, "p": p})
    adjusted = bh([r["p"] for r in records])
    for r, q in zip(records, adjusted):
        r["p_fdr"] = q
    tested = [r for r in records if r["p"] is not None]
    summary = {
        "pairs": len(records),
        "tested": len(tested),
        "share_raw": _finite(sum(r["p"] <= alpha for r in tested) / len(tested)) if tested else None,
        "share_fdr": _finite(sum(r["p_fdr"] <= alpha for r in tested) / len(tested)) if tested else None,
    }
    return records, summary


def rounded(obj: Any, digits: int = 6) -> Any:
    """Floats rounded everywhere in a nested structure, so reruns write byte-identical files."""
    if isinstance(obj, float):
        return round(obj, digits) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [rounded(v, digits) for v in obj]
    return obj
