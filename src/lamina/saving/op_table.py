"""The fixed table of operations a saved op graph may name, and nothing else.

A function layer is saved as a graph of operations (``function_trace``); loading maps each
node's op name through this table (``function_graph``), never through ``getattr`` or an
import. Everything is listed by hand, not by scanning torch: a new torch function is not in
the table until someone reads it and adds it. The names are where the op lives:

- ``torch.<name>``, ``torch.nn.functional.<name>``, ``torch.special``, ``torch.linalg`` and
  ``torch.fft`` functions: tensor math, shapes, and the random ops (``randn_like``, ``randn``
  with shapes from tensors, ``dropout``). Nothing that reads or writes files, imports,
  compiles, or takes a callable or a type name (``torch.save``, ``torch.load``,
  ``torch.from_file``, ``Tensor.type``, ...).
- ``Tensor.<method>``: methods, operators (``Tensor.__mul__``, ``Tensor.__getitem__``) and
  in-place forms (``Tensor.clamp_``, ``Tensor.__setitem__``) of the same kind; ``Tensor.T``
  and a few other properties.
- ``lamina.ops.<name>`` and ``lamina.activations.<name>``: a function layer that *is* one of
  these is saved by name (``{"kind": "named"}``).

What is deliberately absent: everything that turns a tensor's values into Python values
(``item``, ``tolist``, ``__bool__``, ``__array__``, ``numpy``, ``equal``): a function that
uses one branches on data, which a graph cannot record, so it is saved as source that needs
trust. Dtypes are stored by name from ``DTYPES``.
"""

from __future__ import annotations

import importlib
import operator
import sys
import types
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as functional

__all__ = ["DTYPES", "VALUE_READS", "lookup", "name_of"]


_TORCH_FUNCTIONS = """
abs absolute acos acosh add addmm all amax amin angle any arange argmax argmin argsort
as_tensor asin asinh atan atan2 atanh atleast_1d atleast_2d atleast_3d baddbmm bernoulli bincount
bitwise_and bitwise_not bitwise_or bitwise_xor bmm broadcast_tensors broadcast_to
bucketize cartesian_prod cat cdist ceil celu chunk clamp clamp_max clamp_min clip clone
combinations complex concat concatenate conj conv1d conv2d conv3d cos cosh count_nonzero cross
cummax cummin cumprod cumsum deg2rad det detach diag diag_embed diagonal diff digamma dist div
divide dot dropout dstack einsum eq erf erfc erfinv exp exp2 expm1 eye flatten flip
fliplr flipud float_power floor floor_divide fmax fmin fmod frac full full_like gather ge gt
heaviside histc hstack hypot imag index_add index_copy index_fill index_select inner
inverse is_complex is_floating_point isclose isfinite isinf isnan kron
kthvalue layer_norm le lerp lgamma linspace log log10 log1p log2 log_softmax logaddexp logaddexp2
logcumsumexp logical_and logical_not logical_or logical_xor logit logspace logsumexp lt
masked_fill masked_select matmul max maximum mean median meshgrid min minimum mm mode movedim
mul multinomial multiply mv nan_to_num nanmean nansum narrow ne neg negative nonzero norm normal
numel ones ones_like outer permute polar pow prod rad2deg rand rand_like randint
randint_like randn randn_like randperm ravel real reciprocal relu remainder repeat_interleave
reshape roll rot90 round rsqrt scatter scatter_add searchsorted select selu sgn
sigmoid sign signbit sin sinc sinh softmax sort split sqrt square squeeze stack std std_mean sub
subtract sum swapaxes swapdims t take take_along_dim tan tanh tensor tensor_split tensordot tile
topk trace transpose trapezoid tril triu true_divide trunc unbind unflatten unique
unique_consecutive unravel_index unsqueeze var var_mean view_as_complex view_as_real vstack where
xlogy zeros zeros_like empty empty_like quantile nanquantile
"""

_FUNCTIONAL = """
adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d adaptive_max_pool1d
adaptive_max_pool2d alpha_dropout avg_pool1d avg_pool2d avg_pool3d batch_norm
binary_cross_entropy binary_cross_entropy_with_logits celu conv1d conv2d conv3d
conv_transpose1d conv_transpose2d conv_transpose3d cosine_similarity cross_entropy dropout
dropout1d dropout2d dropout3d elu embedding fold gelu glu group_norm gumbel_softmax hardshrink
hardsigmoid hardswish hardtanh huber_loss instance_norm interpolate kl_div l1_loss layer_norm
leaky_relu linear local_response_norm log_softmax logsigmoid max_pool1d max_pool2d max_pool3d
mish mse_loss nll_loss normalize one_hot pad pairwise_distance pdist pixel_shuffle
pixel_unshuffle relu relu6 rms_norm rrelu scaled_dot_product_attention selu sigmoid silu
smooth_l1_loss soft_margin_loss softmax softmin softplus softshrink softsign tanh tanhshrink
threshold unfold
"""

_SPECIAL = """
digamma entr erf erfc erfcx erfinv exp2 expit expm1 gammaln i0 i0e i1 i1e log1p log_ndtr
log_softmax logit logsumexp multigammaln ndtr ndtri polygamma psi round sinc softmax xlog1py
xlogy
"""

_LINALG = """
cholesky cond cross det diagonal eig eigh eigvals eigvalsh inv lstsq lu matmul matrix_norm
matrix_power matrix_rank multi_dot norm pinv qr slogdet solve svd svdvals tensorinv tensorsolve
vecdot vector_norm
"""

_FFT = """
fft fft2 fftfreq fftn fftshift hfft ifft ifft2 ifftn ifftshift ihfft irfft irfft2 irfftn rfft
rfft2 rfftfreq rfftn
"""

_TENSOR_METHODS = """
abs acos acosh add addmm all amax amin any argmax argmin argsort asin asinh atan atan2 atanh
baddbmm bernoulli bfloat16 bmm bool broadcast_to ceil chunk clamp clamp_max clamp_min clip clone
contiguous cos cosh count_nonzero cpu cumprod cumsum detach diag diag_embed diagonal diff digamma
dim div dot double element_size eq erf erfc erfinv exp exp2 expand expand_as expm1 flatten flip
float floor floor_divide fmax fmin fmod frac gather ge gt half index_add index_copy index_fill
index_select inner int is_complex is_contiguous is_floating_point isfinite isinf isnan kthvalue le
lerp lgamma log log10 log1p log2 log_softmax logaddexp logical_and logical_not logical_or
logical_xor logit logsumexp long lt masked_fill masked_scatter masked_select matmul max maximum
mean median min minimum mm movedim msort mul multinomial mv nan_to_num nanmean nanquantile nansum
narrow ndimension ne neg negative nelement new_empty new_full new_ones new_tensor new_zeros
nonzero norm numel outer permute pow prod quantile reciprocal relu remainder repeat
repeat_interleave reshape reshape_as roll rot90 round rsqrt scatter scatter_add select sgn
sigmoid sign signbit sin sinc sinh size softmax sort split sqrt square squeeze std sub sum
swapaxes swapdims t take take_along_dim tan tanh tensor_split tile to topk trace transpose tril
triu true_divide trunc type_as unbind unflatten unique unique_consecutive unsqueeze var view
view_as where xlogy
abs_ add_ addmm_ bernoulli_ ceil_ clamp_ clamp_max_ clamp_min_ clip_ copy_ cumsum_ div_ exp_
exponential_ fill_ fill_diagonal_ floor_ index_add_ index_fill_ lerp_ log_ masked_fill_ mul_
nan_to_num_ neg_ normal_ pow_ reciprocal_ relu_ round_ rsqrt_ scatter_ scatter_add_ sigmoid_
sqrt_ squeeze_ sub_ t_ tanh_ transpose_ tril_ triu_ uniform_ unsqueeze_ zero_
__abs__ __add__ __and__ __eq__ __floordiv__ __ge__ __getitem__ __gt__ __iadd__ __iand__
__ifloordiv__ __imod__ __imul__ __invert__ __ior__ __ipow__ __isub__ __itruediv__ __ixor__
__le__ __len__ __lshift__ __lt__ __matmul__ __mod__ __mul__ __ne__ __neg__ __or__ __pos__
__pow__ __radd__ __rand__ __rfloordiv__ __rlshift__ __rmatmul__ __rmod__ __rmul__ __ror__
__rpow__ __rrshift__ __rshift__ __rsub__ __rtruediv__ __rxor__ __setitem__ __sub__ __truediv__
__xor__
"""

# Properties, read through the getset descriptor the tracer sees.
_TENSOR_PROPERTIES = "H T dtype device is_cuda layout mH mT ndim real imag requires_grad shape"

VALUE_READS = frozenset(
    [
        "item",
        "tolist",
        "numpy",
        "__bool__",
        "__int__",
        "__float__",
        "__index__",
        "__complex__",
        "__array__",
        "__iter__",
        "__repr__",
        "__format__",
        "__contains__",
        "__reversed__",
        "equal",
        "allclose",
        "is_nonzero",
    ]
)
"""What reads a tensor's values into Python: named in the message when a trace meets one."""

DTYPES: dict[str, torch.dtype] = {
    name: getattr(torch, name)
    for name in [
        "bool",
        "uint8",
        "int8",
        "int16",
        "int32",
        "int64",
        "float16",
        "bfloat16",
        "float32",
        "float64",
        "complex64",
        "complex128",
    ]
}
"""The dtypes a graph may name, by their torch names (``"float32"``)."""

_LAMINA_MODULES = ("lamina.ops", "lamina.activations")

_TABLE: dict[str, Callable[..., Any]] | None = None
_NAMES: dict[int, str] = {}
_LAMINA: dict[str, Callable[..., Any]] | None = None


def _static_table() -> dict[str, Callable[..., Any]]:
    global _TABLE
    if _TABLE is None:
        table: dict[str, Callable[..., Any]] = {}
        for module, prefix, names in (
            (torch, "torch", _TORCH_FUNCTIONS),
            (functional, "torch.nn.functional", _FUNCTIONAL),
            (torch.special, "torch.special", _SPECIAL),
            (torch.linalg, "torch.linalg", _LINALG),
            (torch.fft, "torch.fft", _FFT),
            (torch.Tensor, "Tensor", _TENSOR_METHODS),
        ):
            for name in names.split():
                if hasattr(module, name):  # a name may be missing from an older torch
                    obj = getattr(module, name)
                    table[f"{prefix}.{name}"] = obj
                    _NAMES.setdefault(id(obj), f"{prefix}.{name}")
        for name in _TENSOR_PROPERTIES.split():
            descriptor = getattr(torch.Tensor, name)
            table[f"Tensor.{name}"] = operator.attrgetter(name)
            _NAMES.setdefault(id(descriptor), f"Tensor.{name}")
        _TABLE = table
    return _TABLE


def _lamina_table() -> dict[str, Callable[..., Any]]:
    """lamina.ops and lamina.activations functions, imported lazily (ops imports saving)."""
    global _LAMINA
    if _LAMINA is None:
        table: dict[str, Callable[..., Any]] = {}
        for module_name in _LAMINA_MODULES:
            module = sys.modules.get(module_name) or importlib.import_module(module_name)
            for name in getattr(module, "__all__", ()):
                obj = getattr(module, name, None)
                if isinstance(obj, types.FunctionType):
                    table[f"{module_name}.{name}"] = obj
        _LAMINA = table
    return _LAMINA


def lookup(name: Any) -> Callable[..., Any] | None:
    """The op called ``name`` (``"torch.exp"``, ``"Tensor.view"``), or None: a plain dict
    lookup, so a name outside the table imports and reaches nothing."""
    if not isinstance(name, str):
        return None
    if name.startswith("lamina."):
        return _lamina_table().get(name)
    return _static_table().get(name)


def name_of(fn: Any) -> str | None:
    """The table's name for ``fn`` (by identity), or None.

    A property read arrives as its descriptor's ``__get__``; it is named by the descriptor.

    Example:
        >>> name_of(torch.exp), name_of(torch.Tensor.view), name_of(print)
        ('torch.exp', 'Tensor.view', None)
    """
    _static_table()
    owner = getattr(fn, "__self__", None)
    if getattr(fn, "__name__", None) == "__get__" and owner is not None:
        fn = owner
    name = _NAMES.get(id(fn))
    if name is not None:
        return name
    for key, obj in _lamina_table().items():
        if obj is fn:
            return key
    return None
