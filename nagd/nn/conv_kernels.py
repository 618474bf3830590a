"""Numba kernels of the convolution and max-pooling layers and of the fused convolution block.

Shapes follow PyTorch's NCHW convention: a batch of images is
``x[n, c, h, w]``, a convolution weight is ``w[f, c, i, j]``. The convolution
is "valid" (no padding) with stride 1, so ``oh = h - kh + 1`` and
``ow = w - kw + 1``.

A convolution is an im2col matrix times the weights, a few images at a time
(a chunk whose im2col matrix stays in the core's cache), except a first layer
with one input channel, which reads its input in place (`conv2d_direct_forward`,
below). For a chunk of n images:

``cols[k, n*P + p]``
    ``k = (c*kh + i)*kw + j`` indexes a filter tap and ``p = oy*ow + ox`` an
    output position, so ``cols[k, n*P + p] = x[n, c, oy + i, ox + j]``.
forward
    ``out[n, f, p] = b[f] + sum_k w2[f, k] cols[k, n*P + p]`` with ``w2 = w.reshape(f, K)``.
backward
    cols rebuilt from x; ``dy[f, n*P + p] = dout[n, f, p]``; ``dw2 += dy @ cols.T``;
    ``db += dy.sum(1)``; ``dcols = w2.T @ dy`` scattered back (col2im) into ``dx``.

The products are the register tiles of `nagd.nn._tiles` (not BLAS), whose sums run in an order
fixed by the shapes: the same bits on every CPU with FMA, whatever its vector width. A
convolution followed by channel dropout, max pooling and ReLU can run as one pass
(`nagd.nn.layers.ConvBlock`): the forward kernels then pool the output maps while they are in
cache, and the backward kernels build the convolution's output gradient from the pooled one.

Every kernel takes float32 or float64 arrays (all of one dtype) and compiles
once per dtype. The loops are serial: they compile four times faster than
``parallel=True`` ones and, unlike them, do not collapse when the cores are
shared with other processes (``docs/benchmarks.md``). They release the GIL, so
that `nagd.nn.parallel.DataParallel` can run replicas of a network in threads
(one synchronisation per step); many runs are best spread one per core by the
experiment runner. The kernels never allocate the big work arrays themselves:
the layers keep them between calls.

The copy loops index flat views of C-contiguous arrays with unsigned offsets:
with signed indices Numba must allow for negative (from-the-end) indexing, and
that check kept LLVM from vectorizing the short inner loops (three times slower
at the paper's shapes, ``docs/benchmarks.md``). Every array argument must be
C-contiguous; the layers guarantee it.

All kernels also run as plain Python under ``NUMBA_DISABLE_JIT=1`` (slowly; the
vectors are then small NumPy arrays, multiplied and added with two roundings).
"""
import numpy as np
from numba import njit

from ._simd import vadd, vlanes, vload8, vmuladd, vstore8
from ._tiles import _dots, _lane_sums, _products, _row_sum

_U = np.uint64


@njit(cache=True, nogil=True)
def im2col(x, kh, kw, cols):
    """cols[(c*kh + i)*kw + j, n*P + oy*ow + ox] = x[n, c, oy + i, ox + j]; fills the first N*P columns of cols.

    Row by row of cols, whose columns are contiguous: per tap (c, i, j), one loop over the images
    and output rows (rows of 8 copied as one vector), with the offsets advanced by additions.
    """
    n_b, n_c, h, w = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    m = cols.shape[1]
    xf, cf = x.reshape(-1), cols.reshape(-1)
    img, uw, uow = _U(n_c * h * w), _U(w), _U(ow)
    for c in range(n_c):
        for i in range(kh):
            for j in range(kw):
                d = _U(((c * kh + i) * kw + j) * m)
                s0 = _U(c * h * w + i * w + j)
                for n in range(n_b):
                    s = s0 + _U(n) * img
                    if ow == 8:
                        for oy in range(oh):
                            vstore8(cf, d, vload8(xf, s))
                            d += uow
                            s += uw
                    else:
                        for oy in range(oh):
                            for ox in range(uow):
                                cf[d + ox] = xf[s + ox]
                            d += uow
                            s += uw


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
                        if ow == 8:     # one vector of 8 (the scalar adds were not vectorized)
                            vstore8(xf, d, vadd(vload8(xf, d), vload8(cf, s)))
                        else:
                            for ox in range(_U(ow)):
                                xf[d + ox] += cf[s + ox]


@njit(cache=True, nogil=True)
def round_up(n, k):
    """The smallest multiple of k that is at least n."""
    return -(-n // k) * k


@njit(cache=True, nogil=True)
def _map_out(src, base, stride, oh, ow, pool, relu, scale, i, of, o, af, zero):
    """The output of feature map i of a convolution, from its values src[base + oy*stride + ox].

    pool == 0: of[o + oy*ow + ox] = the value. Otherwise the block convolution, channel
    dropout, max pooling, ReLU in one pass: each value times scale[i] (when scale is not
    empty), the k x k windows' maxima (the first one on ties, its position a*k + b in af)
    and, when relu, max(., 0) (NaN kept): the roundings and choices of the separate layers.
    zero is a one-element array holding 0 in the dtype.
    """
    if pool == 0:
        for oy in range(oh):
            s, d = _U(base + oy * stride), _U(o + oy * ow)
            for ox in range(_U(ow)):
                of[d + ox] = src[s + ox]
        return
    k = pool
    ph, pw = oh // k, ow // k
    use_scale = scale.shape[0] > 0
    sc = scale[i] if use_scale else src[0]
    us = _U(stride)
    for py in range(ph):
        d = _U(o + py * pw)
        row = _U(base + py * k * stride)
        for px in range(_U(pw)):
            q = row + px * _U(k)
            best, bi = src[q], np.uint8(0)
            if use_scale:
                best = best * sc
            if k == 2:
                v = src[q + _U(1)]
                if use_scale:
                    v = v * sc
                if v > best:
                    best, bi = v, np.uint8(1)
                v = src[q + us]
                if use_scale:
                    v = v * sc
                if v > best:
                    best, bi = v, np.uint8(2)
                v = src[q + us + _U(1)]
                if use_scale:
                    v = v * sc
                if v > best:
                    best, bi = v, np.uint8(3)
            else:
                for a in range(_U(k)):
                    for b in range(_U(k)):
                        v = src[q + a * us + b]
                        if use_scale:
                            v = v * sc
                        if v > best:
                            best, bi = v, np.uint8(a * _U(k) + b)
            if relu and not (best > 0 or best != best):
                best = zero[0]
            of[d + px] = best
            af[d + px] = bi


@njit(cache=True, nogil=True)
def _window_offsets(pool, stride):
    """offs[a*k + b] = a*stride + b for a k x k window (pool = k >= 1): looked up instead of two integer
    divisions per window."""
    k = max(pool, 1)
    offs = np.empty(k * k, dtype=np.uint64)
    for a in range(k):
        for b in range(k):
            offs[a * k + b] = a * stride + b
    return offs


@njit(cache=True, nogil=True)
def _map_grad(dout, o, oh, ow, pool, arg, relu_out, scale, i, dst, base, stride, zero, offs):
    """The gradient with respect to feature map i of a convolution's output, written to
    dst[base + oy*stride + ox] for oy < oh, ox < ow, from dout[o + ...], the gradient with
    respect to the map's output of `_map_out` (pooled or not).

    pool > 0: the row segments are zeroed, then each window's maximum (position arg) receives
    dout (0 where relu_out <= 0, when relu_out is not empty) times scale[i] (when not empty):
    the backward passes of ReLU, max pooling and channel dropout, with their roundings.
    zero is a one-element array holding 0 in the dtype, offs the window offsets
    (`_window_offsets(pool, stride)`).
    """
    us = _U(stride)
    if pool == 0:
        for oy in range(oh):
            s, d = _U(o + oy * ow), _U(base) + _U(oy) * us
            for ox in range(_U(ow)):
                dst[d + ox] = dout[s + ox]
        return
    for oy in range(oh):
        d = _U(base) + _U(oy) * us
        for ox in range(_U(ow)):
            dst[d + ox] = zero[0]
    k = _U(pool)
    ph, pw = oh // pool, ow // pool
    use_relu, use_scale = relu_out.shape[0] > 0, scale.shape[0] > 0
    for py in range(ph):
        src = _U(o + py * pw)
        row = _U(base) + _U(py) * k * us
        for px in range(_U(pw)):
            g = dout[src + px]
            if use_relu and not relu_out[src + px] > 0:
                g = zero[0]
            if use_scale:
                g = g * scale[i]
            dst[row + px * k + offs[arg[src + px]]] = g


@njit(cache=True, nogil=True)
def _weights_by_tap(w2, b, fp):
    """(w2t, bias): w2t[k, f] = w2[f, k] and bias[f] = b[f], zero for the padding filters f >= F up to fp
    (the forward product's tiles take 4 filters at a time)."""
    n_f, n_k = w2.shape
    w2t = np.zeros((n_k, fp), dtype=w2.dtype)
    bias = np.zeros(fp, dtype=w2.dtype)
    for f in range(n_f):
        bias[f] = b[f]
        for k in range(n_k):
            w2t[k, f] = w2[f, k]
    return w2t, bias


@njit(cache=True, nogil=True)
def _chunk_cols(x, kh, kw, P, L, c):
    """The im2col matrix of the chunk of images x in the rows c[k] (k < K), zero in the columns from
    m = len(x)*P up to mq, m rounded up to the tiles' 4*L columns; returns (m, mq)."""
    m = x.shape[0] * P
    mq = round_up(m, 4 * L)
    im2col(x, kh, kw, c)
    for k in range(x.shape[1] * kh * kw):
        for q in range(m, mq):
            c[k, q] = 0.0
    return m, mq


def conv2d_work_sizes(n_k, n_f, chunk, p, dtype):
    """Lengths of the flat work arrays of `conv2d_forward` and `conv2d_backward`.

    Parameters
    ----------
    n_k : int
        K, the taps of one filter (channels x kernel height x kernel width).
    n_f : int
        F, the filters.
    chunk : int
        Images processed together.
    p : int
        Output positions of one image.
    dtype : numpy dtype
        float32 or float64: the vector width in elements follows from it.

    Returns
    -------
    tuple of int
        ``(cols, rows, dcols)``: the lengths of the im2col work array, the product's work
        array and the backward pass's column gradient.
    """
    vl = 64 // np.dtype(dtype).itemsize
    mp = round_up(chunk * p, 4 * vl)
    return round_up(n_k, 4) * mp, round_up(n_f, 4) * mp, round_up(n_k, 4) * mp


@njit(cache=True, nogil=True)
def conv2d_forward(x, w2, b, kh, kw, chunk, cols, y, out, pool, relu, scale, arg):
    """out = conv(x, w) + b (valid, stride 1), ``chunk`` images at a time: im2col, then the product.

    x (N, C, H, W); w2 (F, K) with K = C*kh*kw; b (F,); out (N, F, P) with P = OH*OW, filled;
    or, with pool = k > 0, the block conv, channel dropout (scale, one factor per map, or
    empty), k x k max pooling (arg: the maxima's positions, uint8) and, when relu, ReLU:
    out (N, F, (OH//k)*(OW//k)) (`_map_out`).
    cols and y are flat work arrays of the lengths `conv2d_work_sizes` gives: a chunk's im2col
    matrix (K rows of Mp = chunk*P rounded up to 4 vectors) is read by the product while it is
    still in the core's cache. Each output is b[f] plus the K products in tap order
    (`_products`).
    """
    n_b = x.shape[0]
    n_f, n_k = w2.shape
    oh, ow = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    P = oh * ow
    OP = P if pool == 0 else (oh // pool) * (ow // pool)
    L = vlanes(cols)
    mp = round_up(chunk * P, 4 * L)
    fp = round_up(n_f, 4)
    zero = np.zeros(1, dtype=out.dtype)
    af = arg.reshape(-1)
    w2t, bias = _weights_by_tap(w2, b, fp)
    boff = np.arange(n_k).astype(np.uint64) * _U(mp)
    c = cols[:n_k * mp].reshape(n_k, mp)
    of, yf = out.reshape(-1), y
    for s in range(0, n_b, chunk):
        e = min(n_b, s + chunk)
        _, mq = _chunk_cols(x[s:e], kh, kw, P, L, c)
        _products(w2t.reshape(-1), fp, cols, boff, n_k, y, mp, fp, mq, bias)
        for n in range(e - s):
            for f in range(n_f):
                i = (s + n) * n_f + f
                _map_out(yf, f * mp + n * P, ow, oh, ow, pool, relu, scale, i, of, i * OP, af, zero)


@njit(cache=True, nogil=True)
def conv2d_backward(x, dout, w2, kh, kw, chunk, cols, dy, dcols, dw2, db, dx, input_grad, pool, arg, relu_out,
                    scale):
    """Overwrite dw2 (F, K) and db (F,) and, when input_grad, dx (N, C, H, W) from dout (N, F, P).

    With pool = k > 0, dout (N, F, (OH//k)*(OW//k)) is the gradient with respect to the block
    output of `conv2d_forward`, whose arg, ReLU output (relu_out, or empty without ReLU) and
    dropout scale it takes (`_map_grad`).

    x is the forward input; ``chunk`` images at a time its im2col matrix is rebuilt in the work
    array cols (cheaper than keeping the whole batch's, which leaves the cache between the two
    passes), dout is copied to dy (F rows of Mp), the weight-gradient sums are advanced
    (`_dots`) and, when input_grad, ``dcols = w2.T @ dy`` (`_products`, each entry the F
    products added in filter order) is scattered back by col2im. cols, dy and dcols are flat
    work arrays of the lengths `conv2d_work_sizes` gives (rows and dcols).

    Sums: each weight gradient is VL partial sums in the dtype, lane l taking the positions
    q = l, l + VL, ... of each chunk in order, then added in float64 (`_lane_sums`); the bias
    gradient of each chunk is 8 float64 partial sums (`_row_sum`), added in chunk order. The
    same bits on every CPU.
    """
    n_b = x.shape[0]
    n_f, n_k = w2.shape
    oh, ow = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    P = oh * ow
    OP = P if pool == 0 else (oh // pool) * (ow // pool)
    L = vlanes(cols)
    mp = round_up(chunk * P, 4 * L)
    fp, kp = round_up(n_f, 4), round_up(n_k, 4)
    af, rof = arg.reshape(-1), relu_out.reshape(-1)
    offs = _window_offsets(pool, ow)
    acc = np.zeros(kp * fp * L, dtype=cols.dtype)
    bacc = np.zeros(n_f)
    lanes64 = np.empty(8)
    w2p = np.zeros((n_f, kp), dtype=w2.dtype)
    for f in range(n_f):
        for k in range(n_k):
            w2p[f, k] = w2[f, k]
    aoff = np.arange(kp).astype(np.uint64) * _U(mp)
    boff = np.arange(fp).astype(np.uint64) * _U(mp)
    c = cols[:kp * mp].reshape(kp, mp)
    d = dy[:fp * mp].reshape(fp, mp)
    c[n_k:] = 0.0               # the padding rows of the tiles stay zero
    d[n_f:] = 0.0
    zero = np.zeros(1, dtype=cols.dtype)
    dof = dout.reshape(-1)
    for s in range(0, n_b, chunk):
        e = min(n_b, s + chunk)
        m, mq = _chunk_cols(x[s:e], kh, kw, P, L, c)
        for f in range(n_f):
            row = d[f]
            for n in range(e - s):
                i = (s + n) * n_f + f
                _map_grad(dof, i * OP, oh, ow, pool, af, rof, scale, i, dy, f * mp + n * P, ow, zero, offs)
            for q in range(m, mq):
                row[q] = zero[0]
            bacc[f] += _row_sum(dy, f * mp, mq, lanes64)
        _dots(cols, aoff, dy, boff, mq, acc)
        if input_grad:
            _products(w2p.reshape(-1), kp, dy, boff, n_f, dcols, mp, kp, mq, np.zeros(kp, dtype=w2.dtype))
            col2im(dcols[:n_k * mp].reshape(n_k, mp), kh, kw, dx[s:e])
    _lane_sums(acc, kp, fp, dw2)
    for f in range(n_f):
        db[f] = bacc[f]


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
# Direct convolution of a one-channel input (the first layer of an image
# network: K = kh*kw taps, few filters). im2col would copy each pixel K times.
# Instead each image is read in place as rows of full width: with
# q = oy*w + ox, tap (i, j) reads x[q + i*w + j], so the taps are the rows of
# a matrix read at the offsets i*w + j of the image, and the convolution is a
# product by the (F, K) weights, computed by the tiles of `nagd.nn._tiles`
# (the columns ox >= ow in between are computed and dropped).
# ---------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _image_source(xf, img, size, reach, pad):
    """(array, offset) to read the image starting at xf[img] up to ``reach`` elements past its start:
    xf itself, or, when that would read past the end of xf (the last image), a copy in pad
    (zeros after the image)."""
    if img + reach <= xf.shape[0]:
        return xf, img
    pad[:] = 0.0
    for q in range(size):
        pad[q] = xf[img + q]
    return pad, 0


@njit(cache=True, nogil=True)
def conv2d_direct_forward(x, w2, b, kh, kw, out, pool, relu, scale, arg):
    """out[n, f, oy, ox] = b[f] + sum_{i,j} w2[f, i*kw + j] x[n, 0, oy + i, ox + j]; fills out.

    x (N, 1, H, W), w2 (F, kh*kw), b (F,), out (N, F, OH, OW), one dtype, C-contiguous. With
    pool = k > 0, the block of `conv2d_forward` (channel dropout, pooling, ReLU): out
    (N, F, OH//k, OW//k) and arg.
    Each output is b[f] plus the taps in (i, j) order, in the arrays' dtype (`_products`).
    """
    n_b, _, h, w = x.shape
    n_f, n_k = w2.shape
    oh, ow = h - kh + 1, w - kw + 1
    OP = oh * ow if pool == 0 else (oh // pool) * (ow // pool)
    zero = np.zeros(1, dtype=out.dtype)
    af = arg.reshape(-1)
    L = vlanes(out)
    span = round_up((oh - 1) * w + ow, 4 * L)       # positions q = oy*w + ox, in whole tiles
    fp = round_up(n_f, 4)
    w2t, bias = _weights_by_tap(w2, b, fp)
    offs = np.empty(n_k, dtype=np.uint64)
    for i in range(kh):
        for j in range(kw):
            offs[i * kw + j] = i * w + j
    reach = span + (kh - 1) * w + kw - 1
    pad = np.empty(reach, dtype=x.dtype)
    y = np.empty(fp * span, dtype=out.dtype)
    boff = np.empty(n_k, dtype=np.uint64)
    xf, of = x.reshape(-1), out.reshape(-1)
    for n in range(n_b):
        src, start = _image_source(xf, n * h * w, h * w, reach, pad)
        for k in range(n_k):
            boff[k] = _U(start) + offs[k]
        _products(w2t.reshape(-1), fp, src, boff, n_k, y, span, fp, span, bias)
        for f in range(n_f):
            i = n * n_f + f
            _map_out(y, f * span, w, oh, ow, pool, relu, scale, i, of, i * OP, af, zero)


@njit(cache=True, nogil=True)
def conv2d_direct_weight_grad(x, dout, kh, kw, dw2, db, pool, arg, relu_out, scale):
    """dw2[f, i*kw + j] = sum_{n,oy,ox} dout[n, f, oy, ox] x[n, 0, oy + i, ox + j] and db[f] = sum of
    dout[:, f]; overwrites both. x (N, 1, H, W), dout (N, F, OH, OW), dw2 (F, kh*kw), db (F,).

    Each weight's sum is VL partial sums in the dtype over the whole batch (lane l taking the
    positions q = oy*w + ox = l, l + VL, ... of each image, in image order), then added in
    float64 (`_dots`, `_lane_sums`); each image's bias sums are float64 (`_row_sum`), added in
    image order. The same bits on every CPU.

    With pool = k > 0, dout is the gradient with respect to the block output of
    `conv2d_direct_forward` (`_map_grad`): only the windows' maxima have a gradient, and for
    kh <= 5 and kw <= 8 the sums run over those alone (`_pooled_weight_grad`), a k*k-th of the
    products.
    """
    n_b, _, h, w = x.shape
    n_f = dw2.shape[0]
    oh, ow = h - kh + 1, w - kw + 1
    if pool > 0 and kh <= 5 and kw <= 8:
        _pooled_weight_grad(x, dout, kh, kw, dw2, db, pool, arg, relu_out, scale)
        return
    OP = oh * ow if pool == 0 else (oh // pool) * (ow // pool)
    zero = np.zeros(1, dtype=dout.dtype)
    af, rof = arg.reshape(-1), relu_out.reshape(-1)
    n_k = kh * kw
    woffs = _window_offsets(pool, w)
    L = vlanes(dw2)
    span = round_up((oh - 1) * w + ow, L)
    fp, tp = round_up(n_f, 4), round_up(n_k, 4)
    dfull = np.zeros(fp * span, dtype=dout.dtype)   # dout at full width: zero at ox >= ow and past the end
    acc = np.zeros(tp * fp * L, dtype=dout.dtype)
    bacc = np.zeros(n_f)
    lanes64 = np.empty(8)
    offs = np.zeros(tp, dtype=np.uint64)            # the padding taps read tap 0 (their sums are dropped)
    for i in range(kh):
        for j in range(kw):
            offs[i * kw + j] = i * w + j
    reach = span + (kh - 1) * w + kw - 1
    pad = np.empty(reach, dtype=x.dtype)
    aoff = np.empty(tp, dtype=np.uint64)
    doff = np.arange(fp).astype(np.uint64) * _U(span)
    xf, df = x.reshape(-1), dout.reshape(-1)
    for n in range(n_b):
        for f in range(n_f):
            i = n * n_f + f
            _map_grad(df, i * OP, oh, ow, pool, af, rof, scale, i, dfull, f * span, w, zero, woffs)
            bacc[f] += _row_sum(dfull, f * span, span, lanes64)
        img, start = _image_source(xf, n * h * w, h * w, reach, pad)
        for t in range(tp):
            aoff[t] = _U(start) + offs[t]
        _dots(img, aoff, dfull, doff, span, acc)
    _lane_sums(acc, tp, fp, dw2)
    for f in range(n_f):
        db[f] = bacc[f]


@njit(cache=True, nogil=True)
def _pooled_gradients(dout, pool, oh, ow, w, arg, relu_out, scale, g, pos):
    """The gradients of a pooled block's maxima and their positions: for each map m and window e,
    g[m*OP + e] = dout (0 where the ReLU output is not positive) times the map's dropout scale, and
    pos[m*OP + e] the maximum's offset (k*py + a)*w + k*px + b in the convolution's input plane."""
    k = pool
    ph, pw = oh // k, ow // k
    OP = ph * pw
    n_maps = pos.shape[0] // OP
    use_relu, use_scale = relu_out.shape[0] > 0, scale.shape[0] > 0
    woffs = _window_offsets(pool, w)
    zero = np.zeros(1, dtype=g.dtype)
    for m in range(n_maps):
        sc = scale[m] if use_scale else zero[0]
        for py in range(ph):
            o = _U(m * OP + py * pw)
            r = _U(py * k * w)
            for px in range(_U(pw)):
                v = dout[o + px]
                if use_relu and not relu_out[o + px] > 0:
                    v = zero[0]
                if use_scale:
                    v = v * sc
                g[o + px] = v
                pos[o + px] = r + px * _U(k) + woffs[arg[o + px]]


@njit(cache=True, nogil=True)
def _pooled_weight_grad(x, dout, kh, kw, dw2, db, pool, arg, relu_out, scale):
    """The weight and bias gradients of a pooled block (pool = k > 0, kh <= 5, kw <= 8) over the maxima alone.

    x (N, C, H, W), dout (N, F, OH//k, OW//k) with the block's arg, ReLU output (or empty) and
    dropout scale (or empty); dw2 (F, C*kh*kw) and db (F,) overwritten. Only the windows'
    maxima have a gradient g: for each, at position p of the input planes, kernel row i of
    channel c adds g * x[n, c][p + i*W : p + i*W + 8] to a vector of 8 sums (its taps j < kw;
    the other lanes are dropped), by fused multiply-adds where the CPU has them, in the dtype,
    in (image, window) order, the vectors added in float64 every 8 images. The bias sums are
    each map's gradients added by `_row_sum`, in image order. The same bits on every CPU; a
    k*k-th of the products of the dense sums.
    """
    n_b, n_c, h, w = x.shape
    n_f = dw2.shape[0]
    oh, ow = h - kh + 1, w - kw + 1
    ph, pw = oh // pool, ow // pool
    OP = ph * pw
    g = np.zeros(n_b * n_f * OP + 8, dtype=dout.dtype)   # zero past the end: `_row_sum` reads blocks of 8
    pos = np.empty(n_b * n_f * OP, dtype=np.uint64)
    _pooled_gradients(dout.reshape(-1), pool, oh, ow, w, arg.reshape(-1), relu_out.reshape(-1), scale, g, pos)
    zeros8 = np.zeros(8, dtype=dout.dtype)
    lanes = np.empty(8, dtype=dout.dtype)
    lanes64 = np.empty(8)
    gp = round_up(OP, 8)
    gmap = np.zeros(gp, dtype=dout.dtype)
    for f in range(n_f):                                    # bias
        t = 0.0
        for n in range(n_b):
            m = n * n_f + f
            for e in range(OP):
                gmap[e] = g[m * OP + e]
            t += _row_sum(gmap, 0, gp, lanes64)
        db[f] = t
    plane = h * w
    reach = plane + 8 - kw                                  # the last lanes of a row read past the plane
    pad = np.empty(max(reach, plane), dtype=x.dtype)
    xf = x.reshape(-1)
    uw = _U(w)
    wacc = np.zeros(n_c * kh * kw)
    for f in range(n_f):
        wacc[:] = 0.0
        for c in range(n_c):
            for n0 in range(0, n_b, 8):
                a0 = a1 = a2 = a3 = a4 = vload8(zeros8, 0)
                for n in range(n0, min(n_b, n0 + 8)):
                    src, start = _image_source(xf, (n * n_c + c) * plane, plane, reach, pad)
                    base = _U(start)
                    m = _U((n * n_f + f) * OP)
                    for e in range(_U(OP)):
                        v = g[m + e]
                        p = base + pos[m + e]
                        a0 = vmuladd(a0, vload8(src, p), v)
                        if kh > 1:
                            a1 = vmuladd(a1, vload8(src, p + uw), v)
                        if kh > 2:
                            a2 = vmuladd(a2, vload8(src, p + _U(2) * uw), v)
                        if kh > 3:
                            a3 = vmuladd(a3, vload8(src, p + _U(3) * uw), v)
                        if kh > 4:
                            a4 = vmuladd(a4, vload8(src, p + _U(4) * uw), v)
                for i in range(kh):
                    vstore8(lanes, 0, a0 if i == 0 else a1 if i == 1 else a2 if i == 2 else a3 if i == 3 else a4)
                    for j in range(kw):
                        wacc[(c * kh + i) * kw + j] += np.float64(lanes[j])
        for t in range(n_c * kh * kw):
            dw2[f, t] = wacc[t]
