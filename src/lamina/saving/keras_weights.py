"""Keras's weights (`model.weights.h5` of a `.keras` zip, or a Keras 2 `.h5`) into a lamina
model, through h5py (the optional extra `lamina[keras]`).

Keras 3 writes one group per layer under `layers/` (named by Keras's object path; the `vars`
group's `name` attribute is the layer's name), with the layer's variables as `vars/0`,
`vars/1`, ... in `get_weights()` order, which lamina's layers keep too. A nested model's
group has `layers/` of its own. Every array's shape is checked against the layer's before
anything is read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina.saving.values import LoadContext

__all__ = ["h5py_module", "load_h5_weights", "load_legacy_weights", "optimizer_arrays"]

_MAX_ELEMENTS = 2**31


def h5py_module(ctx: LoadContext) -> Any:
    """h5py, or a LoadError saying how to install it."""
    try:
        import h5py
    except ImportError:
        raise ctx.error(
            "reading Keras files needs h5py: pip install h5py (or pip install 'lamina[keras]')."
        ) from None
    return h5py


def _arrays(group: Any, owner: str, ctx: LoadContext) -> list[np.ndarray]:
    vars_group = group.get("vars")
    if vars_group is None:
        return []
    keys = sorted(vars_group.keys(), key=lambda k: int(k) if str(k).isdigit() else -1)
    out = []
    for key in keys:
        dataset = vars_group[key]
        shape = getattr(dataset, "shape", None)
        if shape is None or int(np.prod(shape, dtype=np.int64)) > _MAX_ELEMENTS:
            raise ctx.error(f"layer {owner}: weight {key} has an unreadable or huge shape")
        out.append(np.asarray(dataset[()]))
    return out


def _layer_name(group: Any) -> str | None:
    vars_group = group.get("vars")
    if vars_group is None:
        return None
    name = vars_group.attrs.get("name")
    return name.decode() if isinstance(name, bytes) else (str(name) if name is not None else None)


def _set(layer: Any, arrays: list[np.ndarray], ctx: LoadContext) -> None:
    expected = [tuple(w.shape) for w in layer.get_weights()]
    got = [tuple(a.shape) for a in arrays]
    if expected != got:
        raise ctx.error(
            f"layer '{layer.name}': Keras's weights have shapes {got}, lamina's layer "
            f"expects {expected}."
        )
    if arrays:
        layer.set_weights(arrays)


def load_h5_weights(model: Any, group: Any, ctx: LoadContext) -> None:
    """Set every weight of `model` from a Keras 3 weights group (nested models recursively)."""
    from lamina.core.model import Model

    layers_group = group.get("layers")
    by_name = {layer.name: layer for layer in model.layers}
    seen = set()
    if layers_group is not None:
        for key in layers_group:
            child = layers_group[key]
            name = _layer_name(child)
            if name is None or name not in by_name:
                if name is not None and len(child.get("vars", {})) == 0:
                    continue  # an InputLayer lamina keeps as a tensor
                if name is None and "layers" not in child:
                    continue
                raise ctx.error(f"the weights name a layer '{name}' the model does not have")
            layer = by_name[name]
            seen.add(name)
            if isinstance(layer, Model):
                load_h5_weights(layer, child, ctx)
            else:
                _set(layer, _arrays(child, f"'{name}'", ctx), ctx)
    missing = [
        layer.name
        for layer in model.layers
        if layer.name not in seen and layer.get_weights() and not isinstance(layer, Model)
    ]
    if missing:
        raise ctx.error(f"the weights lack the layers {missing}")


def load_legacy_weights(model: Any, group: Any, ctx: LoadContext) -> None:
    """Set the weights of `model` from a Keras 2 `.h5` file's `model_weights` group."""
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["layer_names"]]
    by_name = {layer.name: layer for layer in model.layers}
    for name in names:
        layer_group = group[name]
        weight_names = [
            n.decode() if isinstance(n, bytes) else str(n)
            for n in layer_group.attrs.get("weight_names", [])
        ]
        if not weight_names:
            continue
        if name not in by_name:
            raise ctx.error(f"the weights name a layer '{name}' the model does not have")
        arrays = []
        for weight in weight_names:
            dataset = layer_group[weight]
            if int(np.prod(dataset.shape, dtype=np.int64)) > _MAX_ELEMENTS:
                raise ctx.error(f"layer '{name}': weight {weight} has a huge shape")
            arrays.append(np.asarray(dataset[()]))
        _set(by_name[name], arrays, ctx)


def optimizer_arrays(group: Any, ctx: LoadContext) -> list[np.ndarray]:
    """The optimizer's variables Keras saved (iterations, learning rate, then its slots)."""
    optimizer = group.get("optimizer")
    return [] if optimizer is None else _arrays(optimizer, "optimizer", ctx)
