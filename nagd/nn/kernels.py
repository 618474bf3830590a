"""Numba kernels of the convolution, max-pooling and ReLU layers and of the softmax cross-entropy.

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

The products are register tiles on fixed-width vectors (`_products`, `_dots`,
`nagd.nn._simd`), not BLAS: BLAS follows the CPU in its order of summation and
was at a half to a third of these tiles' speed at the paper's shapes (its
small-matrix paths, and whatever kernels OpenBLAS is told to use;
``docs/benchmarks.md``). Every sum here runs in an order fixed by the shapes,
with fused multiply-adds where the CPU has them: the same bits on every CPU
with FMA, whatever its vector width. A convolution followed by channel dropout,
max pooling and ReLU can run as one pass (`nagd.nn.layers.ConvBlock`): the
forward kernels then pool the output maps while they are in cache, and the
backward kernels build the convolution's output gradient from the pooled one.

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
import scipy.linalg.cython_blas  # noqa: F401
from numba import njit

from ._simd import WIDE as _WIDE
from ._simd import vadd, vfirst, vhi, vlanes, vlo, vload, vload8, vmuladd, vmuladdv, vsplat, vstore, vstore8, vwiden8

# The import above loads the BLAS library that Numba's matrix products call (SciPy's OpenBLAS)
# with this module rather than at the first product, so that a thread cap set with threadpoolctl
# after ``import nagd.nn`` reaches it too. Left to itself it runs one thread per core under each
# product; with the cores shared, a training step then costs 4-5 times the CPU time
# (``docs/benchmarks.md``). The convolutions below no longer call it (their products are the
# tiles `_products` and `_dots`); compiled code elsewhere may.


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


# ---------------------------------------------------------------------------
# Matrix-product tiles on the vectors of `nagd.nn._simd` (VL = 16 float32 or 8
# float64 lanes). Matrices are flat arrays with a row offset table, so that the
# same tiles serve the im2col matrix (row k at k*stride) and an image read in
# place at the offsets of a filter's taps (the first convolution).
# ---------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def round_up(n, k):
    """The smallest multiple of k that is at least n."""
    return -(-n // k) * k


@njit(cache=True, nogil=True)
def _products(at, sa, b, boff, n_red, c, sc, n_rows, n_cols, init):
    """c[r*sc + q] = init[r] + sum over k < n_red of at[k*sa + r] * b[boff[k] + q], k in order.

    For r < n_rows (a multiple of 4) and q < n_cols (a multiple of 4*VL). Each sum starts
    from init[r] and adds its products one by one in k order (`nagd.nn._simd.vmuladd`: fused
    multiply-adds where the CPU has FMA): the same bits on every CPU, whatever the tile. A
    tile is 4 rows by 4 vectors of columns (16 vector sums in registers) where the CPU has 32
    vector registers (AVX-512), else 4 rows by one vector.
    """
    L = _U(vlanes(c))
    usa, usc = _U(sa), _U(sc)
    for q0 in range(_U(0), _U(n_cols), _U(4) * L):
        for r0 in range(_U(0), _U(n_rows), _U(4)):
            i0, i1, i2, i3 = init[r0], init[r0 + _U(1)], init[r0 + _U(2)], init[r0 + _U(3)]
            if _WIDE:
                q1, q2, q3 = q0 + L, q0 + _U(2) * L, q0 + _U(3) * L
                a00 = a01 = a02 = a03 = vsplat(c, i0)
                a10 = a11 = a12 = a13 = vsplat(c, i1)
                a20 = a21 = a22 = a23 = vsplat(c, i2)
                a30 = a31 = a32 = a33 = vsplat(c, i3)
                for k in range(_U(n_red)):
                    o = boff[k]
                    b0, b1, b2, b3 = vload(b, o + q0), vload(b, o + q1), vload(b, o + q2), vload(b, o + q3)
                    t = k * usa + r0
                    w0, w1, w2, w3 = at[t], at[t + _U(1)], at[t + _U(2)], at[t + _U(3)]
                    a00, a01, a02, a03 = vmuladd(a00, b0, w0), vmuladd(a01, b1, w0), vmuladd(a02, b2, w0), \
                        vmuladd(a03, b3, w0)
                    a10, a11, a12, a13 = vmuladd(a10, b0, w1), vmuladd(a11, b1, w1), vmuladd(a12, b2, w1), \
                        vmuladd(a13, b3, w1)
                    a20, a21, a22, a23 = vmuladd(a20, b0, w2), vmuladd(a21, b1, w2), vmuladd(a22, b2, w2), \
                        vmuladd(a23, b3, w2)
                    a30, a31, a32, a33 = vmuladd(a30, b0, w3), vmuladd(a31, b1, w3), vmuladd(a32, b2, w3), \
                        vmuladd(a33, b3, w3)
                d = r0 * usc
                vstore(c, d + q0, a00), vstore(c, d + q1, a01), vstore(c, d + q2, a02), vstore(c, d + q3, a03)
                d += usc
                vstore(c, d + q0, a10), vstore(c, d + q1, a11), vstore(c, d + q2, a12), vstore(c, d + q3, a13)
                d += usc
                vstore(c, d + q0, a20), vstore(c, d + q1, a21), vstore(c, d + q2, a22), vstore(c, d + q3, a23)
                d += usc
                vstore(c, d + q0, a30), vstore(c, d + q1, a31), vstore(c, d + q2, a32), vstore(c, d + q3, a33)
            else:
                for q in range(q0, q0 + _U(4) * L, L):
                    a0, a1, a2, a3 = vsplat(c, i0), vsplat(c, i1), vsplat(c, i2), vsplat(c, i3)
                    for k in range(_U(n_red)):
                        b0 = vload(b, boff[k] + q)
                        t = k * usa + r0
                        a0, a1 = vmuladd(a0, b0, at[t]), vmuladd(a1, b0, at[t + _U(1)])
                        a2, a3 = vmuladd(a2, b0, at[t + _U(2)]), vmuladd(a3, b0, at[t + _U(3)])
                    d = r0 * usc + q
                    vstore(c, d, a0), vstore(c, d + usc, a1), vstore(c, d + _U(2) * usc, a2)
                    vstore(c, d + _U(3) * usc, a3)


@njit(cache=True, nogil=True)
def _dots(a, aoff, b, boff, n_cols, acc):
    """acc[(i*nb + j)*VL + l] += sum over q = l, l + VL, ... < n_cols of a[aoff[i] + q] * b[boff[j] + q].

    For i < na = len(aoff) and j < nb = len(boff), both multiples of 4, and n_cols a multiple
    of VL: lane l of each vector sum adds its products in q order (`nagd.nn._simd.vmuladdv`),
    so the lanes hold the same bits on every CPU, whatever the tile (4 x 4 vector sums in
    registers with AVX-512, else 2 x 2). acc is kept by the caller between calls and its
    lanes added at the end (`_lane_sums`).
    """
    L = _U(vlanes(acc))
    na, nb = _U(aoff.shape[0]), _U(boff.shape[0])
    nq = _U(n_cols)
    for i0 in range(_U(0), na, _U(4)):
        pa0, pa1, pa2, pa3 = aoff[i0], aoff[i0 + _U(1)], aoff[i0 + _U(2)], aoff[i0 + _U(3)]
        if _WIDE:
            for j0 in range(_U(0), nb, _U(4)):
                pb0, pb1, pb2, pb3 = boff[j0], boff[j0 + _U(1)], boff[j0 + _U(2)], boff[j0 + _U(3)]
                e0, e1, e2, e3 = (i0 * nb + j0) * L, ((i0 + _U(1)) * nb + j0) * L, \
                    ((i0 + _U(2)) * nb + j0) * L, ((i0 + _U(3)) * nb + j0) * L
                s00, s01, s02, s03 = vload(acc, e0), vload(acc, e0 + L), vload(acc, e0 + _U(2) * L), \
                    vload(acc, e0 + _U(3) * L)
                s10, s11, s12, s13 = vload(acc, e1), vload(acc, e1 + L), vload(acc, e1 + _U(2) * L), \
                    vload(acc, e1 + _U(3) * L)
                s20, s21, s22, s23 = vload(acc, e2), vload(acc, e2 + L), vload(acc, e2 + _U(2) * L), \
                    vload(acc, e2 + _U(3) * L)
                s30, s31, s32, s33 = vload(acc, e3), vload(acc, e3 + L), vload(acc, e3 + _U(2) * L), \
                    vload(acc, e3 + _U(3) * L)
                for q in range(_U(0), nq, L):
                    x0, x1, x2, x3 = vload(a, pa0 + q), vload(a, pa1 + q), vload(a, pa2 + q), vload(a, pa3 + q)
                    y0, y1, y2, y3 = vload(b, pb0 + q), vload(b, pb1 + q), vload(b, pb2 + q), vload(b, pb3 + q)
                    s00, s01, s02, s03 = vmuladdv(s00, x0, y0), vmuladdv(s01, x0, y1), vmuladdv(s02, x0, y2), \
                        vmuladdv(s03, x0, y3)
                    s10, s11, s12, s13 = vmuladdv(s10, x1, y0), vmuladdv(s11, x1, y1), vmuladdv(s12, x1, y2), \
                        vmuladdv(s13, x1, y3)
                    s20, s21, s22, s23 = vmuladdv(s20, x2, y0), vmuladdv(s21, x2, y1), vmuladdv(s22, x2, y2), \
                        vmuladdv(s23, x2, y3)
                    s30, s31, s32, s33 = vmuladdv(s30, x3, y0), vmuladdv(s31, x3, y1), vmuladdv(s32, x3, y2), \
                        vmuladdv(s33, x3, y3)
                vstore(acc, e0, s00), vstore(acc, e0 + L, s01), vstore(acc, e0 + _U(2) * L, s02)
                vstore(acc, e0 + _U(3) * L, s03)
                vstore(acc, e1, s10), vstore(acc, e1 + L, s11), vstore(acc, e1 + _U(2) * L, s12)
                vstore(acc, e1 + _U(3) * L, s13)
                vstore(acc, e2, s20), vstore(acc, e2 + L, s21), vstore(acc, e2 + _U(2) * L, s22)
                vstore(acc, e2 + _U(3) * L, s23)
                vstore(acc, e3, s30), vstore(acc, e3 + L, s31), vstore(acc, e3 + _U(2) * L, s32)
                vstore(acc, e3 + _U(3) * L, s33)
        else:
            for j0 in range(_U(0), nb, _U(2)):
                pb0, pb1 = boff[j0], boff[j0 + _U(1)]
                for i in range(i0, i0 + _U(4), _U(2)):
                    p0, p1 = aoff[i], aoff[i + _U(1)]
                    e0, e1 = (i * nb + j0) * L, ((i + _U(1)) * nb + j0) * L
                    s00, s01, s10, s11 = vload(acc, e0), vload(acc, e0 + L), vload(acc, e1), vload(acc, e1 + L)
                    for q in range(_U(0), nq, L):
                        x0, x1, y0, y1 = vload(a, p0 + q), vload(a, p1 + q), vload(b, pb0 + q), vload(b, pb1 + q)
                        s00, s01 = vmuladdv(s00, x0, y0), vmuladdv(s01, x0, y1)
                        s10, s11 = vmuladdv(s10, x1, y0), vmuladdv(s11, x1, y1)
                    vstore(acc, e0, s00), vstore(acc, e0 + L, s01), vstore(acc, e1, s10), vstore(acc, e1 + L, s11)


@njit(cache=True, nogil=True)
def _lane_sums(acc, na, nb, out):
    """out[j, i] = the lanes of the vector sum (i, j) of `_dots` added in float64, pairwise in a fixed order
    (lane l with lane l + 8, then halves of what is left), for i < out.shape[1] and j < out.shape[0]
    (the rest is padding)."""
    L = vlanes(acc)
    n_j, n_i = out.shape
    for i in range(n_i):                # the vector sums in memory order
        for j in range(n_j):
            e = _U((i * nb + j) * L)
            v = vwiden8(vload8(acc, e))
            if L == 16:
                v = vadd(v, vwiden8(vload8(acc, e + _U(8))))
            v = vadd(vlo(v), vhi(v))
            v = vadd(vlo(v), vhi(v))
            out[j, i] = vfirst(vadd(vlo(v), vhi(v)))


@njit(cache=True, nogil=True)
def _row_sum(a, start, n, lanes64):
    """The sum of a[start:start + n] (n a multiple of 8) in float64, in a fixed order: four vectors of 8 partial
    sums (four, so that the additions do not wait for each other), block b of 8 elements going to vector
    b % 4, lane by lane; then the vectors added as (s0 + s1) + (s2 + s3) and their lanes in order.
    lanes64 is a work array of 8 float64."""
    s0 = s1 = s2 = s3 = vsplat(lanes64, 0.0)
    q, end = _U(start), _U(start + n)
    while q + _U(32) <= end:
        s0 = vadd(s0, vwiden8(vload8(a, q)))
        s1 = vadd(s1, vwiden8(vload8(a, q + _U(8))))
        s2 = vadd(s2, vwiden8(vload8(a, q + _U(16))))
        s3 = vadd(s3, vwiden8(vload8(a, q + _U(24))))
        q += _U(32)
    if q < end:
        s0 = vadd(s0, vwiden8(vload8(a, q)))
        q += _U(8)
    if q < end:
        s1 = vadd(s1, vwiden8(vload8(a, q)))
        q += _U(8)
    if q < end:
        s2 = vadd(s2, vwiden8(vload8(a, q)))
    vstore8(lanes64, 0, vadd(vadd(s0, s1), vadd(s2, s3)))
    t = lanes64[0]
    for l in range(1, 8):
        t += lanes64[l]
    return t


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
    w2t = np.zeros((n_k, fp), dtype=w2.dtype)
    bias = np.zeros(fp, dtype=w2.dtype)
    for f in range(n_f):
        bias[f] = b[f]
        for k in range(n_k):
            w2t[k, f] = w2[f, k]
    boff = np.arange(n_k).astype(np.uint64) * _U(mp)
    c = cols[:n_k * mp].reshape(n_k, mp)
    of, yf = out.reshape(-1), y
    for s in range(0, n_b, chunk):
        e = min(n_b, s + chunk)
        m = (e - s) * P
        mq = round_up(m, 4 * L)
        im2col(x[s:e], kh, kw, c)
        for k in range(n_k):
            for q in range(m, mq):
                c[k, q] = 0.0
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
        m = (e - s) * P
        mq = round_up(m, 4 * L)
        im2col(x[s:e], kh, kw, c)
        for k in range(n_k):
            for q in range(m, mq):
                c[k, q] = 0.0
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


# ---------------------------------------------------------------------------
# Direct convolution of a one-channel input (the first layer of an image
# network: K = kh*kw taps, few filters). im2col would copy each pixel K times.
# Instead each image is read in place as rows of full width: with
# q = oy*w + ox, tap (i, j) reads x[q + i*w + j], so the taps are the rows of
# a matrix read at the offsets i*w + j of the image, and the convolution is a
# product by the (F, K) weights, computed by the tiles above (the columns
# ox >= ow in between are computed and dropped).
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
    w2t = np.zeros((n_k, fp), dtype=w2.dtype)
    bias = np.zeros(fp, dtype=w2.dtype)
    for f in range(n_f):
        bias[f] = b[f]
        for k in range(n_k):
            w2t[k, f] = w2[f, k]
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
