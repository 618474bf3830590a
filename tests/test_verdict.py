"""The statistics of the section-4 verdict: Welch's test, Holm's correction, the four outcomes of a ranking."""
import math

import numpy as np
import pytest
from scipy import stats

from nagd.experiments import verdict

PAPER = ("sgd_momentum", "sgd", "nasgd", "adam", "rmsprop", "adagrad")


def _spread(center, width, n=5):
    """n values evenly spread around center (sample sd grows with width)."""
    return list(center + width * np.linspace(-1.0, 1.0, n))


def test_mean_se_is_scipys_sem_over_the_finite_values():
    values = [0.91, 0.93, None, 0.95, float("nan"), 0.9]
    finite = [0.91, 0.93, 0.95, 0.9]
    mean, se = verdict.mean_se(values)
    assert mean == pytest.approx(np.mean(finite), rel=1e-15) and se == pytest.approx(stats.sem(finite), rel=1e-15)
    assert verdict.mean_se([0.5]) == (0.5, pytest.approx(math.nan, nan_ok=True))
    assert all(math.isnan(v) for v in verdict.mean_se([None, float("inf")]))
    curves = np.array([[1.0, 2.0, np.nan], [3.0, np.nan, np.nan], [5.0, 4.0, 7.0]])   # runs x points
    mean, se = verdict.mean_se(curves, axis=0)
    assert np.allclose(mean, [3.0, 3.0, 7.0], rtol=1e-15)
    assert se[0] == pytest.approx(stats.sem([1.0, 3.0, 5.0]), rel=1e-15)
    assert se[1] == pytest.approx(stats.sem([2.0, 4.0]), rel=1e-15) and math.isnan(se[2])


def test_welch_matches_the_hand_computation():
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0, 10.0]
    # means 2.5 and 6; squared standard errors var/n: (5/3)/4 = 5/12 and 10/5 = 2
    t_hand = (2.5 - 6.0) / math.sqrt(5 / 12 + 2)
    df_hand = (5 / 12 + 2) ** 2 / ((5 / 12) ** 2 / 3 + 2 ** 2 / 4)      # = 2523/457
    p_hand = 2 * stats.t.sf(abs(t_hand), df_hand)
    t, df, p = verdict.welch(a, b)
    assert t == pytest.approx(t_hand, rel=1e-12) and t == pytest.approx(-2.2514363, rel=1e-7)
    assert df == pytest.approx(2523 / 457, rel=1e-12)
    assert p == pytest.approx(p_hand, rel=1e-10) and p == pytest.approx(0.0691336, rel=1e-5)
    # unequal variances matter: the pooled (Student) test gives another p
    assert abs(p - stats.ttest_ind(a, b).pvalue) > 1e-3


def test_welch_degenerate_samples():
    assert all(math.isnan(v) for v in verdict.welch([1.0], [2.0, 3.0]))           # one run: no variance
    assert verdict.welch([1.0, 1.0], [1.0, 1.0, None])[::2] == (0.0, 1.0)          # equal constants
    t, _, p = verdict.welch([2.0, 2.0], [1.0, 1.0])
    assert t == math.inf and p == 0.0


def test_holm_against_the_hand_computation():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> 0.06 (kept non-decreasing)
    adjusted, reject = verdict.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02], rtol=1e-12)
    assert reject.tolist() == [True, False, False, True]
    adjusted, reject = verdict.holm([0.2, math.nan, 0.9])       # an untested pair is not counted: m = 2
    assert adjusted[0] == pytest.approx(0.4) and math.isnan(adjusted[1]) and adjusted[2] == 0.9
    assert reject.tolist() == [False, False, False]
    with pytest.raises(ValueError, match="p-values must lie in"):
        verdict.holm([1.5])
    with pytest.raises(ValueError, match="alpha must be in"):
        verdict.holm([0.1], alpha=0.0)


def test_pair_tests_are_holm_corrected_over_the_family():
    """Three optimizers 1.3 apart, sd 0.5 and 3 runs each: every neighbour has raw p = 0.033 < 0.05."""
    x = np.array([0.0, 0.5, 1.0])
    samples = {"a": x + 2.6, "b": x + 1.3, "c": x}
    pairs = verdict.pair_tests(samples, ["a", "b", "c"], higher_is_better=True)
    assert [(p.better, p.worse) for p in pairs] == [("a", "b"), ("a", "c"), ("b", "c")]
    se = math.sqrt(2 * 0.25 / 3)                                   # both sample variances are 0.25
    p_near = 2 * stats.t.sf(1.3 / se, 4)                           # equal variances and sizes: df = 4
    p_far = 2 * stats.t.sf(2.6 / se, 4)
    assert p_near == pytest.approx(0.0334, abs=1e-4) and p_far == pytest.approx(0.0031, abs=1e-4)
    for p, raw in zip(pairs, (p_near, p_far, p_near)):
        assert p.p == pytest.approx(raw, rel=1e-9) and p.df == pytest.approx(4.0)
        assert p.se == pytest.approx(se) and p.difference > 0
    # Holm: a-c times 3, then a-b times 2, then b-c times 1 but not below a-b's
    assert [p.p_holm for p in pairs] == pytest.approx([2 * p_near, 3 * p_far, 2 * p_near], rel=1e-9)
    assert [p.status for p in pairs] == ["not separated", "in order", "not separated"]
    # uncorrected, both neighbours would be significant and the order confirmed; corrected it is not
    o = verdict.ordering_outcome(samples, ["a", "b", "c"], higher_is_better=True)
    assert o.outcome == "not contradicted"
    assert [p.status for p in o.adjacent] == ["not separated", "not separated"]


def test_loss_pairs_count_lower_as_better():
    samples = {"a": _spread(0.10, 0.001), "b": _spread(0.20, 0.001)}
    (p,) = verdict.pair_tests(samples, ["a", "b"], higher_is_better=False)
    assert p.difference == pytest.approx(0.10) and p.t > 0 and p.status == "in order"
    (p,) = verdict.pair_tests(samples, ["b", "a"], higher_is_better=False)
    assert p.difference == pytest.approx(-0.10) and p.t < 0 and p.status == "reversed"


def _six(means, width, n=5):
    return {name: _spread(m, width, n) for name, m in zip(PAPER, means)}


def test_confirmed_every_neighbour_significantly_in_order():
    o = verdict.ordering_outcome(_six([0.990, 0.989, 0.988, 0.987, 0.986, 0.985], 1e-4), PAPER, True)
    assert o.outcome == "confirmed"
    assert len(o.pairs) == 15 and len(o.adjacent) == 5 and o.tau == 1.0 and o.observed == PAPER
    assert o.runs == dict.fromkeys(PAPER, 5)


def test_does_not_hold_when_a_pair_is_significantly_reversed():
    means = [0.985, 0.989, 0.988, 0.987, 0.986, 0.990]      # the paper's first is ours fifth, its last ours first
    o = verdict.ordering_outcome(_six(means, 1e-4), PAPER, True)
    assert o.outcome == "does not hold"
    assert ("sgd_momentum", "adagrad") in {(p.better, p.worse) for p in o.by_status("reversed")}
    assert o.observed[0] == "adagrad" and o.tau < 1.0


def test_not_contradicted_when_the_means_agree_but_nothing_is_separated():
    o = verdict.ordering_outcome(_six([0.990, 0.989, 0.988, 0.987, 0.986, 0.985], 2e-2), PAPER, True)
    assert o.outcome == "not contradicted" and o.tau == 1.0
    assert o.by_status("reversed") == [] and o.by_status("in order") == []
    # a reversal that would be significant alone but not after Holm's correction contradicts nothing
    means = [0.9890, 0.9900, 0.9880, 0.9870, 0.9860, 0.9850]
    o = verdict.ordering_outcome(_six(means, 7e-4), PAPER, True)
    first = o.pairs[0]
    assert (first.better, first.worse) == ("sgd_momentum", "sgd") and first.difference < 0
    assert first.p < 0.05 < first.p_holm
    assert o.outcome == "not contradicted"


def test_undecided_with_fewer_than_two_runs_of_an_optimizer():
    samples = _six([0.990, 0.989, 0.988, 0.987, 0.986, 0.985], 1e-4)
    samples["nasgd"] = [0.95]                                     # one run: no variance, no test
    o = verdict.ordering_outcome(samples, PAPER, True)
    assert o.outcome == "undecided" and o.runs["nasgd"] == 1
    assert all(p.status == "untested" for p in o.pairs if "nasgd" in (p.better, p.worse))
    samples["nasgd"] = [0.95, None, float("nan")]                 # a diverged run is no run
    assert verdict.ordering_outcome(samples, PAPER, True).outcome == "undecided"
    assert verdict.OUTCOMES == ("confirmed", "not contradicted", "does not hold", "undecided")


def test_kendall_tau():
    assert verdict.kendall_tau("abc", "abc") == 1.0 and verdict.kendall_tau("cba", "abc") == -1.0
    assert verdict.kendall_tau(["b", "a", "c"], ["a", "b", "c"]) == pytest.approx(1 / 3)
    # agrees with scipy on ranks
    ours, paper = list("dbeacf"), list("abcdef")
    expected = stats.kendalltau([ours.index(n) for n in paper], range(6)).statistic
    assert verdict.kendall_tau(ours, paper) == pytest.approx(expected)
    with pytest.raises(ValueError, match="same names"):
        verdict.kendall_tau("ab", "ac")
