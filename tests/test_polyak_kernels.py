"""The Polyak-family kernels against three-line NumPy references, for any length and both dtypes."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nagd import kernels

dtypes = st.sampled_from([np.float32, np.float64])
lengths = st.integers(min_value=0, max_value=40)
seeds = st.integers(min_value=0, max_value=2**32 - 1)
unit = st.floats(min_value=0.0, max_value=0.99)
positive = st.floats(min_value=1e-3, max_value=10.0)


def arrays(seed, n, dtype, k):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(dtype) for _ in range(k)]


def close(a, b, dtype):
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(a, b.astype(dtype), rtol=rtol, atol=rtol)


@settings(max_examples=40, deadline=None)
@given(seeds, lengths, dtypes, positive, unit)
def test_polyak_momentum_step(seed, n, dtype, lr, mu):
    x, g, v = arrays(seed, n, dtype, 3)
    v_ref = mu * v.astype(np.float64) - lr * g.astype(np.float64)
    x_ref = x.astype(np.float64) + v_ref
    kernels.polyak_momentum_step(x, g, v, lr, mu)
    close(v, v_ref, dtype)
    close(x, x_ref, dtype)
    assert x.dtype == v.dtype == dtype


@settings(max_examples=40, deadline=None)
@given(seeds, lengths, dtypes, positive, unit)
def test_alig_step(seed, n, dtype, lr, mu):
    x, g, b = arrays(seed, n, dtype, 3)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    b_ref = mu * b.astype(np.float64) - lr * g64
    x_ref = x64 - lr * g64 + mu * b_ref
    kernels.alig_step(x, g, b, lr, mu)
    close(b, b_ref, dtype)
    close(x, x_ref, dtype)


@settings(max_examples=40, deadline=None)
@given(seeds, lengths, dtypes, positive, unit)
def test_alig_adjusted_step(seed, n, dtype, lr, mu):
    x, g, b = arrays(seed, n, dtype, 3)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    b_ref = mu * b.astype(np.float64) - g64
    x_ref = x64 - lr * g64 + lr * mu * b_ref
    kernels.alig_adjusted_step(x, g, b, lr, mu)
    close(b, b_ref, dtype)
    close(x, x_ref, dtype)


@settings(max_examples=40, deadline=None)
@given(seeds, lengths, dtypes, unit, positive, st.floats(min_value=1.0, max_value=2.0))
def test_momo_kernels(seed, n, dtype, beta, tau, shrink):
    x, g, d = arrays(seed, n, dtype, 3)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    d_ref = beta * d.astype(np.float64) + (1 - beta) * g64
    stats = np.zeros(4)
    kernels.momo_moments(x, g, d, stats, beta)
    close(d, d_ref, dtype)
    d64 = d.astype(np.float64)                                  # the stored moments enter the sums
    np.testing.assert_allclose(stats, [x64 @ g64, x64 @ d64, d64 @ d64, g64 @ d64], rtol=1e-12, atol=1e-12)
    kernels.momo_update(x, d, tau, shrink)
    close(x, (x64 - tau * d64) / shrink, dtype)


@settings(max_examples=40, deadline=None)
@given(seeds, lengths, dtypes, unit, unit, st.integers(min_value=1, max_value=50), positive,
       st.floats(min_value=0.5, max_value=1.0), st.floats(min_value=1.0, max_value=2.0))
def test_momo_adam_kernels(seed, n, dtype, b1, b2, t, tau, decay, shrink):
    x, g, m = arrays(seed, n, dtype, 3)
    v = np.abs(arrays(seed + 1, n, dtype, 1)[0])
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    m_ref = b1 * m.astype(np.float64) + (1 - b1) * g64
    v_ref = b2 * v.astype(np.float64) + (1 - b2) * g64 * g64
    bc2, eps = 1.0 - b2 ** t, 1e-8
    stats = np.zeros(4)
    kernels.momo_adam_moments(x, g, m, v, stats, b1, b2, bc2, eps)
    close(m, m_ref, dtype)
    close(v, v_ref, dtype)
    m64, v64 = m.astype(np.float64), v.astype(np.float64)
    D = np.sqrt(v64 / bc2) + eps
    np.testing.assert_allclose(stats, [x64 @ g64, x64 @ m64, m64 @ (m64 / D), g64 @ (m64 / D)],
                               rtol=1e-12, atol=1e-12)
    kernels.momo_adam_update(x, m, v, tau, bc2, eps, decay, shrink)
    close(x, (decay * x64 - tau * m64 / D) / shrink, dtype)
