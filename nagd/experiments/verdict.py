"""The statistics behind a verdict on a claimed ranking: Welch's t-test per pair, Holm's correction.

A paper ranks k optimizers by the mean of a metric over its runs; we have a few runs of each,
with their own seeds (so two optimizers' samples are independent: an unpaired test). Every pair
of the ranking is tested with Welch's t-test (unequal variances), and the family of all
``k (k - 1) / 2`` pairs is corrected with Holm's step-down procedure, so that the chance of
calling any pair significant by accident is at most ``alpha`` (family-wise). A pair is then

- *in the claimed order* when it differs significantly in the claimed direction,
- *reversed* when it differs significantly the other way,
- *not separated* otherwise.

The ranking as a whole (`ordering_outcome`) is

``"confirmed"``
    every adjacent pair of the claimed order is significantly in the claimed direction (so,
    by transitivity of the means, the whole order is supported) and no pair is reversed;
``"does not hold"``
    some pair is significantly reversed;
``"not contradicted"``
    neither: no pair is reversed, but some neighbours are not separated;
``"undecided"``
    some optimizer has fewer than two runs (no variance, no test).

`mean_se` is the mean ± standard error that every report shows. The module is pure statistics on
plain arrays; `nagd.experiments.mnist` turns its results into
the report's sentences.
"""
import math
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["ALPHA", "OUTCOMES", "PairTest", "Ordering", "mean_se", "welch", "holm", "pair_tests",
           "ordering_outcome", "kendall_tau", "observed_order"]

ALPHA = 0.05
"""Family-wise error rate of the Holm-corrected pair tests."""

OUTCOMES = ("confirmed", "not contradicted", "does not hold", "undecided")


@dataclass(frozen=True)
class PairTest:
    """One pair of a claimed ranking and its test.

    Attributes
    ----------
    better, worse : str
        The names in the claimed order: ``better`` is ranked above ``worse``.
    difference : float
        Mean advantage of ``better`` over ``worse`` in the direction of the claim (positive when
        our means agree with it), e.g. ``mean(acc_better) - mean(acc_worse)``, or
        ``mean(loss_worse) - mean(loss_better)`` for a metric where lower is better.
    se : float
        Standard error of that difference, ``sqrt(s_a^2 / n_a + s_b^2 / n_b)``.
    t, df, p : float
        Welch's statistic (of ``difference``), its Welch-Satterthwaite degrees of freedom and
        the two-sided p-value; NaN when a side has fewer than two runs.
    p_holm : float
        ``p`` after Holm's correction over the family the pair was tested in.
    alpha : float
        The family-wise level.
    """

    better: str
    worse: str
    difference: float
    se: float
    t: float
    df: float
    p: float
    p_holm: float
    alpha: float = ALPHA

    @property
    def significant(self):
        """True when the Holm-corrected p-value is at most ``alpha``."""
        return not math.isnan(self.p_holm) and self.p_holm <= self.alpha

    @property
    def status(self):
        """``"in order"``, ``"reversed"`` (both significant), ``"not separated"`` or ``"untested"``."""
        if math.isnan(self.p_holm):
            return "untested"
        if not self.significant:
            return "not separated"
        return "in order" if self.difference > 0 else "reversed"


@dataclass(frozen=True)
class Ordering:
    """The verdict on one claimed ranking (see the module docstring).

    Attributes
    ----------
    outcome : str
        One of `OUTCOMES`.
    claimed : tuple of str
        The claimed order, best first (only the names that have samples).
    observed : tuple of str
        The same names ordered by our means, best first.
    pairs : tuple of PairTest
        Every pair of ``claimed``, ``better`` before ``worse`` in the claimed order.
    tau : float
        Kendall's tau between ``observed`` and ``claimed`` (`kendall_tau`).
    runs : dict
        ``{name: number of values}``.
    alpha : float
    """

    outcome: str
    claimed: tuple
    observed: tuple
    pairs: tuple
    tau: float
    runs: dict
    alpha: float = ALPHA

    def by_status(self, status):
        """The pairs whose `PairTest.status` is ``status``."""
        return [p for p in self.pairs if p.status == status]

    @property
    def adjacent(self):
        """The pairs of neighbours in the claimed order."""
        neighbours = set(zip(self.claimed, self.claimed[1:]))
        return [p for p in self.pairs if (p.better, p.worse) in neighbours]


def _sample(values):
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    return v[np.isfinite(v)]


def mean_se(values, axis=None):
    """Mean and standard error of the mean, ``s / sqrt(n)`` with the sample standard deviation (ddof 1).

    The one place the reports compute a mean ± SE (tables, and the bands of the figures).

    Parameters
    ----------
    values : array_like of float or None
        None and non-finite values are left out.
    axis : int or None
        None: all values are one sample; an axis (e.g. 0 for the runs' curves): one sample at
        each position along the other axes.

    Returns
    -------
    mean, se : float, or ndarray over the other axes
        The mean is NaN where no value is left, the SE where fewer than two are.
    """
    if axis is None:
        v = _sample(values)
        mean = float(v.mean()) if v.size else math.nan
        return mean, (float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan)
    a = np.array(values, dtype=np.float64)          # None -> NaN
    a[~np.isfinite(a)] = np.nan
    n = np.sum(np.isfinite(a), axis=axis)
    with warnings.catch_warnings():                 # no value (or one) at a position: NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(a, axis=axis)
        sd = np.nanstd(a, axis=axis, ddof=1)
    return mean, np.where(n > 1, sd / np.sqrt(np.maximum(n, 1)), np.nan)


def welch(a, b):
    """Welch's two-sample t-test of ``mean(a) - mean(b)`` (unequal variances, two-sided).

    Parameters
    ----------
    a, b : array_like of shape (n_a,), (n_b,), float
        The two samples (None and non-finite values are left out).

    Returns
    -------
    t : float
        ``(mean(a) - mean(b)) / sqrt(var(a)/n_a + var(b)/n_b)`` with sample variances (ddof 1);
        +-inf when both variances are 0 and the means differ, 0 when both samples are constant and
        equal.
    df : float
        The Welch-Satterthwaite degrees of freedom.
    p : float
        Two-sided p-value from Student's t with ``df`` degrees of freedom
        (``scipy.stats.ttest_ind(a, b, equal_var=False)``); 0 and 1 in the two degenerate cases.
        All three are NaN when a sample has fewer than two values.
    """
    from scipy import stats

    a, b = _sample(a), _sample(b)
    if a.size < 2 or b.size < 2:
        return math.nan, math.nan, math.nan
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    if va + vb == 0.0:                    # both constant: the test is undefined, the answer is not
        diff = a.mean() - b.mean()
        if diff == 0.0:
            return 0.0, math.nan, 1.0
        return math.copysign(math.inf, diff), math.nan, 0.0
    with warnings.catch_warnings():       # nearly identical data: scipy warns of precision loss
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ttest_ind(a, b, equal_var=False)
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    return float(res.statistic), float(df), float(res.pvalue)


def holm(pvalues, alpha=ALPHA):
    """Holm's step-down correction of a family of p-values.

    The i-th smallest of m p-values is multiplied by ``m - i + 1`` (i from 1), the products are
    made non-decreasing in that order and capped at 1. Rejecting where the adjusted value is at
    most ``alpha`` keeps the family-wise error rate at ``alpha`` whatever the dependence.

    Parameters
    ----------
    pvalues : array_like of shape (m,), float
        NaN entries (untested pairs) stay NaN and do not count in m.
    alpha : float, default 0.05

    Returns
    -------
    adjusted : ndarray of shape (m,), float64
    reject : ndarray of shape (m,), bool
        ``adjusted <= alpha``.

    Raises
    ------
    ValueError
        If a p-value is outside [0, 1] or alpha is not in (0, 1).
    """
    p = np.asarray(pvalues, dtype=np.float64).ravel()
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    tested = ~np.isnan(p)
    if np.any((p[tested] < 0.0) | (p[tested] > 1.0)):
        raise ValueError(f"p-values must lie in [0, 1], got {p[tested].tolist()!r}")
    adjusted = np.full(p.shape, np.nan)
    idx = np.flatnonzero(tested)
    m = idx.size
    running = 0.0
    for rank, k in enumerate(idx[np.argsort(p[idx], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[k]))
        adjusted[k] = running
    return adjusted, np.where(tested, adjusted <= alpha, False)


def pair_tests(samples, claimed, higher_is_better, alpha=ALPHA):
    """Welch's test of every pair of a claimed order, Holm-corrected over all of them.

    Parameters
    ----------
    samples : dict of str to array_like of float
        The runs' values of the metric, per name.
    claimed : sequence of str
        The claimed order, best first; names without samples are left out.
    higher_is_better : bool
        True for accuracy, False for loss.
    alpha : float, default 0.05
        Family-wise level.

    Returns
    -------
    list of PairTest
        ``len(names) * (len(names) - 1) / 2`` tests, in the order (0, 1), (0, 2), ..., (1, 2), ...
    """
    names = [n for n in claimed if n in samples and _sample(samples[n]).size]
    sign = 1.0 if higher_is_better else -1.0
    raw = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            xa, xb = _sample(samples[a]), _sample(samples[b])
            t, df, p = welch(xa, xb)
            se = (math.sqrt(xa.var(ddof=1) / xa.size + xb.var(ddof=1) / xb.size)
                  if xa.size > 1 and xb.size > 1 else math.nan)
            raw.append((a, b, sign * float(xa.mean() - xb.mean()), se, sign * t, df, p))
    adjusted, _ = holm([r[-1] for r in raw], alpha) if raw else (np.array([]), None)
    return [PairTest(a, b, d, se, t, df, p, float(q), alpha)
            for (a, b, d, se, t, df, p), q in zip(raw, adjusted)]


def observed_order(samples, names, higher_is_better):
    """``names`` sorted by the mean of their samples, best first (ties keep the given order).

    Parameters
    ----------
    samples : dict of str to array_like of float
    names : sequence of str
    higher_is_better : bool

    Returns
    -------
    list of str
    """
    means = {n: float(_sample(samples[n]).mean()) for n in names}
    return sorted(names, key=lambda n: -means[n] if higher_is_better else means[n])


def kendall_tau(observed, claimed):
    """Kendall's tau (tau-a) between two orders of the same names.

    Parameters
    ----------
    observed, claimed : sequence of str
        The same names, best first.

    Returns
    -------
    float
        ``(concordant - discordant) / (n (n - 1) / 2)``: 1 for the same order, -1 for the reverse;
        NaN for fewer than two names.

    Raises
    ------
    ValueError
        If the two sequences do not hold the same names.
    """
    if sorted(observed) != sorted(claimed):
        raise ValueError(f"the orders must hold the same names, got {list(observed)!r} and {list(claimed)!r}")
    n = len(claimed)
    if n < 2:
        return math.nan
    pos = {name: i for i, name in enumerate(observed)}
    score = sum(1 if pos[a] < pos[b] else -1 for i, a in enumerate(claimed) for b in claimed[i + 1:])
    return score / (n * (n - 1) / 2)


def ordering_outcome(samples, claimed, higher_is_better, alpha=ALPHA):
    """Whether our runs confirm, do not contradict, or reverse a claimed ranking.

    Parameters
    ----------
    samples : dict of str to array_like of float
        The runs' values of the metric, per name (one value per run; None and non-finite values,
        e.g. of diverged runs, are left out).
    claimed : sequence of str
        The claimed order, best first; names without samples are left out.
    higher_is_better : bool
    alpha : float, default 0.05
        Family-wise level of the Holm-corrected pair tests.

    Returns
    -------
    Ordering
        ``outcome`` is ``"undecided"`` when a name has fewer than two values, else
        ``"does not hold"`` when some pair is significantly reversed, ``"confirmed"`` when every
        adjacent pair is significantly in order, and ``"not contradicted"`` otherwise.
    """
    names = [n for n in claimed if n in samples and _sample(samples[n]).size]
    runs = {n: int(_sample(samples[n]).size) for n in names}
    pairs = tuple(pair_tests(samples, names, higher_is_better, alpha))
    observed = tuple(observed_order(samples, names, higher_is_better))
    tau = kendall_tau(observed, names)
    if len(names) < 2 or min(runs.values()) < 2:
        outcome = "undecided"
    elif any(p.status == "reversed" for p in pairs):
        outcome = "does not hold"
    elif all(p.status == "in order" for p in pairs if (p.better, p.worse) in set(zip(names, names[1:]))):
        outcome = "confirmed"
    else:
        outcome = "not contradicted"
    return Ordering(outcome, tuple(names), observed, pairs, tau, runs, alpha)
