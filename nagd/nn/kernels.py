"""Numba kernels of the convolution and max-pooling layers.

Shapes follow PyTorch's NCHW convention: a batch of images is
``x[n, c, h, w]``, a convolution weight is ``w[f, c, i, j]``. The convolution
is "valid" (no padding) with stride 1, so ``oh = h - kh + 1`` and
``ow = w - kw + 1``.

A convolution is computed as one matrix product over the whole batch
(im2col + BLAS, measured faster here than direct loops at the paper's shapes,
see ``docs/benchmarks.md``):

``cols[k, n*P + p]``
    ``k = (c*kh + i)*kw + j`` indexes a filter tap and ``p = oy*ow + ox`` an
    output position, so ``cols[k, n*P + p] = x[n, c, oy + i, ox + j]``.
forward
    ``y = w2 @ cols`` with ``w2 = w.reshape(f, K)``; ``out[n, f, p] = y[f, n*P + p] + b[f]``.
backward
    ``dy[f, n*P + p] = dout[n, f, p]``; ``dw2 = dy @ cols.T``; ``db = dy.sum(1)``;
    ``dcols = w2.T @ dy`` scattered back (col2im) into ``dx``.

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

All kernels also run as plain Python under ``NUMBA_DISABLE_JIT=1`` (slowly).
"""
import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def im2col(x, kh, kw, cols):
    """cols[(c*kh + i)*kw + j, n*P + oy*ow + ox] = x[n, c, oy + i, ox + j]; fills cols."""
    n_b, n_c, h, w = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    P = oh * ow
    for n in range(n_b):
        for c in range(n_c):
            for i in range(kh):
                for j in range(kw):
                    k = (c * kh + i) * kw + j
                    base = n * P
                    for oy in range(oh):
                        row = base + oy * ow
                        for ox in range(ow):
                            cols[k, row + ox] = x[n, c, oy + i, ox + j]


@njit(cache=True, nogil=True)
def col2im(dcols, kh, kw, dx):
    """dx[n, c, oy + i, ox + j] = sum of dcols[(c*kh + i)*kw + j, n*P + oy*ow + ox]; overwrites dx."""
    n_b, n_c, h, w = dx.shape
    oh, ow = h - kh + 1, w - kw + 1
    P = oh * ow
    for n in range(n_b):
        for c in range(n_c):
            for y in range(h):
                for x_ in range(w):
                    dx[n, c, y, x_] = 0.0
            for i in range(kh):
                for j in range(kw):
                    k = (c * kh + i) * kw + j
                    base = n * P
                    for oy in range(oh):
                        row = base + oy * ow
                        for ox in range(ow):
                            dx[n, c, oy + i, ox + j] += dcols[k, row + ox]


@njit(cache=True, nogil=True)
def _rows_to_batch(y, b, out):
    """out[n, f, p] = y[f, n*P + p] + b[f]; fills out of shape (N, F, P)."""
    n_b, n_f, P = out.shape
    for n in range(n_b):
        for f in range(n_f):
            bf = b[f]
            for p in range(P):
                out[n, f, p] = y[f, n * P + p] + bf


@njit(cache=True, nogil=True)
def _batch_to_rows(dout, dy):
    """dy[f, n*P + p] = dout[n, f, p]; fills dy of shape (F, N*P)."""
    n_b, n_f, P = dout.shape
    for n in range(n_b):
        for f in range(n_f):
            for p in range(P):
                dy[f, n * P + p] = dout[n, f, p]


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
def conv2d_backward(dout, cols, w2, dw2, db, dy, dcols, dx, kh, kw, input_grad):
    """Fill dw2 and db (overwritten) and, when input_grad, dx, from dout (N, F, OH*OW).

    cols is the im2col matrix of the forward pass; dy (F, N*P) and dcols (K, N*P) are work arrays.
    """
    _batch_to_rows(dout, dy)
    np.dot(dy, cols.T, dw2)
    n_f, m = dy.shape
    for f in range(n_f):
        s = 0.0
        for q in range(m):
            s += dy[f, q]
        db[f] = s
    if input_grad:
        np.dot(w2.T, dy, dcols)
        col2im(dcols, kh, kw, dx)


@njit(cache=True, nogil=True)
def maxpool2d_forward(x, k, out, arg):
    """out[n, c, y, x] = max of the k x k window at (k*y, k*x); arg keeps the flat offset i*k + j of the max.

    x (N, C, H, W) with H, W multiples of k (extra rows/columns are dropped, as PyTorch
    does); out (N, C, H//k, W//k); arg the same shape, uint8. Ties keep the first maximum.
    """
    n_b, n_c, oh, ow = out.shape
    for n in range(n_b):
        for c in range(n_c):
            for oy in range(oh):
                for ox in range(ow):
                    best = x[n, c, oy * k, ox * k]
                    bi = 0
                    for i in range(k):
                        for j in range(k):
                            v = x[n, c, oy * k + i, ox * k + j]
                            if v > best:
                                best = v
                                bi = i * k + j
                    out[n, c, oy, ox] = best
                    arg[n, c, oy, ox] = bi


@njit(cache=True, nogil=True)
def maxpool2d_backward(dout, arg, k, dx):
    """dx = zeros with dout routed to each window's max (position arg); overwrites dx."""
    n_b, n_c, oh, ow = dout.shape
    h, w = dx.shape[2], dx.shape[3]
    for n in range(n_b):
        for c in range(n_c):
            for y in range(h):
                for x_ in range(w):
                    dx[n, c, y, x_] = 0.0
            for oy in range(oh):
                for ox in range(ow):
                    a = arg[n, c, oy, ox]
                    dx[n, c, oy * k + a // k, ox * k + a % k] = dout[n, c, oy, ox]
