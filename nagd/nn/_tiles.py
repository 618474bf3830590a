"""Register tiles of the convolutions: matrix products and fixed-order sums on the vectors of `nagd.nn._simd`.

A vector holds VL = 16 float32 or 8 float64 lanes. Matrices are flat arrays with a row offset
table, so that the same tiles serve the im2col matrix (row k at k*stride) and an image read in
place at the offsets of a filter's taps (the first convolution; `nagd.nn.conv_kernels`).
`_products` and `_dots` keep blocks of vector sums in registers (the forward product and the
input gradient; the weight gradients); `_lane_sums` and `_row_sum` add lanes in float64.

These tiles, not BLAS, compute the convolutions' products: BLAS follows the CPU in its order of
summation and was at a half to a third of their speed at the paper's shapes (its small-matrix
paths, and whatever kernels OpenBLAS is told to use; ``docs/benchmarks.md``). Every sum here runs
in an order fixed by the shapes, with fused multiply-adds where the CPU has them: the same bits on
every CPU with FMA, whatever its vector width (`nagd.nn._simd.WIDE` picks the tile's shape, never
the order of a sum). Every array argument must be C-contiguous; offsets are unsigned (see
`nagd.nn.conv_kernels`).

Numba's cache of a compiled kernel is keyed on the kernel's own source file: after a change here,
touch `nagd/nn/conv_kernels.py` so that the kernels calling these tiles are compiled again.
"""
import numpy as np
from numba import njit

from ._simd import WIDE as _WIDE
from ._simd import vadd, vfirst, vhi, vlanes, vlo, vload, vload8, vmuladd, vmuladdv, vsplat, vstore, vstore8, vwiden8

_U = np.uint64


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
