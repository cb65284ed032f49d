"""torch's own loss modules (`torch.nn.MSELoss()`, ...) given to `compile`, as configs.

They are settings, not layers: saved as `{"class_name": "torch.nn.MSELoss", "config": {...}}`
with the constructor arguments read back from the module, and rebuilt from a fixed table of
torch.nn's loss classes, so a file can name no other class.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch.nn.modules.loss import _Loss

PREFIX = "torch.nn."

TORCH_LOSSES: dict[str, type[_Loss]] = {
    name: cls
    for name, cls in vars(torch.nn).items()
    if isinstance(cls, type) and issubclass(cls, _Loss) and cls is not _Loss
}
"""torch.nn's loss classes by name: the only classes a saved `torch.nn.*` loss can name."""

_DEPRECATED = frozenset({"self", "size_average", "reduce"})


def torch_loss_config(module: Any) -> dict[str, Any] | None:
    """The config of one of torch.nn's loss modules; None for anything else.

    Example:
        >>> torch_loss_config(torch.nn.HuberLoss(delta=2.0))
        {'class_name': 'torch.nn.HuberLoss', 'config': {'reduction': 'mean', 'delta': 2.0}}
    """
    cls = type(module)
    if TORCH_LOSSES.get(cls.__name__) is not cls:
        return None
    config = {}
    for name in inspect.signature(cls.__init__).parameters:
        if name in _DEPRECATED or not hasattr(module, name):
            continue
        value = getattr(module, name)
        config[name] = value.tolist() if isinstance(value, torch.Tensor) else value
    return {"class_name": PREFIX + cls.__name__, "config": config}


def torch_loss_from_config(config: dict[str, Any]) -> _Loss:
    """The module `torch_loss_config` described; weights given as lists become tensors."""
    name = str(config["class_name"])[len(PREFIX) :]
    cls = TORCH_LOSSES.get(name)
    if cls is None:
        raise ValueError(
            f"Unknown torch loss {config['class_name']!r}: expected one of torch.nn's loss "
            f"classes ({', '.join(sorted(TORCH_LOSSES))})."
        )
    arguments = dict(config.get("config") or {})
    for key in ("weight", "pos_weight"):
        if isinstance(arguments.get(key), list):
            arguments[key] = torch.tensor(arguments[key])
    return cls(**arguments)
