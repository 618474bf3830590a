"""Numba kernels of the convolution, max-pooling and ReLU layers and of the softmax cross-entropy.

Shapes follow PyTorch's NCHW convention: a batch of images is
``x[n, c, h, w]``, a convolution weight is ``w[f, c, i, j]``. The convolution
is "valid" (no padding) with stride 1, so ``oh = h - kh + 1`` and
``ow = w - kw + 1``.

A convolution is computed as one matrix product over the whole batch
(im2col + BLAS, measured faster here than direct loops at the paper's shapes,
see ``docs/benchmarks.md``), except a first layer with one input channel,
which has direct loops of its own (`conv2d_direct_forward`, below):

``cols[k, n*P + p]``
    ``k = (c*kh + i)*kw + j`` indexes a filter tap and ``p = oy*ow + ox`` an
    output position, so ``cols[k, n*P + p] = x[n, c, oy + i, ox + j]``.
forward
    ``y = w2 @ cols`` with ``w2 = w.reshape(f, K)``; ``out[n, f, p] = y[f, n*P + p] + b[f]``.
backward
    ``dyt[n*P + p, f] = dout[n, f, p]``; ``dw2 = (cols @ dyt).T``; ``db = dyt.sum(0)``;
    ``dcols = w2.T @ dyt.T`` scattered back (col2im) into ``dx``.

Every kernel takes float32 or float64 arrays (all of one dtype) and compiles
once per dtype; products are accumulated by BLAS in that dtype, the bias
gradient in float64. The copy loops (im2col, col2im, pooling) are serial:
the matrix products, about 60% of the work, use the BLAS threads. Serial
loops compile four times faster than ``parallel=True`` ones and, unlike
them, do not collapse when the cores are shared with other processes
(``docs/benchmarks.md``). They release the GIL, so that
`nagd.nn.parallel.DataParallel` can run replicas of a network in threads
(one synchronisation per step); many runs are best spread one per core by
the experiment runner. The kernels never allocate the big work arrays
themselves: the layers keep them between calls.

The copy loops index flat views of C-contiguous arrays with unsigned offsets:
with signed indices Numba must allow for negative (from-the-end) indexing, and
that check kept LLVM from vectorizing the short inner loops (three times slower
at the paper's shapes, ``docs/benchmarks.md``). Every array argument must be
C-contiguous; the layers guarantee it.

All kernels also run as plain Python under ``NUMBA_DISABLE_JIT=1`` (slowly).
"""
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401
from numba import njit

# The import above loads the BLAS library that Numba's matrix products call (SciPy's OpenBLAS)
# with this module rather than at the first product, so that a thread cap set with threadpoolctl
# after ``import nagd.nn`` reaches it too. Left to itself it runs one thread per core under each
# product; with the cores shared, a training step then costs 4-5 times the CPU time
# (``docs/benchmarks.md``).


_U = np.uint64


@njit(inline="always")
def _copy8(src, s, dst, d):
    """dst[d:d+8] = src[s:s+8]: all loads before the stores, so that LLVM packs them into vectors (it
    cannot prove that the two arrays do not overlap, and a loop of 8 is too short for its loop vectorizer)."""
    v0, v1, v2, v3 = src[s], src[s + _U(1)], src[s + _U(2)], src[s + _U(3)]
    v4, v5, v6, v7 = src[s + _U(4)], src[s + _U(5)], src[s + _U(6)], src[s + _U(7)]
    dst[d], dst[d + _U(1)], dst[d + _U(2)], dst[d + _U(3)] = v0, v1, v2, v3
    dst[d + _U(4)], dst[d + _U(5)], dst[d + _U(6)], dst[d + _U(7)] = v4, v5, v6, v7


@njit(inline="always")
def _add8(src, s, dst, d):
    """dst[d:d+8] += src[s:s+8], loads first (see `_copy8`)."""
    v0, v1, v2, v3 = dst[d] + src[s], dst[d + _U(1)] + src[s + _U(1)], dst[d + _U(2)] + src[s + _U(2)], \
        dst[d + _U(3)] + src[s + _U(3)]
    v4, v5, v6, v7 = dst[d + _U(4)] + src[s + _U(4)], dst[d + _U(5)] + src[s + _U(5)], \
        dst[d + _U(6)] + src[s + _U(6)], dst[d + _U(7)] + src[s + _U(7)]
    dst[d], dst[d + _U(1)], dst[d + _U(2)], dst[d + _U(3)] = v0, v1, v2, v3
    dst[d + _U(4)], dst[d + _U(5)], dst[d + _U(6)], dst[d + _U(7)] = v4, v5, v6, v7


@njit(cache=True, nogil=True)
def im2col(x, kh, kw, cols):
    """cols[(c*kh + i)*kw + j, n*P + oy*ow + ox] = x[n, c, oy + i, ox + j]; fills cols."""
    n_b, n_c, h, w = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    P, m = oh * ow, cols.shape[1]
    xf, cf = x.reshape(-1), cols.reshape(-1)
    for n in range(n_b):
        for c in range(n_c):
            image = (n * n_c + c) * h * w
            for i in range(kh):
                for j in range(kw):
                    dst = ((c * kh + i) * kw + j) * m + n * P
                    src = image + i * w + j
                    for oy in range(oh):
                        d, s = _U(dst + oy * ow), _U(src + oy * w)
                        if ow == 8:
                            _copy8(xf, s, cf, d)
                        else:
                            for ox in range(_U(ow)):
                                cf[d + ox] = xf[s + ox]


@njit(cache=True, nogil=True)
def col2im(dcols, kh, kw, dx):
    """dx[n, c, oy + i, ox + j] = sum of dcols[(c*kh + i)*kw + j, n*P + oy*ow + ox]; overwrites dx.

    The taps are added with j outermost, so that consecutive row updates go to different rows
    of dx (with i or j innermost, each update would read what the one before has just written,
    shifted by one element, and wait for it).
    """
    n_b, n_c, h, w = dx.shape
    oh, ow = h - kh + 1, w - kw + 1
    P, m = oh * ow, dcols.shape[1]
    xf, cf = dx.reshape(-1), dcols.reshape(-1)
    for q in range(_U(xf.shape[0])):
        xf[q] = 0.0
    for n in range(n_b):
        for c in range(n_c):
            image = (n * n_c + c) * h * w
            for j in range(kw):
                for i in range(kh):
                    src = ((c * kh + i) * kw + j) * m + n * P
                    dst = image + i * w + j
                    for oy in range(oh):
                        s, d = _U(src + oy * ow), _U(dst + oy * w)
                        if ow == 8:
                            _add8(cf, s, xf, d)
                        else:
                            for ox in range(_U(ow)):
                                xf[d + ox] += cf[s + ox]


@njit(cache=True, nogil=True)
def _rows_to_batch(y, b, out):
    """out[n, f, p] = y[f, n*P + p] + b[f]; fills out of shape (N, F, P)."""
    n_b, n_f, P = out.shape
    m = y.shape[1]
    yf, of = y.reshape(-1), out.reshape(-1)
    for n in range(n_b):
        for f in range(n_f):
            bf = b[f]
            s, d = _U(f * m + n * P), _U((n * n_f + f) * P)
            for p in range(_U(P)):
                of[d + p] = yf[s + p] + bf


@njit(cache=True, nogil=True)
def _batch_to_columns(dout, dyt):
    """dyt[n*P + p, f] = dout[n, f, p]; fills dyt of shape (N*P, F)."""
    n_b, n_f, P = dout.shape
    yf, of = dyt.reshape(-1), dout.reshape(-1)
    uf = _U(n_f)
    for n in range(n_b):
        for f in range(n_f):
            s, d = _U((n * n_f + f) * P), _U(n * P * n_f + f)
            for p in range(_U(P)):
                yf[d + p * uf] = of[s + p]


@njit(cache=True, nogil=True)
def _column_sums(a, out):
    """out[f] = sum of a[:, f], accumulated in float64 in row order (one running sum per column)."""
    m, n_f = a.shape
    acc = np.zeros(n_f)
    for q in range(m):
        row = a[q]
        for f in range(n_f):
            acc[f] += np.float64(row[f])
    for f in range(n_f):
        out[f] = acc[f]


@njit(cache=True, nogil=True)
def conv2d_forward(x, w2, b, kh, kw, cols, y, out):
    """out = conv(x, w) + b (valid, stride 1) via im2col + one matmul; fills cols, y and out.

    x (N, C, H, W); w2 (F, C*kh*kw); b (F,); cols (C*kh*kw, N*OH*OW); y (F, N*OH*OW) a work
    array; out (N, F, OH*OW).
    """
    im2col(x, kh, kw, cols)
    np.dot(w2, cols, y)
    _rows_to_batch(y, b, out)


@njit(cache=True, nogil=True)
def conv2d_backward(dout, cols, w2, dw2, db, dyt, dw2t, dcols, dx, kh, kw, input_grad):
    """Fill dw2 and db (overwritten) and, when input_grad, dx, from dout (N, F, OH*OW).

    cols (K, N*P) is the im2col matrix of the forward pass; dyt (N*P, F), dw2t (K, F) and
    dcols (K, N*P) are work arrays. The output gradient is laid out with the filters last
    (dyt), so that the weight-gradient product has the long side as its rows:
    ``dw2t = cols @ dyt``, which OpenBLAS computes about 1.6 times faster than
    ``dy @ cols.T`` with its 10 or 20 rows (``docs/benchmarks.md``).
    """
    _batch_to_columns(dout, dyt)
    np.dot(cols, dyt, dw2t)
    n_f, n_k = dw2.shape
    for f in range(n_f):
        for k in range(n_k):
            dw2[f, k] = dw2t[k, f]
    _column_sums(dyt, db)
    if input_grad:
        np.dot(w2.T, dyt.T, dcols)
        col2im(dcols, kh, kw, dx)


@njit(cache=True, nogil=True)
def maxpool2d_forward(x, k, out, arg):
    """out[n, c, y, x] = max of the k x k window at (k*y, k*x); arg keeps the flat offset i*k + j of the max.

    x (N, C, H, W) with H, W multiples of k (extra rows/columns are dropped, as PyTorch
    does); out (N, C, H//k, W//k); arg the same shape, uint8. Ties keep the first maximum.
    The common 2 x 2 window has its own unrolled loop (about three times faster).
    """
    n_b, n_c, oh, ow = out.shape
    h, w = x.shape[2], x.shape[3]
    xf, of, af = x.reshape(-1), out.reshape(-1), arg.reshape(-1)
    uk, uw = _U(k), _U(w)
    for image in range(n_b * n_c):
        for oy in range(oh):
            o = _U((image * oh + oy) * ow)
            row = _U(image * h * w) + _U(oy * k) * uw
            if k == 2:
                for ox in range(_U(ow)):
                    s = row + ox * _U(2)
                    best, bi = xf[s], np.uint8(0)
                    v = xf[s + _U(1)]
                    if v > best:
                        best, bi = v, np.uint8(1)
                    v = xf[s + uw]
                    if v > best:
                        best, bi = v, np.uint8(2)
                    v = xf[s + uw + _U(1)]
                    if v > best:
                        best, bi = v, np.uint8(3)
                    of[o + ox] = best
                    af[o + ox] = bi
            else:
                for ox in range(_U(ow)):
                    s = row + ox * uk
                    best, bi = xf[s], np.uint8(0)
                    for i in range(_U(k)):
                        for j in range(_U(k)):
                            v = xf[s + i * uw + j]
                            if v > best:
                                best, bi = v, np.uint8(i * uk + j)
                    of[o + ox] = best
                    af[o + ox] = bi


@njit(cache=True, nogil=True)
def maxpool2d_backward(dout, arg, k, dx):
    """dx = zeros with dout routed to each window's max (position arg); overwrites dx."""
    n_b, n_c, oh, ow = dout.shape
    h, w = dx.shape[2], dx.shape[3]
    xf, df, af = dx.reshape(-1), dout.reshape(-1), arg.reshape(-1)
    uk, uw = _U(k), _U(w)
    # offset in dx of each window position a = i*k + j, looked up instead of two integer divisions
    # per window (a third of the pass's time)
    offs = np.empty(k * k, dtype=np.uint64)
    for i in range(k):
        for j in range(k):
            offs[i * k + j] = i * w + j
    for q in range(_U(xf.shape[0])):
        xf[q] = 0.0
    for image in range(n_b * n_c):
        for oy in range(oh):
            o = _U((image * oh + oy) * ow)
            row = _U(image * h * w) + _U(oy * k) * uw
            for ox in range(_U(ow)):
                xf[row + ox * uk + offs[af[o + ox]]] = df[o + ox]


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


# ---------------------------------------------------------------------------
# Direct convolution of a one-channel input (the first layer of an image
# network: K = kh*kw taps, few filters). im2col would copy each pixel K times
# and the matrix product would have only F rows, which BLAS computes slowly.
# Instead each image is read as rows of full width: with q = oy*w + ox, tap
# (i, j) reads x[q + i*w + j], so a tap is one long contiguous loop over q,
# which LLVM vectorizes (the columns ox >= ow in between are computed and
# dropped). A 5-wide kernel row is done in one pass: the five products share
# the loads and stores of the sums.
# ---------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def conv2d_direct_forward(x, w2, b, kh, kw, out):
    """out[n, f, oy, ox] = b[f] + sum_{i,j} w2[f, i*kw + j] x[n, 0, oy + i, ox + j]; fills out.

    x (N, 1, H, W), w2 (F, kh*kw), b (F,), out (N, F, OH, OW), one dtype, C-contiguous.
    Each output is b[f] plus the taps in (i, j) order, in the arrays' dtype (the same
    roundings on every CPU: no fused multiply-add, no reordering).
    """
    n_b, _, h, w = x.shape
    n_f, n_k = w2.shape
    oh, ow = h - kh + 1, w - kw + 1
    span = (oh - 1) * w + ow                   # positions q = oy*w + ox up to the last output
    acc = np.empty(span, dtype=out.dtype)
    offs = np.empty(n_k, dtype=np.uint64)
    for i in range(kh):
        for j in range(kw):
            offs[i * kw + j] = i * w + j
    xf, of = x.reshape(-1), out.reshape(-1)
    for n in range(n_b):
        img = _U(n * h * w)
        for f in range(n_f):
            bf = b[f]
            for q in range(acc.shape[0]):
                acc[q] = bf
            if kw == 5:         # a kernel row's five taps in one pass over acc, added in tap order
                for i in range(kh):
                    t = i * 5
                    w0, w1, w2_, w3, w4 = w2[f, t], w2[f, t + 1], w2[f, t + 2], w2[f, t + 3], w2[f, t + 4]
                    s = img + offs[t]
                    for q in range(_U(span)):
                        acc[q] = ((((acc[q] + w0 * xf[s + q]) + w1 * xf[s + q + _U(1)]) + w2_ * xf[s + q + _U(2)])
                                  + w3 * xf[s + q + _U(3)]) + w4 * xf[s + q + _U(4)]
            else:
                for t in range(n_k):
                    wv = w2[f, t]
                    s = img + offs[t]
                    for q in range(_U(span)):
                        acc[q] += wv * xf[s + q]
            d = _U((n * n_f + f) * oh * ow)
            for oy in range(oh):
                src, dst = _U(oy * w), d + _U(oy * ow)
                for ox in range(_U(ow)):
                    of[dst + ox] = acc[src + ox]


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def conv2d_direct_weight_grad(x, dout, dw2, db):
    """dw2[f, i*kw + j] = sum_{n,oy,ox} dout[n, f, oy, ox] x[n, 0, oy + i, ox + j] and db[f] = sum of
    dout[:, f]; overwrites both. x (N, 1, H, W), dout (N, F, OH, OW), dw2 (F, kh*kw), db (F,).

    kh and kw follow from the shapes. Each weight's sum runs in the dtype over the whole batch
    (as BLAS does), in an order LLVM chooses for the machine's vector width (``reassoc``): like
    a BLAS product, deterministic on one machine but not bitwise the same on every CPU. The
    bias sums are float64.
    """
    n_b, _, h, w = x.shape
    n_f = dout.shape[1]
    oh, ow = dout.shape[2], dout.shape[3]
    kh, kw = h - oh + 1, w - ow + 1
    span = (oh - 1) * w + ow
    dfull = np.zeros((n_b, span), dtype=dout.dtype)
    offs = np.empty(kh * kw, dtype=np.uint64)
    for i in range(kh):
        for j in range(kw):
            offs[i * kw + j] = i * w + j
    xf, df, ff = x.reshape(-1), dout.reshape(-1), dfull.reshape(-1)
    us = _U(span)
    zero = np.zeros(1, dtype=dout.dtype)
    for f in range(n_f):
        sb = 0.0
        for n in range(n_b):
            src, dst = _U((n * n_f + f) * oh * ow), _U(n * span)
            for oy in range(oh):
                row, d = src + _U(oy * ow), dst + _U(oy * w)
                for ox in range(_U(ow)):
                    v = df[row + ox]
                    ff[d + ox] = v
                    sb += np.float64(v)
        db[f] = sb
        if kw == 5:             # the five taps of a kernel row in one pass: dout read once for five
            for i in range(kh):
                a0, a1, a2, a3, a4 = zero[0], zero[0], zero[0], zero[0], zero[0]
                for n in range(n_b):
                    s, d = _U(n * h * w) + _U(i * w), _U(n) * us
                    for q in range(us):
                        v = ff[d + q]
                        a0 += v * xf[s + q]
                        a1 += v * xf[s + q + _U(1)]
                        a2 += v * xf[s + q + _U(2)]
                        a3 += v * xf[s + q + _U(3)]
                        a4 += v * xf[s + q + _U(4)]
                t = i * 5
                dw2[f, t], dw2[f, t + 1], dw2[f, t + 2], dw2[f, t + 3], dw2[f, t + 4] = a0, a1, a2, a3, a4
            continue
        for t in range(offs.shape[0]):
            acc = zero[0]
            for n in range(n_b):
                s, d = _U(n * h * w) + offs[t], _U(n) * us
                for q in range(us):
                    acc += ff[d + q] * xf[s + q]
            dw2[f, t] = acc
