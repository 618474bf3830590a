"""Fixed-width vectors for the Numba kernels of the convolutions (`nagd.nn._tiles`, `nagd.nn.conv_kernels`).

LLVM keeps a block of partial sums in registers only if it is written as SSA values, and plain
Numba loops over arrays give it memory instead (it cannot prove that the sums do not alias the
inputs), so a matrix-product tile written as loops runs at a fraction of the machine's speed.
These intrinsics give the kernels LLVM vector values: `vload` and `vstore` move ``VL`` elements
between a 1-D C-contiguous array and a vector, `vsplat` makes a vector of one value, `vmuladd`
adds a vector times a scalar to a vector, `vmuladdv` a vector times a vector, `vadd` adds two
vectors, `vwiden8` converts 8 lanes to float64, `vlo` and `vhi` take the lower and upper half of
a vector's lanes and `vfirst` its first lane.

The width is the same on every CPU: 64 bytes (16 float32 or 8 float64 lanes; `vload8` and
`vstore8` move 8 elements). Where the registers are narrower, LLVM splits each vector into
halves or quarters, so every lane computes the same operations in the same order on every CPU.
`vmuladd` and `vmuladdv` are fused multiply-adds (one rounding) where the target CPU has them
(`FMA`: every x86-64 CPU with AVX2, AArch64), else a multiply and an add (two roundings): the
same bits on every CPU of either kind. `WIDE` tells the kernels whether the target has 32
registers of 64 bytes (AVX-512), where they use bigger register tiles; the tile shape never
changes the order of any sum.

Under ``NUMBA_DISABLE_JIT=1`` the same names are plain NumPy functions (vectors are small
arrays) that multiply and add with two roundings, as a CPU without FMA.

Numba's cache of a compiled kernel is keyed on the kernel's own source file: after a change
here, touch `nagd/nn/_tiles.py` and `nagd/nn/conv_kernels.py` so that their cached kernels are
compiled again.
"""
import platform

import numpy as np
from numba import config, types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

__all__ = ["WIDE", "FMA", "lanes", "vlanes", "vload", "vstore", "vload8", "vstore8", "vsplat", "vmuladd",
           "vmuladdv", "vadd", "vwiden8", "vlo", "vhi", "vfirst"]

VECTOR_BYTES = 64


def lanes(dtype):
    """Number of lanes of a vector of dtype (16 for float32, 8 for float64)."""
    return VECTOR_BYTES // np.dtype(dtype).itemsize


def vlanes(a):
    """Number of lanes of a vector of the array a's dtype (a compile-time constant in compiled code)."""
    return lanes(a.dtype)


def _target_features():
    """The features Numba compiles for: its CPU's, or those NUMBA_CPU_NAME/NUMBA_CPU_FEATURES set (Numba's own
    rule: ``NUMBA_CPU_NAME=generic`` alone means none). None if they cannot be known."""
    try:
        from numba.core.codegen import get_host_cpu_features
        features = config.CPU_FEATURES if config.CPU_FEATURES is not None else get_host_cpu_features()
    except Exception:  # pragma: no cover  (an llvmlite without host queries)
        return None
    return set(features.split(","))


def _has_fma(features):
    """x86: the FMA extension; AArch64 and POWER always have fused multiply-add."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64", "i386", "i686", "x86"):
        return "+fma" in features
    return machine in ("aarch64", "arm64", "ppc64le", "ppc64")


_FEATURES = _target_features()
WIDE = _FEATURES is not None and "+avx512f" in _FEATURES
"""Whether the kernels are compiled for 32 vector registers of 64 bytes (AVX-512F)."""
FMA = not config.DISABLE_JIT and _FEATURES is not None and _has_fma(_FEATURES)
"""Whether `vmuladd` and `vmuladdv` are fused multiply-adds."""

if config.DISABLE_JIT:
    def _lanes_of(a, i, n):
        if not 0 <= int(i) <= a.shape[0] - n:
            raise IndexError(f"vector of {n} lanes at {int(i)} is out of bounds for length {a.shape[0]}")
        return slice(int(i), int(i) + n)

    def vload(a, i):
        return a[_lanes_of(a, i, lanes(a.dtype))].copy()

    def vstore(a, i, v):
        a[_lanes_of(a, i, v.shape[0])] = v

    def vload8(a, i):
        return a[_lanes_of(a, i, 8)].copy()

    vstore8 = vstore

    def vsplat(a, x):
        return np.full(lanes(a.dtype), x, dtype=a.dtype)

    def vmuladd(acc, v, s):
        return acc + v * acc.dtype.type(s)

    def vmuladdv(acc, u, v):
        return acc + u * v

    def vadd(u, v):
        return u + v

    def vwiden8(v):
        return v.astype(np.float64)

    def vlo(v):
        return v[:v.shape[0] // 2].copy()

    def vhi(v):
        return v[v.shape[0] // 2:].copy()

    def vfirst(v):
        return v[0]

else:
    from llvmlite import ir
    from numba.extending import overload

    @overload(vlanes)
    def _vlanes(a):
        n = VECTOR_BYTES // (a.dtype.bitwidth // 8)
        return lambda a: n

    class Vec(types.Type):
        """An LLVM vector of ``n`` lanes of the Numba scalar type ``dtype``."""

        def __init__(self, dtype, n):
            self.dtype, self.n = dtype, n
            super().__init__(name=f"Vec({dtype} x {n})")

    @register_model(Vec)
    class _VecModel(models.PrimitiveModel):
        def __init__(self, dmm, fe_type):
            super().__init__(dmm, fe_type, ir.VectorType(dmm.lookup(fe_type.dtype).get_value_type(), fe_type.n))

    def _is_float_array(a):
        return isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and a.dtype in (types.float32,
                                                                                             types.float64)

    def _splat(context, builder, vt, scalar):
        ty = context.get_value_type(vt)
        v = builder.insert_element(ir.Constant(ty, ir.Undefined), scalar, ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(v, ir.Constant(ty, ir.Undefined),
                                      ir.Constant(ir.VectorType(ir.IntType(32), vt.n), [0] * vt.n))

    def _pointer(context, builder, aryty, ary, idx):
        data = context.make_array(aryty)(context, builder, ary).data
        return builder.gep(data, [idx])

    def _make_load(count):
        @intrinsic
        def load(typingctx, a, i):
            if not (_is_float_array(a) and isinstance(i, types.Integer)):
                return None
            vt = Vec(a.dtype, count(a.dtype))

            def codegen(context, builder, sig, args):
                ptr = _pointer(context, builder, sig.args[0], args[0], args[1])
                return builder.load(builder.bitcast(ptr, context.get_value_type(vt).as_pointer()),
                                    align=a.dtype.bitwidth // 8)
            return vt(a, i), codegen
        return load

    def _make_store(count):
        @intrinsic
        def store(typingctx, a, i, v):
            if not (_is_float_array(a) and isinstance(i, types.Integer) and isinstance(v, Vec)
                    and v.dtype == a.dtype and v.n == count(a.dtype)):
                return None

            def codegen(context, builder, sig, args):
                ptr = _pointer(context, builder, sig.args[0], args[0], args[1])
                builder.store(args[2], builder.bitcast(ptr, args[2].type.as_pointer()), align=a.dtype.bitwidth // 8)
                return context.get_dummy_value()
            return types.none(a, i, v), codegen
        return store

    def _full(dtype):
        return VECTOR_BYTES // (dtype.bitwidth // 8)

    vload = _make_load(_full)
    vstore = _make_store(_full)
    vload8 = _make_load(lambda dtype: 8)
    vstore8 = _make_store(lambda dtype: 8)

    @intrinsic
    def vsplat(typingctx, a, x):
        if not (_is_float_array(a) and isinstance(x, (types.Float, types.Integer))):
            return None
        vt = Vec(a.dtype, _full(a.dtype))

        def codegen(context, builder, sig, args):
            return _splat(context, builder, vt, context.cast(builder, args[1], sig.args[1], vt.dtype))
        return vt(a, x), codegen

    def _muladd(builder, acc, u, v):
        if not FMA:
            return builder.fadd(acc, builder.fmul(u, v))
        vt = acc.type
        name = f"llvm.fma.v{vt.count}{'f64' if isinstance(vt.element, ir.DoubleType) else 'f32'}"
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vt, [vt, vt, vt]), name)
        return builder.call(fma, [u, v, acc])

    @intrinsic
    def vmuladd(typingctx, acc, v, s):
        if not (isinstance(acc, Vec) and acc == v and isinstance(s, (types.Float, types.Integer))):
            return None

        def codegen(context, builder, sig, args):
            vt = sig.args[0]
            scalar = _splat(context, builder, vt, context.cast(builder, args[2], sig.args[2], vt.dtype))
            return _muladd(builder, args[0], args[1], scalar)
        return acc(acc, v, s), codegen

    @intrinsic
    def vmuladdv(typingctx, acc, u, v):
        if not (isinstance(acc, Vec) and acc == u and acc == v):
            return None

        def codegen(context, builder, sig, args):
            return _muladd(builder, args[0], args[1], args[2])
        return acc(acc, u, v), codegen

    @intrinsic
    def vwiden8(typingctx, v):
        """A vector of 8 lanes converted to float64 (exactly)."""
        if not (isinstance(v, Vec) and v.n == 8):
            return None
        vt = Vec(types.float64, 8)

        def codegen(context, builder, sig, args):
            if sig.args[0].dtype == types.float64:
                return args[0]
            return builder.fpext(args[0], context.get_value_type(vt))
        return vt(v), codegen

    def _make_half(upper):
        @intrinsic
        def half(typingctx, v):
            if not (isinstance(v, Vec) and v.n >= 2 and v.n % 2 == 0):
                return None
            vt = Vec(v.dtype, v.n // 2)

            def codegen(context, builder, sig, args):
                first = vt.n if upper else 0
                return builder.shuffle_vector(args[0], args[0], ir.Constant(ir.VectorType(ir.IntType(32), vt.n),
                                                                            list(range(first, first + vt.n))))
            return vt(v), codegen
        return half

    vlo, vhi = _make_half(False), _make_half(True)

    @intrinsic
    def vfirst(typingctx, v):
        if not isinstance(v, Vec):
            return None

        def codegen(context, builder, sig, args):
            return builder.extract_element(args[0], ir.Constant(ir.IntType(32), 0))
        return v.dtype(v), codegen

    @intrinsic
    def vadd(typingctx, u, v):
        if not (isinstance(u, Vec) and u == v):
            return None

        def codegen(context, builder, sig, args):
            return builder.fadd(args[0], args[1])
        return u(u, v), codegen
