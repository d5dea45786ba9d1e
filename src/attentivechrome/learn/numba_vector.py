"""Vectors of float32 for numba (8 or 16 lanes), and what the numba kernels share.

A vector (numba type `F32xNType`, `f32x8` for 8 lanes) comes from `vload` (consecutive
floats of a 1-D float32 array) or `vsplat` (copies of a number), combines with +, -, *, /,
`vfma` (fused multiply-add), `vmin` and `vmax`, and ends in `vstore` or `vsum` (`vdot`: the
dot product of two arrays' stretches); `prefetch` asks for a cache line ahead of use.
`vload` and `vsplat` here make 8 lanes, which LLVM lowers to one AVX register (two SSE
registers on x86 without AVX, two NEON registers on ARM); `lanes(16)` gives the `vload`
and `vsplat` of 16-lane vectors, one AVX-512 register, and `HOST_LANES` is 16 where the
CPU has AVX-512, else 8. Every other operation takes either width. The kernels need
vectors because numba's own loop vectoriser keeps no accumulator in a register: numba's
arrays may alias, so every update goes back to memory (measured in benchmarks/README.md).
`flat` is the view of a tensor that the kernels take: flat, C order, float32 numpy.
"""

from __future__ import annotations

import functools
import operator
import os
from types import SimpleNamespace

import numpy as np
import torch
from llvmlite import binding, ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, models, overload, register_model

# `JIT` holds the numba options of every kernel: fast math, numpy's error model, no GIL,
# and a cache on disk beside the module that defines the kernel (or in NUMBA_CACHE_DIR), so
# that only the first process compiles (numba keys it by the CPU too). numba checks only
# that module's own file before using its cache: after a change here, delete the cached
# kernels (`src/attentivechrome/learn/__pycache__/numba_*.nb[ic]`).
JIT = {"cache": True, "fastmath": True, "error_model": "numpy", "nogil": True}


class F32xNType(types.Type):
    def __init__(self, lanes: int):
        self.lanes = lanes
        super().__init__(name=f"f32x{lanes}")


@register_model(F32xNType)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, ir.VectorType(ir.FloatType(), fe_type.lanes))


def _vector_pointer(context, builder, array_type, array, index, vector: ir.VectorType):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [index]), vector.as_pointer())


@functools.cache
def lanes(n: int) -> SimpleNamespace:
    """`vload` and `vsplat` of n-lane vectors (n = 8 or 16), and their numba type."""
    vector_type = F32xNType(n)
    vector = ir.VectorType(ir.FloatType(), n)

    @intrinsic
    def vload(typingctx, array, index):
        """The n floats of a 1-D float32 array from `index` on (no bounds check)."""

        def codegen(context, builder, sig, args):
            pointer = _vector_pointer(context, builder, sig.args[0], *args, vector)
            return builder.load(pointer, align=4)

        return vector_type(array, index), codegen

    @intrinsic
    def vsplat(typingctx, value):
        """n copies of a number."""

        def codegen(context, builder, sig, args):
            scalar = context.cast(builder, args[0], sig.args[0], types.float32)
            undefined = ir.Constant(vector, ir.Undefined)
            first = builder.insert_element(undefined, scalar, ir.IntType(32)(0))
            zeros = ir.Constant(ir.VectorType(ir.IntType(32), n), [0] * n)
            return builder.shuffle_vector(first, undefined, zeros)

        return vector_type(value), codegen

    return SimpleNamespace(vload=vload, vsplat=vsplat, type=vector_type)


def _host_lanes() -> int:
    """16 where the CPU has AVX-512 (binding.get_host_cpu_features), else 8; the variable
    ATTENTIVECHROME_NUMBA_LANES (8 or 16) overrides it, for tests of the other width."""
    asked = os.environ.get("ATTENTIVECHROME_NUMBA_LANES")
    if asked:
        if asked not in ("8", "16"):
            raise ValueError(f"ATTENTIVECHROME_NUMBA_LANES must be 8 or 16, got {asked!r}")
        return int(asked)
    return 16 if binding.get_host_cpu_features().get("avx512f", False) else 8


HOST_LANES = _host_lanes()
#: Whether HOST_LANES is the CPU's own width (an override must not share cached kernels).
HOST_LANES_DETECTED = "ATTENTIVECHROME_NUMBA_LANES" not in os.environ

_eight = lanes(8)
f32x8 = _eight.type
vload, vsplat = _eight.vload, _eight.vsplat


@intrinsic
def vstore(typingctx, array, index, vector):
    """Writes a vector into a 1-D float32 array from `index` on (no bounds check)."""

    def codegen(context, builder, sig, args):
        pointer = _vector_pointer(context, builder, sig.args[0], args[0], args[1], args[2].type)
        builder.store(args[2], pointer, align=4)
        return context.get_dummy_value()

    return types.void(array, index, vector), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    """a * b + c, fused where the CPU has FMA (llvm.fmuladd)."""

    def codegen(context, builder, sig, args):
        vector = args[0].type
        signature = ir.FunctionType(vector, [vector, vector, vector])
        name = f"llvm.fmuladd.v{vector.count}f32"
        function = cgutils.get_or_insert_function(builder.module, signature, name)
        return builder.call(function, args)

    return a(a, b, c), codegen


@intrinsic
def vsum(typingctx, vector):
    """The sum of the elements (float32)."""

    def codegen(context, builder, sig, args):
        total = builder.extract_element(args[0], ir.IntType(32)(0))
        for lane in range(1, args[0].type.count):
            total = builder.fadd(total, builder.extract_element(args[0], ir.IntType(32)(lane)))
        return total

    return types.float32(vector), codegen


@intrinsic
def prefetch(typingctx, array, index):
    """Hint the CPU to fetch the cache line of array[index] (read, kept in all levels)."""

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        pointer = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        signature = ir.FunctionType(ir.VoidType(), [pointer.type, i32, i32, i32])
        function = cgutils.get_or_insert_function(builder.module, signature, "llvm.prefetch.p0")
        builder.call(function, [pointer, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


@njit(inline="always", **JIT)
def vdot(a, i, b, j, n):
    """a[i : i + n] . b[j : j + n] of two 1-D float32 arrays, n a multiple of 8."""
    total = vsplat(0.0)
    for k in range(0, n, 8):
        total = vfma(vload(a, i + k), vload(b, j + k), total)
    return vsum(total)


def _elementwise(instruction: str):
    @intrinsic
    def function(typingctx, a, b):
        def codegen(context, builder, sig, args):
            return getattr(builder, instruction)(*args)

        return a(a, b), codegen

    return function


def _select(comparison: str):
    @intrinsic
    def function(typingctx, a, b):
        def codegen(context, builder, sig, args):
            return builder.select(builder.fcmp_ordered(comparison, *args), *args)

        return a(a, b), codegen

    return function


vmin, vmax = _select("<"), _select(">")


def _overload_operator(python_operator, function) -> None:
    @overload(python_operator)
    def implementation(a, b):
        if isinstance(a, F32xNType) and a == b:
            return lambda a, b: function(a, b)


for _operator, _instruction in (
    (operator.add, "fadd"),
    (operator.sub, "fsub"),
    (operator.mul, "fmul"),
    (operator.truediv, "fdiv"),
):
    _overload_operator(_operator, _elementwise(_instruction))


def flat(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().contiguous().view(-1).numpy()
