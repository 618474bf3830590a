"""Numba kernels of the element-wise layers, the small dense layers and the losses.

ReLU, the scaling of channel dropout, the softmax cross-entropy against integer labels, and the
forward and backward passes of small dense layers and of the regression losses, each in one
compiled call (the convolution and max-pooling kernels are in `nagd.nn.conv_kernels`). Every
kernel takes float32 or float64 arrays (all of one dtype, C-contiguous) and compiles once per
dtype; the loops are serial and release the GIL (`nagd.nn.parallel.DataParallel` runs replicas
of a network in threads). All kernels also run as plain Python under ``NUMBA_DISABLE_JIT=1``.
"""
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401
from numba import njit

# The import above loads the BLAS library that Numba's matrix products call (SciPy's OpenBLAS)
# with this module rather than at the first product, so that a thread cap set with threadpoolctl
# after ``import nagd.nn`` reaches it too. Left to itself it runs one thread per core under each
# product; with the cores shared, a training step then costs 4-5 times the CPU time
# (``docs/benchmarks.md``). The convolutions (`nagd.nn.conv_kernels`) no longer call it (their
# products are the tiles of `nagd.nn._tiles`); compiled code elsewhere may.


_U = np.uint64


# ---------------------------------------------------------------------------
# Element-wise kernels of the small layers. Each is one compiled call that
# releases the GIL, instead of a few NumPy calls that each take it: the
# replicas of `nagd.nn.parallel.DataParallel` then wait less for each other.
# ---------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def relu(x, out):
    """out = x where x > 0, else 0; NaN stays NaN. x and out C-contiguous, of one shape."""
    xf, of = x.reshape(-1), out.reshape(-1)
    for i in range(_U(xf.shape[0])):
        v = xf[i]
        of[i] = v if (v > 0 or v != v) else 0


@njit(cache=True, nogil=True)
def scale_maps(x, scale, out):
    """out[n, c] = x[n, c] * scale[n, c, 0, 0] for every feature map: x and out (N, C, ...) C-contiguous,
    of one shape, scale (N, C, 1, 1) (the mask of channel dropout)."""
    sf, xf, of = scale.reshape(-1), x.reshape(-1), out.reshape(-1)
    n_maps = sf.shape[0]
    size = _U(xf.shape[0] // n_maps) if n_maps else _U(0)
    for i in range(n_maps):
        s, base = sf[i], _U(i) * size
        for q in range(size):
            of[base + q] = xf[base + q] * s


@njit(cache=True, nogil=True)
def relu_grad(dout, out, dx):
    """dx = dout where out > 0, else 0 (out from `relu`); all C-contiguous, of one shape."""
    df, of, xf = dout.reshape(-1), out.reshape(-1), dx.reshape(-1)
    for i in range(_U(df.shape[0])):
        xf[i] = df[i] if of[i] > 0 else 0


@njit(cache=True, nogil=True)
def softmax_xent_labels(pred, labels, grad):
    """Mean cross-entropy of softmax(pred) against integer labels, in float64; fills grad.

    grad[i] = (softmax(pred[i]) - onehot(labels[i])) / n. Returns ``(value, bad)``: bad is the
    index of the first label outside [0, k), or -1 (then value and grad are meaningless).
    pred (n, k) and grad C-contiguous; labels (n,) of integers.
    """
    n, k = pred.shape
    for i in range(n):
        if labels[i] < 0 or labels[i] >= k:
            return 0.0, i
    total = 0.0
    inv_n = 1.0 / n
    for i in range(n):
        row = pred[i]
        m = np.float64(row[0])
        for j in range(1, k):
            if row[j] > m:
                m = np.float64(row[j])
        s = 0.0
        for j in range(k):
            s += np.exp(np.float64(row[j]) - m)
        log_s = np.log(s)
        t = labels[i]
        total -= np.float64(row[t]) - m - log_s
        for j in range(k):
            grad[i, j] = np.exp(np.float64(row[j]) - m - log_s) * inv_n
        grad[i, t] = (np.exp(np.float64(row[t]) - m - log_s) - 1.0) * inv_n
    return total * inv_n, -1


# ---------------------------------------------------------------------------
# Small dense layers and the regression losses in one compiled call each.
# At the shapes of small networks (a minibatch of one sample and a few units)
# a step is dominated by the fixed cost of each NumPy call (about 1 us), not
# by arithmetic: `nagd.nn.layers.Dense` uses these kernels below a size limit
# and BLAS above it. Sums are accumulated in float64 in a fixed order, then
# rounded to the arrays' dtype.
# ---------------------------------------------------------------------------
ACT_IDENTITY, ACT_TANH, ACT_RELU = 0, 1, 2


@njit(cache=True, nogil=True)
def dense_forward_small(x, w, b, act, out):
    """out = act(x @ w + b) for x (n, d), w (d, m), b (m,); act one of ACT_*; fills out (n, m).

    Each output is accumulated in float64 (bias first, then the d products in order).
    ReLU keeps NaN; tanh is ``np.tanh`` of the float64 sum.
    """
    n, d = x.shape
    m = w.shape[1]
    acc = np.empty(m)
    for i in range(n):
        for j in range(m):
            acc[j] = b[j]
        for k in range(d):
            xv = np.float64(x[i, k])
            for j in range(m):
                acc[j] += xv * w[k, j]
        for j in range(m):
            z = acc[j]
            if act == 1:
                z = np.tanh(z)
            elif act == 2:
                z = z if (z > 0 or z != z) else 0.0
            out[i, j] = z


@njit(cache=True, nogil=True)
def dense_backward_small(dout, x, w, out, act, dw, db, dx, input_grad):
    """Gradients of `dense_forward_small` from dout (n, m): overwrites dw (d, m), db (m,) and,
    when input_grad, dx (n, d). out is the forward output (for tanh and ReLU).

    dz = dout * act'(z); dw = x.T @ dz; db = sum over rows of dz; dx = dz @ w.T, each sum in
    float64 in row order.
    """
    n, m = dout.shape
    d = x.shape[1]
    dz = np.empty((n, m))
    for i in range(n):
        for j in range(m):
            g = np.float64(dout[i, j])
            if act == 1:
                o = np.float64(out[i, j])
                g = g * (1.0 - o * o)
            elif act == 2:
                g = g if out[i, j] > 0 else 0.0
            dz[i, j] = g
    acc = np.zeros((d, m))
    accb = np.zeros(m)
    for i in range(n):
        for k in range(d):
            xv = np.float64(x[i, k])
            for j in range(m):
                acc[k, j] += xv * dz[i, j]
        for j in range(m):
            accb[j] += dz[i, j]
    for k in range(d):
        for j in range(m):
            dw[k, j] = acc[k, j]
    for j in range(m):
        db[j] = accb[j]
    if input_grad:
        for i in range(n):
            for k in range(d):
                s = 0.0
                for j in range(m):
                    s += dz[i, j] * w[k, j]
                dx[i, k] = s


@njit(cache=True, nogil=True)
def mean_distance_kernel(pred, target, grad):
    """Return mean_i ||pred_i - target_i|| (float64); fill grad (pred's dtype) with
    (pred_i - target_i) / (n ||pred_i - target_i||), 0 for a row at distance 0.

    Each difference is rounded to pred's dtype first (as ``pred - target`` in NumPy), then
    squared and summed in float64. pred, target and grad of shape (n, m).
    """
    n, m = pred.shape
    total = 0.0
    for i in range(n):
        s = 0.0
        for j in range(m):
            e = np.float64(pred[i, j] - target[i, j])
            grad[i, j] = pred[i, j] - target[i, j]
            s += e * e
        dist = np.sqrt(s)
        total += dist
        scale = 1.0 / (n * dist) if dist > 0.0 else 0.0
        for j in range(m):
            grad[i, j] = np.float64(grad[i, j]) * scale
    return total / n


@njit(cache=True, nogil=True)
def mse_kernel(pred, target, grad):
    """Return mean((pred - target)**2) (squares summed in float64); fill grad with
    2 (pred - target) / size in pred's dtype. pred, target and grad C-contiguous, one shape.
    """
    pf, tf, gf = pred.reshape(-1), target.reshape(-1), grad.reshape(-1)
    size = pf.shape[0]
    scale = 2.0 / size
    total = 0.0
    for i in range(size):
        e = pf[i] - tf[i]
        e64 = np.float64(e)
        total += e64 * e64
        gf[i] = e * scale
    return total / size
