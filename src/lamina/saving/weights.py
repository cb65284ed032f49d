"""A model's weights by name: collecting them for saving, checking a file against them, and
putting loaded tensors in place.

Weights are keyed by `state_dict()` names (`dense_1.kernel`, `encoder.dense.bias`). A tensor
reachable under several names (a layer shared by a nested model and its parent, a tied weight)
is stored once, under its first name; the other names are recorded as aliases.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, cast

import torch
from torch import nn

from lamina.saving.errors import WeightsMismatchError
from lamina.saving.tensorfile import DTYPE_NAMES, WeightsFile
from lamina.saving.values import LoadContext, decode_value, encode_value

__all__ = ["apply_weights", "copy_weights", "match_weights", "model_state", "tensors_for_saving"]

OPTIMIZER = "optimizer/"
WEIGHT = "__weight__"
_SHOWN = 5


def model_state(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The model's parameters and persistent buffers, each tensor once, and the aliases
    (`{other_name: first_name}`) of the tensors found under several names."""
    settle(model)
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    first: dict[int, str] = {}
    for key, value in model.state_dict(keep_vars=True).items():
        if id(value) in first:
            aliases[key] = first[id(value)]
            continue
        first[id(value)] = key
        tensors[key] = value
    return tensors, aliases


def settle(model: nn.Module) -> None:
    """Bring edited graphs up to date: a `Sequential` registers the layers added to it (and
    so their weights in `state_dict()`) only when its graph is rebuilt, on first use."""
    dirty = True
    while dirty:
        dirty = False
        for module in list(model.modules()):
            if getattr(module, "_dirty", False):
                module._rebuild_graph()  # type: ignore[operator]
                dirty = True


def tensors_for_saving(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU tensors, none sharing memory (as safetensors requires)."""
    out: dict[str, torch.Tensor] = {}
    storages: set[int] = set()
    for key, value in tensors.items():
        tensor = value.detach()
        if tensor.device.type != "cpu":
            tensor = tensor.cpu()
        if not tensor.is_contiguous():
            tensor = tensor.contiguous()
        if tensor.numel():
            storage = tensor.untyped_storage().data_ptr()
            if storage in storages:
                tensor = tensor.clone()
            else:
                storages.add(storage)
        out[key] = tensor
    return out


def _describe(key: str) -> str:
    layer, _, weight = key.rpartition(".")
    return f"layer '{layer}' weight '{weight}'" if layer else f"weight '{key}'"


def _spec(shape: Any, dtype: torch.dtype) -> str:
    return f"{tuple(shape)} {str(dtype).removeprefix('torch.')}"


def match_weights(
    expected: Mapping[str, torch.Tensor],
    model_aliases: Mapping[str, str],
    file: WeightsFile,
    file_aliases: Mapping[str, str],
    ctx: LoadContext,
    *,
    strict: bool = True,
    saved_order: list[str] | None = None,
    cast: bool = False,
    skip_mismatch: bool = False,
) -> dict[str, str]:
    """Which file tensor feeds each of the model's tensors: `{model_name: file_name}`.

    Shapes and dtypes must match exactly; with `strict`, every model tensor must be in the
    file and every file tensor in the model. With `cast` (`load_weights`, as Keras), a dtype
    may differ (the value is cast on copy); with `skip_mismatch`, a weight whose shape
    differs is left as it is, with a warning.

    `saved_order` (the file's names in the saved model's `state_dict()` order) allows a
    match by position when the names differ: a model rebuilt by its own constructor
    (`cls(**config)`) names the layers it creates anew (`dense_7` where the saved one had
    `dense_3`), as Keras matches such models by structure. Every position must then agree
    in shape and dtype.

    Raises:
        WeightsMismatchError: listing what is missing, unexpected or mismatched, by layer and
            weight.
    """
    stored = {name: info for name, info in file.tensors.items() if not name.startswith(OPTIMIZER)}
    known = set(expected) | set(model_aliases)
    sources: dict[str, str] = {}
    missing, mismatched = [], []
    for key, tensor in expected.items():
        source = key if key in stored else file_aliases.get(key)
        if source is None or source not in stored:
            missing.append(f"{_describe(key)} {_spec(tensor.shape, tensor.dtype)}")
            continue
        info = stored[source]
        same_shape = tuple(info.shape) == tuple(tensor.shape)
        if skip_mismatch and not same_shape:
            warnings.warn(
                f"{file.what}: skipping {_describe(key)}: the file has "
                f"{_spec(info.shape, info.dtype)}, the model {_spec(tensor.shape, tensor.dtype)}.",
                stacklevel=2,
            )
            continue
        if not same_shape or (info.dtype != tensor.dtype and not cast):
            mismatched.append(
                f"{_describe(key)}: the file has {_spec(info.shape, info.dtype)}, the model "
                f"expects {_spec(tensor.shape, tensor.dtype)}"
            )
            continue
        sources[key] = source
    unexpected = sorted(
        f"{_describe(name)} {_spec(stored[name].shape, stored[name].dtype)}"
        for name in stored
        if name not in known
    )
    problems = mismatched + (missing + unexpected if strict else [])
    if saved_order is not None and (problems or (expected and not sources)):
        by_position = _match_by_position(expected, stored, saved_order, cast)
        if by_position is not None:
            return by_position
    if problems:
        parts = []
        if mismatched:
            parts.append("wrong shape or dtype: " + "; ".join(mismatched[:_SHOWN]))
        if strict and missing:
            parts.append(f"{len(missing)} missing: " + "; ".join(missing[:_SHOWN]))
        if strict and unexpected:
            parts.append(f"{len(unexpected)} unexpected: " + "; ".join(unexpected[:_SHOWN]))
        raise ctx.error(
            f"{file.what} does not match the model ({'. '.join(parts)}). The file was saved from "
            "a different model; build the same architecture (the same layers, in the same "
            "order, of the same sizes), or pass strict=False to load_weights to skip missing "
            "and unexpected weights.",
            WeightsMismatchError,
        )
    return sources


def _match_by_position(
    expected: Mapping[str, torch.Tensor],
    stored: Mapping[str, Any],
    saved_order: list[str],
    cast: bool = False,
) -> dict[str, str] | None:
    if len(saved_order) != len(expected) or set(saved_order) != set(stored):
        return None
    pairs = dict(zip(expected, saved_order))
    for key, source in pairs.items():
        info, tensor = stored[source], expected[key]
        if tuple(info.shape) != tuple(tensor.shape) or (info.dtype != tensor.dtype and not cast):
            return None
    return pairs


def apply_weights(
    model: nn.Module,
    expected: Mapping[str, torch.Tensor],
    loaded: Mapping[str, torch.Tensor],
    sources: Mapping[str, str],
    file_aliases: Mapping[str, str],
    model_aliases: Mapping[str, str],
) -> None:
    """Make each of the model's tensors *be* its loaded tensor (no copy: the Python objects
    keep their identity, so references held elsewhere see the loaded values), then tie the
    tensors the file stored once and the rebuilt model holds twice: only ties the rebuilt
    model itself has (`model_aliases`), or between two copies of one saved layer (the same
    layer and weight name at two paths, as a layer shared by a nested model and its parent
    is rebuilt twice), always between tensors of the same shape and dtype, so a file cannot
    tie two unrelated parameters."""
    for key, target in expected.items():
        value = loaded[sources[key]]
        if isinstance(target, nn.Parameter):
            value = type(target)(value, requires_grad=target.requires_grad)  # a Variable stays one
            value.__dict__.update(target.__dict__)
        try:
            torch.utils.swap_tensors(target, value)  # type: ignore[no-untyped-call]
        except RuntimeError:
            # A torch module holding weak references to its weights (nn.LSTM's flat weights)
            # cannot have them swapped: the new tensor takes the old one's place instead.
            _replace(model, key, value)
    _tie_aliases(model, file_aliases, model_aliases)


def _replace(model: nn.Module, key: str, value: torch.Tensor) -> None:
    owner_name, _, attr = key.rpartition(".")
    owner = model.get_submodule(owner_name)
    if attr in owner._parameters:
        owner._parameters[attr] = cast("nn.Parameter", value)
    else:
        owner._buffers[attr] = value
    if isinstance(owner, nn.RNNBase):
        owner._init_flat_weights()


def _tie_aliases(
    model: nn.Module, file_aliases: Mapping[str, str], model_aliases: Mapping[str, str]
) -> None:
    for alias, canonical in file_aliases.items():
        owner_name, _, attr = alias.rpartition(".")
        source_name, _, source_attr = canonical.rpartition(".")
        same_layer = attr == source_attr and (
            owner_name.rpartition(".")[2] == source_name.rpartition(".")[2]
        )
        if model_aliases.get(alias) != canonical and not same_layer:
            continue
        try:
            owner = model.get_submodule(owner_name)
            source = model.get_submodule(source_name)
        except AttributeError:
            continue
        for table in ("_parameters", "_buffers"):
            own, theirs = getattr(owner, table), getattr(source, table)
            if attr in own and source_attr in theirs and own[attr] is not theirs[source_attr]:
                mine, tied = own[attr], theirs[source_attr]
                if mine.shape == tied.shape and mine.dtype == tied.dtype:
                    own[attr] = tied


def copy_weights(
    expected: Mapping[str, torch.Tensor],
    loaded: Mapping[str, torch.Tensor],
    sources: Mapping[str, str],
) -> None:
    """Copy loaded values into the model's existing tensors (any device)."""
    with torch.no_grad():
        for key, target in expected.items():
            if key in sources:
                target.copy_(loaded[sources[key]])


def leftover_meta_tensors(model: nn.Module) -> list[str]:
    """Tensors still on the `meta` device after loading: weights a layer created outside its
    state (a non-persistent buffer, a tensor attribute) that loading could not fill."""
    found = []
    for path, module in model.named_modules():
        tables = (module._parameters, module._buffers, vars(module))
        for table in tables:
            for name, value in table.items():
                values = value if isinstance(value, (list, tuple)) else [value]
                if any(isinstance(v, torch.Tensor) and v.is_meta for v in values):
                    found.append(f"{path}.{name}" if path else name)
    return found


# ------------------------------------------------------------------------------ optimizer
def encode_optimizer_state(state: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    """`optimizer.state_dict()` as JSON with its tensors replaced by `{"__weight__": key}`,
    and the tensors by key (`optimizer/state/0/exp_avg`)."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, torch.Tensor):
            key = OPTIMIZER + path
            tensors[key] = value
            return {WEIGHT: key}
        if isinstance(value, dict):
            return {
                "__dict__": [
                    [encode_value(k, "optimizer state"), walk(v, f"{path}/{k}".lstrip("/"))]
                    for k, v in value.items()
                ]
            }
        if isinstance(value, list):
            return [walk(v, f"{path}/{i}") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {"__tuple__": [walk(v, f"{path}/{i}") for i, v in enumerate(value)]}
        return encode_value(value, "optimizer state")

    return walk(state, ""), tensors


def decode_optimizer_state(
    value: Any, tensors: Mapping[str, torch.Tensor], ctx: LoadContext
) -> Any:
    """The inverse of `encode_optimizer_state`."""
    owner = "optimizer state"

    def walk(item: Any, depth: int) -> Any:
        if depth > 64:
            raise ctx.error("the optimizer state is nested too deeply.")
        if isinstance(item, list):
            return [walk(v, depth + 1) for v in item]
        if isinstance(item, dict) and len(item) == 1:
            if WEIGHT in item:
                key = item[WEIGHT]
                if not isinstance(key, str) or key not in tensors:
                    raise ctx.error(
                        f"the optimizer state refers to a missing tensor {str(key)[:80]!r}."
                    )
                return tensors[key]
            if "__tuple__" in item and isinstance(item["__tuple__"], list):
                return tuple(walk(v, depth + 1) for v in item["__tuple__"])
            if "__dict__" in item and isinstance(item["__dict__"], list):
                out = {}
                for pair in item["__dict__"]:
                    if not isinstance(pair, list) or len(pair) != 2:
                        raise ctx.error("the optimizer state has a malformed dict.")
                    key = decode_value(pair[0], ctx, owner)
                    try:
                        out[key] = walk(pair[1], depth + 1)
                    except TypeError:
                        raise ctx.error("the optimizer state has an unhashable key.") from None
                return out
        return decode_value(item, ctx, owner)

    return walk(value, 0)


def dtype_name(dtype: torch.dtype) -> str:
    return DTYPE_NAMES.get(dtype, str(dtype))
