"""What a function loaded in safe mode may touch: lamina's deliberate allowlist.

Safe mode runs saved source with lamina's own evaluator, which can only reach objects named
here. Everything is listed by hand, not by scanning torch: a new torch function is unsafe until
someone reads it and adds it. The policy:

- **Modules** a global name may stand for (``torch``, ``F`` for ``torch.nn.functional``,
  ``math``, ``ops``/``K`` for ``lamina.ops``): usable only as the head of a dotted name such as
  ``torch.nn.functional.softplus``, never as a value.
- **Functions**: pure tensor math in torch, ``torch.nn.functional``, ``torch.special``,
  ``torch.linalg``, ``torch.fft`` and ``math``; every plain function in the ``__all__`` of
  ``lamina.ops`` and ``lamina.activations`` (and of namespaces there, e.g. ``ops.random``).
  Nothing that reads or writes files, imports, compiles, or takes a callable or a type name
  (``torch.save``, ``torch.load``, ``torch.from_file``, ``Tensor.type``, ``numpy`` ...).
- **Constants**: dtypes and ``pi``/``e``/``inf``/``nan``.
- **Attributes** (``TENSOR_ATTRIBUTES``): names that may be read on any value, chosen so that
  they are harmless on every type a safe function can hold (tensors, numpy arrays from saved
  constants, Python numbers, strings, tuples, lists, dicts): no ``tofile``, ``numpy``,
  ``storage``, ``type``, ``format``, ``dump``, ``apply_``, ``register_hook``, no in-place
  methods, nothing starting with ``_``.
- **Builtins** (``SAFE_BUILTINS``): ``len``, ``range``, ``min``, ``max``, ... ; no ``getattr``,
  ``eval``, ``open``, ``type``, ``isinstance``, ``map``.

numpy functions are deliberately absent (``np.save``, ``np.load`` and friends are one attribute
away); numpy *arrays* may still be saved as constants.
"""

from __future__ import annotations

import importlib
import math
import sys
import types
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "MODULE_ALIASES",
    "SAFE_BUILTIN_NAMES",
    "TENSOR_ATTRIBUTES",
    "Entry",
    "lookup",
    "path_of",
]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_TORCH_FUNCTIONS = """
abs absolute acos acosh add addmm all allclose amax amin angle any arange argmax argmin argsort
as_tensor asin asinh atan atan2 atanh atleast_1d atleast_2d atleast_3d baddbmm bernoulli bincount
bitwise_and bitwise_not bitwise_or bitwise_xor bmm broadcast_shapes broadcast_tensors broadcast_to
bucketize cartesian_prod cat cdist ceil celu chunk clamp clamp_max clamp_min clip clone
combinations complex concat concatenate conj conv1d conv2d conv3d cos cosh count_nonzero cross
cummax cummin cumprod cumsum deg2rad det detach diag diag_embed diagonal diff digamma dist div
divide dot dropout dstack einsum eq equal erf erfc erfinv exp exp2 expm1 eye finfo flatten flip
fliplr flipud float_power floor floor_divide fmax fmin fmod frac full full_like gather ge gt
heaviside histc hstack hypot iinfo imag index_add index_copy index_fill index_select inner
inverse is_complex is_floating_point is_nonzero is_tensor isclose isfinite isinf isnan kron
kthvalue layer_norm le lerp lgamma linspace log log10 log1p log2 log_softmax logaddexp logaddexp2
logcumsumexp logical_and logical_not logical_or logical_xor logit logspace logsumexp lt
masked_fill masked_select matmul max maximum mean median meshgrid min minimum mm mode movedim
mul multinomial multiply mv nan_to_num nanmean nansum narrow ne neg negative nonzero norm normal
numel ones ones_like outer permute polar pow prod promote_types rad2deg rand rand_like randint
randint_like randn randn_like randperm ravel real reciprocal relu remainder repeat_interleave
reshape result_type roll rot90 round rsqrt scatter scatter_add searchsorted select selu sgn
sigmoid sign signbit sin sinc sinh softmax sort split sqrt square squeeze stack std std_mean sub
subtract sum swapaxes swapdims t take take_along_dim tan tanh tensor tensor_split tensordot tile
topk trace transpose trapezoid tril triu true_divide trunc unbind unflatten unique
unique_consecutive unravel_index unsqueeze var var_mean view_as_complex view_as_real vstack where
xlogy zeros zeros_like
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

# No factorial, comb, perm or prod: they turn small ints into huge ones and take unbounded time.
_MATH_FUNCTIONS = """
acos acosh asin asinh atan atan2 atanh ceil copysign cos cosh degrees erf erfc exp expm1 fabs
floor fmod gamma hypot isclose isfinite isinf isnan lgamma log log10 log1p log2 radians
remainder sin sinh sqrt tan tanh trunc
"""

_TORCH_CONSTANTS = """
bfloat16 bool cdouble cfloat complex128 complex64 double e float float16 float32 float64 half
inf int int16 int32 int64 int8 long nan pi short uint8
"""

_MATH_CONSTANTS = "e inf nan pi tau"

TENSOR_ATTRIBUTES: frozenset[str] = _words(
    """
    T H mT abs acos acosh add all allclose amax amin any argmax argmin argsort asin asinh atan
    atan2 atanh bfloat16 bits bmm bool broadcast_to ceil chunk clamp clamp_max clamp_min clip
    clone contiguous cos cosh count_nonzero cpu cumprod cumsum detach device diag diagonal diff
    dim div dot double dtype eps eq equal erf exp expand expand_as expm1 flatten flip float floor
    fmod frac gather ge get gt half imag index_select indices int is_complex is_contiguous
    is_floating_point isfinite isinf isnan item items keys le lerp log log10 log1p log2
    log_softmax logical_and logical_not logical_or logical_xor logsumexp long lt masked_fill
    masked_select matmul max maximum mean median min minimum mm movedim mul narrow ndim ne neg
    new_full new_ones new_tensor new_zeros nonzero norm numel permute pow prod real reciprocal
    relu remainder repeat repeat_interleave reshape reshape_as resolution roll round rsqrt shape
    sigmoid sign sin sinh size softmax sort split sqrt square squeeze std sub sum swapaxes t tan
    tanh tile tiny to tolist topk transpose tril triu trunc type_as unbind unflatten unique
    unsqueeze values var view view_as where
    """
)

SAFE_BUILTIN_NAMES: frozenset[str] = _words(
    """
    abs all any bool dict divmod enumerate float int len list max min range reversed round set
    slice sorted sum tuple zip
    """
)

# The usual names code gives these modules; only used in messages and docs, resolution is by
# identity of the object a global name holds.
MODULE_ALIASES: dict[str, str] = {
    "torch": "torch",
    "F": "torch.nn.functional",
    "nn": "torch.nn",
    "math": "math",
    "ops": "lamina.ops",
    "K": "lamina.ops",
}

_LAMINA_MODULES = ("lamina.ops", "lamina.activations")


@dataclass(frozen=True)
class Entry:
    """One allowlisted object.

    Attributes:
        path: Its canonical dotted name, e.g. ``"torch.nn.functional.softplus"``.
        obj: The object itself.
        kind: ``"module"`` (only the head of a dotted name), ``"function"`` (may be called) or
            ``"constant"`` (may be used as a value).
    """

    path: str
    obj: Any
    kind: Literal["module", "function", "constant"]


class _Table:
    def __init__(self) -> None:
        self.by_path: dict[str, Entry] = {}
        self.by_id: dict[int, Entry] = {}

    def add(self, path: str, obj: Any, kind: Literal["module", "function", "constant"]) -> None:
        entry = Entry(path, obj, kind)
        self.by_path[path] = entry
        # Numbers are saved by value, so only objects with identity go in the reverse table.
        if not isinstance(obj, (int, float)):
            self.by_id.setdefault(id(obj), entry)

    def add_names(
        self, module: Any, prefix: str, names: str, kind: Literal["function", "constant"]
    ) -> None:
        for name in names.split():
            if hasattr(module, name):  # a name may be missing from an older torch
                self.add(f"{prefix}.{name}", getattr(module, name), kind)


_STATIC: _Table | None = None
_LAMINA: _Table | None = None
_LAMINA_KEY: tuple[int, ...] = ()


def _static_table() -> _Table:
    global _STATIC
    if _STATIC is None:
        import torch
        import torch.nn.functional as functional

        table = _Table()
        table.add("torch", torch, "module")
        table.add("torch.nn", torch.nn, "module")
        table.add("torch.nn.functional", functional, "module")
        table.add("torch.special", torch.special, "module")
        table.add("torch.linalg", torch.linalg, "module")
        table.add("torch.fft", torch.fft, "module")
        table.add("math", math, "module")
        table.add_names(torch, "torch", _TORCH_CONSTANTS, "constant")
        table.add_names(torch, "torch", _TORCH_FUNCTIONS, "function")
        table.add_names(functional, "torch.nn.functional", _FUNCTIONAL, "function")
        table.add_names(torch.special, "torch.special", _SPECIAL, "function")
        table.add_names(torch.linalg, "torch.linalg", _LINALG, "function")
        table.add_names(torch.fft, "torch.fft", _FFT, "function")
        table.add_names(math, "math", _MATH_FUNCTIONS, "function")
        table.add_names(math, "math", _MATH_CONSTANTS, "constant")
        _STATIC = table
    return _STATIC


def _is_plain_function(obj: Any) -> bool:
    return isinstance(obj, (types.FunctionType, types.BuiltinFunctionType))


def _add_lamina_namespace(table: _Table, namespace: Any, path: str, depth: int) -> None:
    names = getattr(namespace, "__all__", None)
    listed = names is not None
    if names is None:
        names = [n for n in vars(namespace) if not n.startswith("_")]
    for name in names:
        if not isinstance(name, str) or name.startswith("_"):
            continue
        obj = getattr(namespace, name, None)
        child = f"{path}.{name}"
        # Without an __all__, only lamina's own functions count, not whatever was imported.
        if not listed and not str(getattr(obj, "__module__", "")).startswith("lamina"):
            continue
        if _is_plain_function(obj):
            table.add(child, obj, "function")
        elif depth < 2 and isinstance(obj, (types.ModuleType, types.SimpleNamespace, type)):
            # e.g. ops.random.normal: a namespace of functions inside lamina.ops. Only its
            # plain functions are allowlisted; a class itself is never callable from here.
            if isinstance(obj, types.ModuleType) and not obj.__name__.startswith("lamina."):
                continue
            table.add(child, obj, "module")
            _add_lamina_namespace(table, obj, child, depth + 1)


def _lamina_table() -> _Table:
    """Entries for lamina.ops and lamina.activations, imported lazily (ops imports saving)."""
    global _LAMINA, _LAMINA_KEY
    modules = []
    for module_name in _LAMINA_MODULES:
        module = sys.modules.get(module_name)
        if module is None:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                module = None
        modules.append(module)
    # Rebuilt when a module appears or is replaced (a reload, or a stand-in in tests).
    key = tuple(id(m) for m in modules)
    if _LAMINA is None or key != _LAMINA_KEY:
        table = _Table()
        for module_name, module in zip(_LAMINA_MODULES, modules):
            if module is not None:
                table.add(module_name, module, "module")
                _add_lamina_namespace(table, module, module_name, 0)
        _LAMINA, _LAMINA_KEY = table, key
    return _LAMINA


def lookup(path: str) -> Entry | None:
    """Returns the allowlisted object with canonical name ``path``, or None."""
    if path.startswith("lamina."):
        return _lamina_table().by_path.get(path)
    return _static_table().by_path.get(path)


def path_of(obj: Any) -> Entry | None:
    """Returns the allowlist entry of ``obj`` (by identity), or None if it is not allowlisted."""
    entry = _static_table().by_id.get(id(obj))
    if entry is None:
        entry = _lamina_table().by_id.get(id(obj))
    if entry is not None and entry.obj is obj:
        return entry
    return None
