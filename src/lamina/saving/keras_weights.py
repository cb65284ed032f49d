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

__all__ = [
    "declared_values",
    "h5py_module",
    "load_h5_weights",
    "load_legacy_weights",
    "optimizer_arrays",
]

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


def _child(group: Any, key: str, owner: str, ctx: LoadContext) -> Any:
    """`group[key]`, refusing links to other files or paths (HDF5 soft and external links)."""
    import h5py

    link = group.get(key, getlink=True)
    if not isinstance(link, h5py.HardLink):
        raise ctx.error(f"{owner}: '{key[:80]}' is a {type(link).__name__}, not stored data.")
    return group[key]


def _dataset(group: Any, key: str, owner: str, ctx: LoadContext) -> Any:
    """A checked weight dataset: numeric, stored in this file, of a sane declared size."""
    import h5py

    dataset = _child(group, key, owner, ctx)
    if not isinstance(dataset, h5py.Dataset):
        raise ctx.error(f"{owner}: weight '{key[:80]}' is not a dataset.")
    if dataset.dtype.kind not in "fiub" or dataset.external or dataset.is_virtual:
        raise ctx.error(f"{owner}: weight '{key[:80]}' is not a plain numeric array.")
    if int(np.prod(dataset.shape, dtype=np.float64)) > _MAX_ELEMENTS:
        raise ctx.error(f"{owner}: weight '{key[:80]}' declares a huge shape {dataset.shape}.")
    return dataset


# Sub-layers whose weights Keras lists in another order than their groups' names sort in.
_SUBLAYER_ORDER = {
    "MultiHeadAttention": ["query_dense", "key_dense", "value_dense", "output_dense"],
    "Bidirectional": ["forward_layer", "backward_layer"],
}


def _datasets(
    group: Any, owner: str, ctx: LoadContext, kind: str = "", depth: int = 0
) -> list[Any]:
    """A layer's weights in `get_weights()` order: its own `vars`, then its sub-layers'
    (a recurrent layer's `cell`, a wrapper's layers, attention's projections)."""
    if depth > 8:
        raise ctx.error(f"{owner}: sub-layers nested too deep.")
    vars_group = group.get("vars")
    found = []
    if vars_group is not None:
        keys = sorted(vars_group.keys(), key=lambda k: int(k) if str(k).isdigit() else -1)
        found = [_dataset(vars_group, key, owner, ctx) for key in keys]
    children = [key for key in group if key not in ("vars", "layers")]
    order = _SUBLAYER_ORDER.get(kind)
    if order is not None and set(order) <= set(children):
        children = order + sorted(set(children) - set(order))
    for key in children:
        child = _child(group, key, owner, ctx)
        if hasattr(child, "keys"):
            found += _datasets(child, owner, ctx, depth=depth + 1)
    return found


def _layer_name(group: Any) -> str | None:
    vars_group = group.get("vars")
    if vars_group is None:
        return None
    name = vars_group.attrs.get("name")
    return name.decode() if isinstance(name, bytes) else (str(name) if name is not None else None)


def _set(layer: Any, datasets: list[Any], ctx: LoadContext) -> None:
    """Check the shapes first, then read: a declared shape never allocates on its own."""
    expected = [tuple(w.shape) for w in layer.get_weights()]
    got = [tuple(int(d) for d in a.shape) for a in datasets]
    if expected != got:
        raise ctx.error(
            f"layer '{layer.name}': Keras's weights have shapes {got}, lamina's layer "
            f"expects {expected}."
        )
    if datasets:
        layer.set_weights([np.asarray(dataset[()]) for dataset in datasets])


def load_h5_weights(model: Any, group: Any, ctx: LoadContext) -> None:
    """Set every weight of `model` from a Keras 3 weights group (nested models recursively)."""
    from lamina.core.model import Model

    layers_group = group.get("layers")
    by_name = {layer.name: layer for layer in model.layers}
    seen = set()
    if layers_group is not None:
        for key in layers_group:
            child = _child(layers_group, key, "the weights", ctx)
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
                _set(layer, _datasets(child, f"layer '{name}'", ctx, type(layer).__name__), ctx)
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
        layer_group = _child(group, name, "the weights", ctx)
        weight_names = [
            n.decode() if isinstance(n, bytes) else str(n)
            for n in layer_group.attrs.get("weight_names", [])
        ]
        if not weight_names:
            continue
        if name not in by_name:
            raise ctx.error(f"the weights name a layer '{name}' the model does not have")
        datasets = []
        for weight in weight_names:
            parent, _, leaf = weight.rpartition("/")
            holder = layer_group
            for part in [p for p in parent.split("/") if p]:
                holder = _child(holder, part, f"layer '{name}'", ctx)
            datasets.append(_dataset(holder, leaf, f"layer '{name}'", ctx))
        _set(by_name[name], datasets, ctx)


def declared_values(h5: Any, ctx: LoadContext) -> int:
    """How many numeric values the weights file really stores (every dataset must store at
    least 1/1024 of what its shape declares, so a small file cannot declare huge arrays)."""
    import h5py

    total = 0
    found: list[Any] = []
    h5.visititems(
        lambda _name, item: found.append(item) if isinstance(item, h5py.Dataset) else None
    )
    for dataset in found:
        if dataset.dtype.kind not in "fiub":
            continue
        stored = dataset.id.get_storage_size()
        if dataset.nbytes > 1024 * max(stored, 64):
            raise ctx.error(
                f"the weight '{dataset.name[:80]}' declares shape {dataset.shape} but stores "
                f"{stored:,} bytes."
            )
        total += int(dataset.size)
    return total


def optimizer_arrays(group: Any, ctx: LoadContext, limit: int) -> list[np.ndarray]:
    """The optimizer's variables Keras saved (iterations, learning rate, then its slots), at
    most `limit` values in all (checked before reading)."""
    optimizer = group.get("optimizer")
    if optimizer is None:
        return []
    datasets = _datasets(optimizer, "the optimizer", ctx)
    if sum(int(np.prod(d.shape, dtype=np.float64)) for d in datasets) > limit:
        raise ctx.error(f"the optimizer state declares more than {limit:,} values.")
    return [np.asarray(d[()]) for d in datasets]
