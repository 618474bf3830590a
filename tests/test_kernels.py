"""Step kernels against plain-NumPy references, in float32 and float64.

The kernels' float32 behaviour: scalars and intermediate results are float64, and
each stored element is rounded to float32 once. The references below compute in
float64 from the float32 inputs and round the stored arrays the same way, so they
agree to rounding (``rtol=1e-12`` in float64, two float32 ulps in float32).
This file also runs with ``NUMBA_DISABLE_JIT=1`` (the plain-Python fallback).
"""
import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nagd import kernels

JIT = os.environ.get("NUMBA_DISABLE_JIT", "0") != "1"
RTOL = {np.float32: 2.0 ** -22, np.float64: 1e-12}

dtypes = st.sampled_from([np.float32, np.float64])
lengths = st.integers(min_value=0, max_value=40)
seeds = st.integers(min_value=0, max_value=2 ** 32 - 1)
rates = st.floats(min_value=1e-4, max_value=1.0)
units = st.floats(min_value=0.0, max_value=0.999)
fast = settings(max_examples=30, deadline=None)      # deadline: the first example compiles


def arrays(seed, n, dtype, k=2):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(dtype) for _ in range(k)]


def wide(a):
    return a.astype(np.float64)


def close(actual, expected, dtype):
    np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype], atol=0.0)


def nagd_step(x, g, f, lower_bound, alpha, max_lr):
    """The NaGD step as every caller takes it: `kernels.polyak_lr`, then `kernels.axpy`. Returns lr."""
    lr = kernels.polyak_lr(kernels.sq_norm(g), f - lower_bound, alpha, max_lr, 0.0)
    if lr > 0.0:
        kernels.axpy(x, g, lr)
    return lr


def close_sum(actual, terms):
    """A float64 sum of terms, up to the order of summation."""
    np.testing.assert_allclose(actual, np.sum(terms), rtol=1e-12, atol=1e-13 * np.sum(np.abs(terms)))


# ---------------------------------------------------------------- reductions and the NaGD step

@fast
@given(n=st.integers(0, 100), dtype=dtypes, seed=seeds)
def test_sq_norm(n, dtype, seed):
    (g,) = arrays(seed, n, dtype, 1)
    close_sum(kernels.sq_norm(g), wide(g) ** 2)


def test_sq_norm_widens_float32_before_squaring():
    g = np.full(9, 1.1, dtype=np.float32)                 # both loops of the kernel
    assert kernels.sq_norm(g) == pytest.approx(9 * float(g[0]) ** 2, rel=1e-15)
    assert kernels.sq_norm(np.array([3e20], dtype=np.float32)) == pytest.approx(float(np.float32(3e20)) ** 2)


def test_sq_norm_order_depends_only_on_length():
    g = np.random.default_rng(1).standard_normal(1001)
    assert kernels.sq_norm(g) == kernels.sq_norm(g.copy())
    assert kernels.sq_norm(g[::-1].copy()) == pytest.approx(kernels.sq_norm(g), rel=1e-13)


def sq_norm_in_documented_order(g):
    """sq_norm's documented order written out with Python floats: in order below 64 entries; else lane
    j < 32 sums g[j:half:32], lane 32 + j sums g[half + j:2*half:32] (half = 32*(n//64)), the lanes are
    added pairwise (j + 32, then j + 16, ...), then the other entries in order."""
    x = [float(v) for v in g]                     # float32 -> float64 is exact
    n = len(x)
    if n < 64:
        total = 0.0
        for v in x:
            total += v * v
        return total
    half = 32 * (n // 64)
    lanes = [0.0] * 64
    for i in range(half):
        lanes[i % 32] += x[i] * x[i]
        lanes[32 + i % 32] += x[half + i] * x[half + i]
    w = 64
    while w > 1:
        w //= 2
        for j in range(w):
            lanes[j] += lanes[j + w]
    total = lanes[0]
    for v in x[2 * half:]:
        total += v * v
    return total


SQ_NORM_LENGTHS = [0, 1, 2, 31, 32, 33, 63, 64, 65, 95, 96, 127, 128, 129, 191, 192, 193, 255, 256, 257,
                   1000, 4095, 4096, 4097, 12345] + ([65537, 200003] if JIT else [])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sq_norm_sums_in_the_documented_order(dtype):
    # Entries over 16 orders of magnitude, so that another order of summation gives other bits
    # (checked below): the lanes' bits are the same whatever the vector width, compiled or not.
    rng = np.random.default_rng(3)
    differs = 0
    for n in SQ_NORM_LENGTHS:
        g = (rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n)).astype(dtype)
        expected = sq_norm_in_documented_order(g)
        assert kernels.sq_norm(g) == expected, n
        assert kernels.sq_norm(g) == expected, n   # the lanes start from zero at every call
        differs += n >= 64 and in_order(wide(g) ** 2) != expected
    assert differs >= 10                           # the data tell the orders apart


@fast
@given(n=st.integers(1, 40), dtype=dtypes, seed=seeds, f=st.floats(0.0, 10.0), lower=st.floats(-1.0, 1.0),
       alpha=st.floats(0.01, 2.0), max_lr=st.sampled_from([np.inf, 1.0, 0.01]))
def test_nagd_step(n, dtype, seed, f, lower, alpha, max_lr):
    x, g = arrays(seed, n, dtype)
    x0 = x.copy()
    lr = nagd_step(x, g, f, lower, alpha, max_lr)
    gg = np.sum(wide(g) ** 2)
    ref_lr = min(max_lr, alpha * (f - lower) / gg) if f > lower else 0.0
    np.testing.assert_allclose(lr, ref_lr, rtol=1e-12)
    close(x, (wide(x0) - ref_lr * wide(g)).astype(dtype), dtype)
    assert kernels.polyak_lr(gg, f - lower, alpha, max_lr, 0.0) == pytest.approx(ref_lr, rel=1e-12)


@fast
@given(n=st.integers(0, 40), dtype=dtypes, seed=seeds, lr=rates)
def test_axpy(n, dtype, seed, lr):
    x, g = arrays(seed, n, dtype)
    x0 = x.copy()
    kernels.axpy(x, g, lr)
    close(x, (wide(x0) - lr * wide(g)).astype(dtype), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_gradient_and_f_at_or_below_the_bound_take_no_step(dtype):
    x = np.array([1.0, -2.0], dtype=dtype)
    assert nagd_step(x, np.zeros(2, dtype), 5.0, 0.0, 1.0, np.inf) == 0.0
    assert nagd_step(x, np.ones(2, dtype), 1.0, 1.0, 1.0, np.inf) == 0.0      # f == L
    assert nagd_step(x, np.ones(2, dtype), 0.5, 1.0, 1.0, np.inf) == 0.0      # f < L
    assert nagd_step(x, np.ones(2, dtype), np.nan, 0.0, 1.0, np.inf) == 0.0   # never NaN
    assert np.array_equal(x, [1.0, -2.0])
    assert kernels.polyak_lr(0.0, 1.0, 1.0, 1.0, 0.0) == 0.0
    assert kernels.equivalent_alpha(0.0, 1.0, 4.0, 0.0) == 0.0
    assert kernels.equivalent_alpha(0.1, 1.0, 0.0, 0.0) == 0.0
    assert kernels.equivalent_alpha(0.1, 1.0, 4.0, 1.0) == np.inf


@pytest.mark.parametrize("gg, gap, alpha, max_lr, eps, expected", [
    (4.0, 2.0, 0.5, 1.0, 0.0, 0.25),                 # alpha gap / gg
    (4.0, 2.0, 0.5, 0.1, 0.0, 0.1),                  # capped
    (4.0, 2.0, 0.5, math.inf, 1.0, 0.2),             # eps in the denominator
    (0.0, 2.0, 0.5, math.inf, 1.0, 0.0),             # zero gradient, even with eps
    (4.0, 0.0, 0.5, 1.0, 0.0, 0.0),                  # f == L
    (4.0, -1.0, 0.5, 1.0, 0.0, 0.0),                 # f < L: positive part
    (1e-320, 1.0, 1.0, math.inf, 0.0, 0.0),          # overflows, uncapped: no step
    (1e-320, 1.0, 1.0, 3.0, 0.0, 3.0),               # overflows, capped: the cap
    (1.0, 1e308, 2.0, math.inf, 0.0, 0.0),           # alpha*gap overflows, uncapped: no step
    (math.nan, 1.0, 1.0, 1.0, 0.0, 0.0),             # NaN gradient
    (4.0, math.nan, 1.0, 1.0, 0.0, 0.0),             # NaN loss
    (4.0, math.inf, 1.0, 1.0, 0.0, 0.0),             # infinite loss, capped: no step (not the cap)
    (4.0, math.inf, 1.0, math.inf, 0.0, 0.0),        # infinite loss, uncapped: no step (not inf)
    (math.inf, 1.0, 1.0, 1.0, 0.0, 0.0),             # infinite gradient
    (math.inf, math.inf, 1.0, 1.0, 0.0, 0.0),        # both infinite (inf/inf would be NaN)
])
def test_polyak_lr_edge_cases(gg, gap, alpha, max_lr, eps, expected):
    """The one edge-case policy: never NaN or inf, no step on a non-finite loss or gradient."""
    assert kernels.polyak_lr(gg, gap, alpha, max_lr, eps) == expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_update_in_place(dtype):
    x, g = np.ones(3, dtype), np.full(3, 2.0, dtype)
    buf, m, v, s = (np.zeros(3, dtype) for _ in range(4))
    ids = [id(a) for a in (x, buf, m, v, s)]
    nagd_step(x, g, 1.0, 0.0, 1.0, 1.0)
    kernels.sgd_momentum_step(x, g, buf, 0.1, 0.9, False)
    kernels.adam_step(x, g, m, v, 1, 0.1, 0.9, 0.999, 1e-8)
    kernels.adagrad_step(x, g, s, 0.1, 1e-10)
    assert [id(a) for a in (x, buf, m, v, s)] == ids
    assert x.dtype == dtype and not np.any(x == 1.0) and np.all(buf == 2.0) and np.all(s == 4.0)
    assert np.all(m != 0) and np.all(v != 0)


# ---------------------------------------------------------------- properties of the NaGD step

@fast
@given(n=st.integers(1, 30), seed=seeds, f=st.floats(0.01, 10.0), alpha=st.floats(0.01, 2.0),
       k=st.integers(-20, 20), c=st.floats(1e-3, 1e3))
def test_scaling_f_and_g_leaves_the_step_unchanged(n, seed, f, alpha, k, c):
    x, g = arrays(seed, n, np.float64)
    a, b, d = x.copy(), x.copy(), x.copy()
    nagd_step(a, g, f, 0.0, alpha, np.inf)
    nagd_step(b, g * 2.0 ** k, f * 2.0 ** k, 0.0, alpha, np.inf)      # exact scaling: identical
    nagd_step(d, g * c, f * c, 0.0, alpha, np.inf)
    assert np.array_equal(a, b)
    np.testing.assert_allclose(d, a, rtol=1e-12, atol=1e-14 * np.abs(x - a).max())


@fast
@given(n=st.integers(1, 30), seed=seeds, f=st.integers(1, 1000), lower=st.integers(-1000, 999),
       c=st.integers(-10 ** 6, 10 ** 6), alpha=st.floats(0.01, 2.0), dtype=dtypes)
def test_shifting_f_and_the_bound_together_leaves_the_step_unchanged(n, seed, f, lower, c, alpha, dtype):
    x, g = arrays(seed, n, dtype)
    a, b = x.copy(), x.copy()
    la = nagd_step(a, g, float(f), float(lower), alpha, np.inf)
    lb = nagd_step(b, g, float(f + c), float(lower + c), alpha, np.inf)   # integers: exact
    assert la == lb and np.array_equal(a, b)


@fast
@given(n=st.integers(1, 30), seed=seeds, f=st.floats(1e-3, 10.0), alpha=st.floats(0.01, 2.0),
       max_lr=st.sampled_from([np.inf, 0.05]))
def test_steps_go_along_minus_g(n, seed, f, alpha, max_lr):
    x, g = arrays(seed, n, np.float64)
    x0 = x.copy()
    lr = nagd_step(x, g, f, 0.0, alpha, max_lr)
    assert lr > 0.0
    np.testing.assert_allclose(x0 - x, lr * g, rtol=1e-9, atol=4 * np.finfo(float).eps * np.abs(x0).max())
    assert (x0 - x) @ g > 0.0


@fast
@given(gg=st.floats(1e-6, 1e6), f=st.floats(1e-3, 1e3), lower=st.floats(-10.0, 0.0), alpha=st.floats(0.01, 2.0))
def test_equivalent_alpha_and_lr_round_trip(gg, f, lower, alpha):
    lr = kernels.equivalent_lr(alpha, f, gg, lower, np.inf)
    assert lr == pytest.approx(alpha * (f - lower) / gg, rel=1e-15)
    assert kernels.equivalent_alpha(lr, f, gg, lower) == pytest.approx(alpha, rel=1e-13)
    assert kernels.equivalent_lr(kernels.equivalent_alpha(0.01, f, gg, lower), f, gg, lower, np.inf) == \
        pytest.approx(0.01, rel=1e-13)
    assert kernels.equivalent_lr(alpha, f, gg, lower, lr / 2) == lr / 2       # capped


# ---------------------------------------------------------------- the baseline kernels (PyTorch's forms)

@fast
@given(n=lengths, dtype=dtypes, seed=seeds, lr=rates)
def test_sgd_step(n, dtype, seed, lr):
    x, g = arrays(seed, n, dtype)
    x0 = x.copy()
    dec = kernels.sgd_step(x, g, lr)
    close(x, (wide(x0) - lr * wide(g)).astype(dtype), dtype)
    close_sum(dec, lr * wide(g) ** 2)


@fast
@given(n=lengths, dtype=dtypes, seed=seeds, lr=rates, mu=units, nesterov=st.booleans())
def test_sgd_momentum_step(n, dtype, seed, lr, mu, nesterov):
    x, g, buf = arrays(seed, n, dtype, 3)
    x0, buf0 = wide(x), wide(buf)
    dec = kernels.sgd_momentum_step(x, g, buf, lr, mu, nesterov)
    b = mu * buf0 + wide(g)
    d = lr * (wide(g) + mu * b) if nesterov else lr * b
    close(buf, b.astype(dtype), dtype)
    close(x, (x0 - d).astype(dtype), dtype)
    close_sum(dec, wide(g) * d)


@fast
@given(n=lengths, dtype=dtypes, seed=seeds, lr=rates, b1=units, b2=units, t=st.integers(1, 50))
def test_adam_step(n, dtype, seed, lr, b1, b2, t):
    x, g, m = arrays(seed, n, dtype, 3)
    v = np.abs(arrays(seed + 1, n, dtype, 1)[0])
    x0, m0, v0, eps = wide(x), wide(m), wide(v), 1e-8
    dec = kernels.adam_step(x, g, m, v, t, lr, b1, b2, eps)
    m1 = b1 * m0 + (1 - b1) * wide(g)
    v1 = b2 * v0 + (1 - b2) * wide(g) * wide(g)
    d = lr / (1 - b1 ** t) * m1 / (np.sqrt(v1) / np.sqrt(1 - b2 ** t) + eps)
    close(m, m1.astype(dtype), dtype)
    close(v, v1.astype(dtype), dtype)
    np.testing.assert_allclose(x, (x0 - d).astype(dtype), rtol=RTOL[dtype] if dtype == np.float32 else 1e-11)
    close_sum(dec, wide(g) * d)


@fast
@given(n=lengths, dtype=dtypes, seed=seeds, lr=rates, alpha=units)
def test_rmsprop_step(n, dtype, seed, lr, alpha):
    x, g, v = arrays(seed, n, dtype, 3)
    v = np.abs(v)
    x0, v0, eps = wide(x), wide(v), 1e-8
    dec = kernels.rmsprop_step(x, g, v, lr, alpha, eps)
    v1 = alpha * v0 + (1 - alpha) * wide(g) * wide(g)
    d = lr * wide(g) / (np.sqrt(v1) + eps)
    close(v, v1.astype(dtype), dtype)
    close(x, (x0 - d).astype(dtype), dtype)
    close_sum(dec, wide(g) * d)


@fast
@given(n=lengths, dtype=dtypes, seed=seeds, lr=rates)
def test_adagrad_step(n, dtype, seed, lr):
    x, g, s = arrays(seed, n, dtype, 3)
    s = np.abs(s)
    x0, s0, eps = wide(x), wide(s), 1e-10
    dec = kernels.adagrad_step(x, g, s, lr, eps)
    s1 = s0 + wide(g) * wide(g)
    d = lr * wide(g) / (np.sqrt(s1) + eps)
    close(s, s1.astype(dtype), dtype)
    close(x, (x0 - d).astype(dtype), dtype)
    close_sum(dec, wide(g) * d)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_baseline_zero_gradient_takes_no_step(dtype):
    x, g, z = np.ones(4, dtype), np.zeros(4, dtype), np.zeros(4, dtype)
    assert kernels.sgd_step(x, g, 0.1) == 0.0
    assert kernels.sgd_momentum_step(x, g, z.copy(), 0.1, 0.9, True) == 0.0
    assert kernels.adam_step(x, g, z.copy(), z.copy(), 1, 0.1, 0.9, 0.999, 1e-8) == 0.0
    assert kernels.rmsprop_step(x, g, z.copy(), 0.1, 0.99, 1e-8) == 0.0
    assert kernels.adagrad_step(x, g, z.copy(), 0.1, 1e-10) == 0.0
    assert np.array_equal(x, np.ones(4))


# ---------------------------------------------------------------- one compile per dtype

SIGNATURE_SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    from nagd import kernels, optim
    for dtype in (np.float32, np.float64):
        for hyper in ({"lr": 1}, {"lr": 0.5}):
            opts = [optim.NaGD(alpha=1, lower_bound=0, max_lr=1), optim.NaGD(alpha=0.5, max_lr=None),
                    optim.SGD(**hyper), optim.SGD(momentum=0.5, **hyper),
                    optim.SGD(momentum=1 / 2, nesterov=True, **hyper), optim.Adam(**hyper, eps=1),
                    optim.RMSprop(**hyper), optim.Adagrad(**hyper), optim.ExpDecaySGD(lr0=1, rate=0),
                    optim.AlphaMonitoredSGD(**hyper)]
            for opt in opts:
                x, g = np.ones(5, dtype), np.full(5, 0.5, dtype)
                for loss in (1, 2.0):
                    opt.step(x, g, loss)
        optim.equivalent_alpha(1, 2, np.ones(3, dtype))
        optim.equivalent_lr(1, 2.0, np.ones(3, dtype), max_lr=1)
    print(json.dumps({name: len(getattr(kernels, name).signatures) for name in
                      ("sq_norm", "axpy", "polyak_lr", "sgd_step", "sgd_momentum_step", "adam_step",
                       "rmsprop_step", "adagrad_step", "equivalent_alpha", "equivalent_lr")}))
""")


@pytest.mark.skipif(not JIT, reason="signatures exist only when Numba compiles")
def test_each_kernel_compiles_once_per_dtype():
    out = subprocess.run([sys.executable, "-c", SIGNATURE_SCRIPT], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONWARNINGS": "error"})
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    scalar = {"polyak_lr", "equivalent_alpha", "equivalent_lr"}
    assert counts == {name: 1 if name in scalar else 2 for name in counts}


# ---------------------------------------------------------------- the Polyak family, exactly
# Each stored value is the float64 result rounded once to the dtype, whatever the dtype and also
# without JIT: the references compute in float64 (element-wise NumPy operations, each correctly
# rounded, in the kernels' order) and round where the kernels store; sums run in index order.

def rounded(a, dtype):
    return np.asarray(a, dtype=np.float64).astype(dtype)


def in_order(terms):
    total = 0.0
    for t in terms.tolist():
        total += t
    return total


def state(seed, n, dtype, k):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(dtype) for _ in range(k)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_polyak_momentum_step_is_float64_rounded_once(dtype):
    x, g, v = state(1, 1000, dtype, 3)
    lr, mu = 0.3, 0.9
    v_ref = rounded(mu * wide(v) - lr * wide(g), dtype)
    x_ref = rounded(wide(x) + wide(v_ref), dtype)
    kernels.polyak_momentum_step(x, g, v, lr, mu)
    assert np.array_equal(v, v_ref) and np.array_equal(x, x_ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_momo_kernels_are_float64_rounded_once(dtype):
    x, g, d = state(2, 1000, dtype, 3)
    beta, tau, shrink = 0.9, 0.37, 1.01
    d_ref = rounded(beta * wide(d) + (1.0 - beta) * wide(g), dtype)
    x64, g64, d64 = wide(x), wide(g), wide(d_ref)
    stats = np.zeros(4)
    kernels.momo_moments(x, g, d, stats, beta)
    assert np.array_equal(d, d_ref)
    assert stats.tolist() == [in_order(x64 * g64), in_order(x64 * d64), in_order(d64 * d64), in_order(g64 * d64)]
    x_ref = rounded((x64 - tau * d64) / shrink, dtype)
    kernels.momo_update(x, d, tau, shrink)
    assert np.array_equal(x, x_ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_momo_adam_kernels_are_float64_rounded_once(dtype):
    x, g, m, v = state(3, 1000, dtype, 4)
    v = np.abs(v)
    b1, b2, t, eps, tau, decay, shrink = 0.9, 0.999, 7, 1e-8, 0.05, 0.999, 1.001
    bc2 = 1.0 - b2 ** t
    g64 = wide(g)
    m_ref = rounded(b1 * wide(m) + (1.0 - b1) * g64, dtype)
    v_ref = rounded(b2 * wide(v) + (1.0 - b2) * g64 * g64, dtype)
    stats = np.zeros(4)
    kernels.momo_adam_moments(x, g, m, v, stats, b1, b2, bc2, eps)
    assert np.array_equal(m, m_ref) and np.array_equal(v, v_ref)
    x64, m64 = wide(x), wide(m_ref)
    md = m64 / (np.sqrt(wide(v_ref) / bc2) + eps)
    assert stats.tolist() == [in_order(x64 * g64), in_order(x64 * m64), in_order(m64 * md), in_order(g64 * md)]
    x_ref = rounded((decay * x64 - tau * m64 / (np.sqrt(wide(v_ref) / bc2) + eps)) / shrink, dtype)
    kernels.momo_adam_update(x, m, v, tau, bc2, eps, decay, shrink)
    assert np.array_equal(x, x_ref)
