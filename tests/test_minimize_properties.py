"""Properties of the scipy methods over random options: the compiled and Python loops agree to the
bit, and the finite-difference adapter agrees with scipy's."""
import numpy as np
import pytest
import scipy.optimize as so
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

import nagd
from nagd._minimize._inputs import _FiniteDifferences

JIT = not getattr(__import__("numba").config, "DISABLE_JIT", False)


@njit
def _f(x):
    return np.sum(np.abs(x - 0.5)) + 0.25 * np.sum((x + 0.3) ** 2)


@njit
def _g(x):
    return np.where(x - 0.5 >= 0.0, 1.0, -1.0) + 0.5 * (x + 0.3)


@pytest.mark.skipif(not JIT, reason="the compiled loop needs Numba")
@settings(max_examples=25, deadline=None)
@given(method=st.sampled_from(["nagd", "bundle"]), n=st.integers(1, 5), seed=st.integers(0, 10 ** 6),
       alpha=st.sampled_from([0.5, 1.0, 1.7]), auto=st.booleans(), boxed=st.booleans(),
       maxiter=st.integers(0, 60), memory=st.integers(1, 8))
def test_compiled_and_python_loops_agree_bit_for_bit(method, n, seed, alpha, auto, boxed, maxiter, memory):
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-3.0, 3.0, n)
    options = dict(method=method, alpha=alpha, maxiter=maxiter, lower_bound="auto" if auto else 0.0)
    if method == "bundle":
        options["memory"] = memory
    bounds = [(-1.0, 2.0)] * n if boxed else None
    fast = nagd.minimize(_f, x0, jac=_g, bounds=bounds, compiled=True, **options)
    slow = nagd.minimize(_f, x0, jac=_g, bounds=bounds, compiled=False, **options)
    assert fast.loop == "compiled" and slow.loop == "python"
    for key in ("x", "jac"):
        assert np.array_equal(fast[key], slow[key]), key
    for key in ("fun", "nit", "nfev", "njev", "status", "lower_bound", "message"):
        assert fast[key] == slow[key] or (fast[key] != fast[key] and slow[key] != slow[key]), key


@pytest.mark.parametrize("method", ["2-point", "3-point"])
def test_finite_differences_agree_with_scipy(method):
    rng = np.random.default_rng(3)
    A = rng.standard_normal((4, 4))

    def f(x):
        return float(np.sum(np.exp(A @ x)) + x @ x)

    def grad(x):
        return A.T @ np.exp(A @ x) + 2 * x

    empty = np.empty(0)
    for _ in range(5):
        x = rng.uniform(-1.0, 1.0, 4)
        fd = _FiniteDifferences(f, method, empty, empty)
        ours = fd(x, f(x))
        exact = grad(x)
        if method == "2-point":
            # scipy's forward differences with the same relative steps: the two estimates agree far
            # better than either agrees with the true gradient (only the rounding of x + h differs)
            theirs = so.approx_fprime(x, f, np.sqrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(x)))
            assert np.allclose(ours, theirs, rtol=1e-6, atol=1e-9)
            assert np.allclose(ours, exact, rtol=1e-5, atol=1e-6)
        else:
            # central differences: error O(h^2) with h = eps^(1/3), about 1e-10 relative here
            assert np.allclose(ours, exact, rtol=1e-8, atol=1e-9)
        assert fd.calls == (4 if method == "2-point" else 8)
