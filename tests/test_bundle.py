"""The bundle method (Polyak steps with memory): the dual QP, NaGD as its one-cut case, the
certified bound, the best point, every status, and the compiled loop."""
import math

import numpy as np
import pytest
import scipy.optimize as so
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

import nagd
from nagd import nonsmooth as ns
from nagd._minimize import _qp

JIT = not getattr(__import__("numba").config, "DISABLE_JIT", False)


def _ldp_reference(G, v, level):
    """The projection of 0 onto {z : G z <= level - v} by Lawson and Hanson's LDP through scipy's NNLS.

    Returns z, or None when the set is empty.
    """
    n = G.shape[1]
    h = v - level
    E = np.vstack([-G.T, h[None, :]])
    f = np.zeros(n + 1)
    f[-1] = 1.0
    u, _ = so.nnls(E, f)
    r = E @ u - f
    if np.linalg.norm(r) < 1e-10:
        return None
    return -r[:n] / r[n]


def _solve_ldp(G, v, level):
    m, n = G.shape
    Q = G @ G.T
    nrm = np.sqrt(np.diag(Q)).copy()
    idx = np.arange(m, dtype=np.int64)
    mu = np.zeros(m)
    out, total, bound = _qp._ldp(G, Q, nrm, v, level, idx, m, np.zeros((m, m)), np.zeros((m, m)), np.zeros((8, m)), mu)
    return out, mu, bound


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 9), st.integers(0, 2 ** 31 - 1))
def test_projection_matches_a_reference_nnls_on_random_instances(n, m, seed):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((m, n)) * rng.uniform(0.1, 10.0, (m, 1))   # rows of mixed lengths
    v = rng.standard_normal(m)
    out, mu, bound = _solve_ldp(G, v, -0.5)
    ref = _ldp_reference(G, v, -0.5)
    if out == _qp._FEASIBLE:
        assert ref is not None
        z = -(mu @ G)
        scale = max(1.0, np.linalg.norm(ref))
        assert np.linalg.norm(z - ref) <= 1e-7 * scale
        assert np.all(G @ z <= -0.5 - v + 1e-7 * scale * np.abs(G).sum(axis=1))   # feasible
        assert np.all(mu >= 0.0)
    else:
        # empty: the reference agrees, or the projection lies >= 1e4 times farther than any one cut
        if ref is not None:
            far = np.max((v + 0.5) / np.linalg.norm(G, axis=1))
            assert np.linalg.norm(ref) >= 1e3 * far


def test_an_empty_level_set_certifies_the_bound_of_its_farkas_weights():
    # f(x) = |x| as two cuts at x = -1 and x = 1: the model's minimum is 0, so level -1 is empty
    G = np.array([[-1.0], [1.0]])
    v = np.array([0.0, 0.0])                  # both cuts' values at the centre 0: l_j(0) = 1 + g_j.(0 - x_j) = 0
    out, mu, bound = _solve_ldp(G, v, -1.0)
    assert out == _qp._INFEASIBLE and bound == pytest.approx(0.0, abs=1e-15)
    out, mu, bound = _solve_ldp(G, v, 0.5)    # above the model's minimum: feasible, no step needed
    assert out == _qp._FEASIBLE and np.all(mu == 0.0)


# -- NaGD is the one-cut case ------------------------------------------------------------------

def _pair(fun, jac, x0, **options):
    a = nagd.minimize(fun, x0, jac=jac, return_all=True, **options)
    cap = {"max_lr": options.pop("max_lr", None if options.get("lower_bound") == "auto" else 1.0)}
    b = nagd.minimize(fun, x0, jac=jac, return_all=True, method="bundle", memory=1, **cap, **options)
    return a, b


@pytest.mark.parametrize("options", [{"alpha": 1.5, "maxiter": 300},
                                     {"alpha": 0.7, "maxiter": 200, "tol": 0.0, "gtol": 0.0},
                                     {"alpha": 1.0, "lower_bound": "auto", "maxiter": 300},
                                     {"alpha": 1.0, "max_lr": None, "lower_bound": 0.5, "maxiter": 100}])
def test_memory_one_gives_nagd_iterates_bit_for_bit(options):
    a, b = _pair(so.rosen, so.rosen_der, np.array([-1.2, 1.0]), **options)
    assert len(a.allvecs) == len(b.allvecs)
    for xa, xb in zip(a.allvecs, b.allvecs):
        assert np.array_equal(xa, xb)
    assert np.array_equal(a.x, b.x) and a.fun == b.fun and a.status == b.status and a.nfev == b.nfev


def test_memory_one_with_bounds_gives_nagd_iterates_bit_for_bit():
    bounds = [(-0.5, 2.0), (0.2, 3.0)]
    a = nagd.minimize(so.rosen, np.array([-1.2, 1.0]), jac=so.rosen_der, bounds=bounds, return_all=True, maxiter=200)
    b = nagd.minimize(so.rosen, np.array([-1.2, 1.0]), jac=so.rosen_der, bounds=bounds, return_all=True, maxiter=200,
                      method="bundle", memory=1, max_lr=1.0)
    assert all(np.array_equal(p, q) for p, q in zip(a.allvecs, b.allvecs)) and len(a.allvecs) == len(b.allvecs)


# -- the Polyak minorant step against a NumPy transcription ---------------------------------------

def test_known_bound_steps_are_projections_onto_all_cuts_so_far():
    # with memory above the number of steps no cut is dropped, and the aggregate cut (a convex
    # combination of cuts) does not change their intersection: x_{k+1} is the projection of x_k
    # onto {y : f_j + g_j.(y - x_j) <= L for every j <= k}
    A = np.array([[1.0, 2.0, 0.0], [-2.0, 1.0, 1.0], [0.5, -1.0, 3.0], [-1.0, -1.0, -2.0], [2.0, 0.0, -1.0]])
    b = np.array([0.3, -0.2, 0.1, 0.4, -0.5])

    def f(x):
        return float(np.max(A @ x + b))

    def g(x):
        return A[int(np.argmax(A @ x + b))].copy()

    lo = so.linprog(np.r_[np.zeros(3), 1.0], A_ub=np.c_[A, -np.ones(5)], b_ub=-b, bounds=[(None, None)] * 4)
    fstar = lo.fun
    res = nagd.minimize(f, np.array([2.0, -1.0, 1.5]), jac=g, method="bundle", lower_bound=fstar, memory=30,
                        maxiter=8, tol=0.0, gtol=0.0, return_all=True)
    xs = res.allvecs
    cuts = []
    for k in range(len(xs) - 1):
        x = xs[k]
        cuts.append((f(x), g(x), x.copy()))
        Gm = np.array([c[1] for c in cuts])
        v = np.array([c[0] + c[1] @ (x - c[2]) for c in cuts])       # the cuts' values at x_k
        z = _ldp_reference(Gm, v, fstar)
        assert np.allclose(xs[k + 1], x + z, rtol=1e-9, atol=1e-9 * (1 + np.abs(x).max()))


# -- the benchmark problems: accuracy, the certified bound, the best point ------------------------

@pytest.mark.parametrize("name", ["CB2", "QL", "Rosen-Suzuki", "Shor", "Maxquad", "Goffin", "MXHILB"])
def test_lukšan_vlček_problems_are_solved_with_and_without_the_optimal_value(name):
    p = ns.LUKSAN_VLCEK[name]
    for lower_bound in (p.fstar, "auto"):
        res = nagd.minimize(p.fun, p.x0, jac=p.jac, method="bundle", lower_bound=lower_bound, maxiter=3000)
        assert ns.relative_error(p, res.fun) <= 1e-6, (lower_bound, res.message)
        assert res.fun == p.fun(res.x) and np.array_equal(res.jac, p.jac(res.x))
        if res.success:
            assert res.gap <= 1e-8
        if lower_bound == "auto" and res.certified:
            # the certified bound is a lower bound (up to the rounding of f*'s published digits)
            assert res.lower_bound <= p.fstar + 1e-7 * max(1.0, abs(p.fstar))


def test_the_certified_bound_is_never_above_the_minimum_on_the_whole_set():
    for p in ns.LUKSAN_VLCEK.values():
        seen = []
        res = nagd.minimize(p.fun, p.x0, jac=p.jac, method="bundle", lower_bound="auto", maxiter=1000,
                            callback=lambda intermediate_result: seen.append(intermediate_result.fun))
        slack = 1e-7 * max(1.0, abs(p.fstar))            # the published f* carries 7-8 digits
        assert res.lower_bound <= p.fstar + slack, p.name if hasattr(p, "name") else res
        assert res.fun <= min(seen + [math.inf]) and res.fun == p.fun(res.x)


def test_the_best_point_is_returned_not_the_last():
    p = ns.LUKSAN_VLCEK["Shor"]
    trace = []

    def f(x):
        trace.append(p.fun(x))
        return trace[-1]

    for method, extra in (("nagd", {"lower_bound": p.fstar}), ("bundle", {"memory": 3, "lower_bound": p.fstar}),
                          ("bundle", {"lower_bound": "auto"})):
        trace.clear()
        res = nagd.minimize(f, p.x0, jac=p.jac, method=method, maxiter=37, **extra)
        assert res.status == 1 and res.fun == min(trace) and p.fun(res.x) == res.fun
        assert trace[-1] > res.fun                   # the last iterate was worse


# -- statuses ------------------------------------------------------------------------------------

def _abs1(x):
    return float(np.sum(np.abs(x - 1.0)))


def _abs1_grad(x):
    return np.sign(x - 1.0)


def test_status_0_by_the_gap_test_and_the_message_says_so():
    res = nagd.minimize(_abs1, np.zeros(4), jac=_abs1_grad, method="bundle", lower_bound=0.0)
    assert res.status == 0 and res.success and res.gap <= 1e-8 and "gap test" in res.message
    auto = nagd.minimize(_abs1, np.zeros(4), jac=_abs1_grad, method="bundle", lower_bound="auto")
    assert auto.status == 0 and auto.certified and auto.gap <= 1e-8 and "certified gap" in auto.message
    assert auto.lower_bound <= 1e-12


def test_the_cuts_certify_a_smooth_minimum_above_a_loose_bound_and_the_gradient_test_says_so():
    f, g = (lambda x: 1.0 + float(x @ x)), (lambda x: 2 * x)
    res = nagd.minimize(f, np.ones(2), jac=g, method="bundle", lower_bound=0.0, gtol=1e-6)
    assert res.status == 0 and res.certified and res.lower_bound == pytest.approx(1.0, abs=1e-8)
    one = nagd.minimize(f, np.ones(2), jac=g, method="bundle", lower_bound=0.0, gtol=1e-6, memory=1, max_lr=0.25)
    assert one.status == 0 and "gradient test" in one.message and "above tol" in one.message
    assert one.gap == pytest.approx(1.0, abs=1e-6)


def test_status_1_at_maxiter_names_the_best_value_and_the_bound():
    res = nagd.minimize(_abs1, np.zeros(40), jac=_abs1_grad, method="bundle", lower_bound="auto", maxiter=3)
    assert res.status == 1 and not res.success and res.nit == 3 and "Best f" in res.message


def test_status_2_at_a_non_finite_start_and_a_retreat_after_a_non_finite_trial():
    res = nagd.minimize(lambda x: math.inf, np.zeros(2), jac=lambda x: np.ones(2), method="bundle")
    assert res.status == 2 and not res.success and np.all(np.isfinite(res.x))

    # f is +inf beyond |x| > 3: a trial point there shortens the step instead of ending the run
    def f(x):
        return math.inf if np.max(np.abs(x)) > 3.0 else _abs1(x) + 10.0

    res = nagd.minimize(f, np.full(3, -2.5), jac=_abs1_grad, method="bundle", lower_bound="auto", maxiter=500)
    assert res.fun <= 10.0 + 1e-6 and np.all(np.isfinite(res.x))


def test_return_all_lists_every_iterate_also_the_step_after_a_non_finite_trial():
    # a retreat (a shorter step after a trial point where f = inf) is a step like any other:
    # allvecs is x_0 ... x_nit, the points f was evaluated at
    seen = []

    def f(x):
        seen.append(x.copy())
        return math.inf if np.max(np.abs(x)) > 3.0 else _abs1(x) + 10.0

    res = nagd.minimize(f, np.array([-2.0, 2.5]), jac=_abs1_grad, method="bundle", lower_bound=9.0, memory=3,
                        alpha=1.9, maxiter=30, return_all=True)
    assert any(np.max(np.abs(x)) > 3.0 for x in seen[:-1])           # a retreat happened
    assert res.nfev == res.nit + 1 == len(res.allvecs)
    assert all(np.array_equal(a, b) for a, b in zip(res.allvecs, seen))


def test_status_3_when_f_falls_below_the_bound():
    # minimum 0 at 0; from 2 the relaxed step toward L = 0.5 lands at -0.85, where f = 0.085 < L
    res = nagd.minimize(lambda x: float(max(x[0], -0.1 * x[0])), np.array([2.0]),
                        jac=lambda x: np.array([1.0 if x[0] > 0 else -0.1]), method="bundle", lower_bound=0.5,
                        alpha=1.9)
    assert res.status == 3 and res.fun < 0.5 and "lower_bound" in res.message


def test_a_bound_below_the_minimum_is_replaced_by_a_certified_one():
    res = nagd.minimize(lambda x: _abs1(x) + 2.0, np.zeros(3), jac=_abs1_grad, method="bundle", lower_bound=-5.0)
    assert res.status == 0 and res.certified and res.lower_bound == pytest.approx(2.0, abs=1e-8)


def test_status_99_when_the_callback_stops_and_the_best_point_is_kept():
    calls = []

    def cb(xk):
        calls.append(xk)
        if len(calls) == 3:
            raise StopIteration

    res = nagd.minimize(_abs1, np.zeros(3), jac=_abs1_grad, method="bundle", lower_bound="auto", callback=cb)
    assert res.status == 99 and res.fun == min(_abs1(x) for x in [np.zeros(3)] + calls)


def test_bad_options_name_themselves():
    with pytest.raises(ValueError, match="memory"):
        nagd.minimize(_abs1, np.zeros(2), jac=_abs1_grad, method="bundle", memory=0)
    with pytest.raises(ValueError, match="stop"):
        nagd.minimize(_abs1, np.zeros(2), jac=_abs1_grad, method="bundle", stop=object())
    with pytest.raises(ValueError, match="method"):
        nagd.minimize(_abs1, np.zeros(2), jac=_abs1_grad, method="bfgs")
    with pytest.warns(so.OptimizeWarning, match="memory"):
        nagd.minimize(_abs1, np.zeros(2), jac=_abs1_grad, memory=3)          # not an option of nagd


def test_scipy_front_door_runs_the_same_iterations():
    a = so.minimize(_abs1, np.zeros(3), jac=_abs1_grad, method=nagd.bundle, options={"lower_bound": "auto"})
    b = nagd.minimize(_abs1, np.zeros(3), jac=_abs1_grad, method="bundle", lower_bound="auto")
    assert np.array_equal(a.x, b.x) and a.nit == b.nit and a.status == b.status


# -- the compiled loop ---------------------------------------------------------------------------

@njit
def _maxq_f(x):
    return np.max(x * x)


@njit
def _maxq_g(x):
    g = np.zeros_like(x)
    i = np.argmax(x * x)
    g[i] = 2.0 * x[i]
    return g


@pytest.mark.skipif(not JIT, reason="needs Numba")
@pytest.mark.parametrize("lower_bound", [0.0, "auto"])
def test_compiled_loop_gives_the_python_loops_result_bit_for_bit(lower_bound):
    x0 = np.arange(1.0, 11.0)
    fast = nagd.minimize(_maxq_f, x0, jac=_maxq_g, method="bundle", lower_bound=lower_bound, compiled=True)
    slow = nagd.minimize(_maxq_f, x0, jac=_maxq_g, method="bundle", lower_bound=lower_bound, compiled=False)
    for key in ("x", "jac"):
        assert np.array_equal(fast[key], slow[key])
    for key in ("fun", "nit", "nfev", "njev", "status", "lower_bound", "gap"):
        assert fast[key] == slow[key], key
    assert fast.status == 0 and fast.fun <= 1e-8


def test_status_5_when_no_step_changes_x_says_nothing_is_certified():
    # Maxquad without its optimal value: the cuts near the minimum never enclose it exactly enough
    # to certify the gap, and the level reaches the best value to rounding
    p = ns.LUKSAN_VLCEK["Maxquad"]
    res = nagd.minimize(p.fun, p.x0, jac=p.jac, method="bundle", lower_bound="auto", maxiter=5000)
    assert res.status in (0, 5)
    if res.status == 5:
        assert not res.success and "not a certified minimum" in res.message
    assert ns.relative_error(p, res.fun) <= 1e-6 and res.fun == p.fun(res.x)
    # the same status straight from the projection: one cut whose value at the centre is the level
    from nagd._minimize import _bundle as bd
    S, meta, B = bd.new_bundle(2, 3, 0.0, False)
    bd._insert_cut(B, meta, 3, np.array([1.0, 0.0]), 1.0, True)
    S[bd._F_UP] = 1.0
    assert bd._project_step(np.empty(2), S, meta, B, 3, 1.0, math.inf, 0.0, np.empty(0), np.empty(0), 1.0,
                            False) == bd._NO_STEP
