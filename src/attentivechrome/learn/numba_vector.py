"""A vector of 8 float32 for numba, and what the numba kernels share.

An `f32x8` (numba type `F32x8Type`) comes from `vload` (8 consecutive floats of a 1-D
float32 array) or `vsplat` (8 copies of a number), combines with +, -, *, /, `vfma`
(fused multiply-add), `vmin` and `vmax`, and ends in `vstore` or `vsum` (`vdot`: the dot
product of two arrays' stretches); `prefetch` asks for a cache line ahead of use. LLVM
lowers it to one AVX register, two SSE registers on x86 without AVX, or two NEON
registers on ARM. The kernels need it because numba's own
loop vectoriser keeps no accumulator in a register: numba's arrays may alias, so every
update goes back to memory (measured in benchmarks/README.md).

`JIT` holds the numba options of every kernel: fast math, numpy's error model, no GIL,
and a cache on disk beside the module that defines the kernel (or in NUMBA_CACHE_DIR), so
that only the first process compiles. numba checks only that module's own file before
using its cache: after a change here, delete the cached kernels
(`src/attentivechrome/__pycache__/numba_*.nb[ic]`). `flat` is the view of a tensor that
the kernels take: flat, C order, float32 numpy.
"""

from __future__ import annotations

import operator

import numpy as np
import torch
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, models, overload, register_model

JIT = {"cache": True, "fastmath": True, "error_model": "numpy", "nogil": True}


class F32x8Type(types.Type):
    def __init__(self):
        super().__init__(name="f32x8")


f32x8 = F32x8Type()
_VEC = ir.VectorType(ir.FloatType(), 8)


@register_model(F32x8Type)
class _F32x8Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VEC)


def _vector_pointer(context, builder, array_type, array, index):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [index]), _VEC.as_pointer())


@intrinsic
def vload(typingctx, array, index):
    """The 8 floats of a 1-D float32 array from `index` on (no bounds check)."""

    def codegen(context, builder, sig, args):
        return builder.load(_vector_pointer(context, builder, sig.args[0], *args), align=4)

    return f32x8(array, index), codegen


@intrinsic
def vstore(typingctx, array, index, vector):
    """Writes 8 floats into a 1-D float32 array from `index` on (no bounds check)."""

    def codegen(context, builder, sig, args):
        pointer = _vector_pointer(context, builder, sig.args[0], args[0], args[1])
        builder.store(args[2], pointer, align=4)
        return context.get_dummy_value()

    return types.void(array, index, vector), codegen


@intrinsic
def vsplat(typingctx, value):
    """8 copies of a number."""

    def codegen(context, builder, sig, args):
        scalar = context.cast(builder, args[0], sig.args[0], types.float32)
        undefined = ir.Constant(_VEC, ir.Undefined)
        first = builder.insert_element(undefined, scalar, ir.IntType(32)(0))
        zeros = ir.Constant(ir.VectorType(ir.IntType(32), 8), [0] * 8)
        return builder.shuffle_vector(first, undefined, zeros)

    return f32x8(value), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    """a * b + c, fused where the CPU has FMA (llvm.fmuladd)."""

    def codegen(context, builder, sig, args):
        signature = ir.FunctionType(_VEC, [_VEC, _VEC, _VEC])
        function = cgutils.get_or_insert_function(builder.module, signature, "llvm.fmuladd.v8f32")
        return builder.call(function, args)

    return f32x8(a, b, c), codegen


@intrinsic
def vsum(typingctx, vector):
    """The sum of the 8 elements (float32)."""

    def codegen(context, builder, sig, args):
        total = builder.extract_element(args[0], ir.IntType(32)(0))
        for lane in range(1, 8):
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

        return f32x8(a, b), codegen

    return function


def _select(comparison: str):
    @intrinsic
    def function(typingctx, a, b):
        def codegen(context, builder, sig, args):
            return builder.select(builder.fcmp_ordered(comparison, *args), *args)

        return f32x8(a, b), codegen

    return function


vmin, vmax = _select("<"), _select(">")


def _overload_operator(python_operator, function) -> None:
    @overload(python_operator)
    def implementation(a, b):
        if isinstance(a, F32x8Type) and isinstance(b, F32x8Type):
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
