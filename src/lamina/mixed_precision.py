"""Mixed precision, with Keras's names: `set_global_policy("mixed_float16")`.

A policy names the dtype layers compute in and the dtype of their variables. Under a mixed
policy, `fit`, `evaluate` and `predict` run the model under `torch.autocast` in the compute
dtype while the weights stay float32; `"mixed_float16"` also scales the loss
(`lamina.optimizers.LossScaleOptimizer`) so that small float16 gradients do not flush to zero.

`"mixed_bfloat16"` works on CPU and CUDA; `"mixed_float16"` needs CUDA (the steps refuse it
on CPU, where torch's float16 autocast is slow and partial: use `"mixed_bfloat16"` there).

Example:
    >>> from lamina import mixed_precision
    >>> mixed_precision.set_global_policy("mixed_bfloat16")
    >>> mixed_precision.global_policy()
    <DTypePolicy "mixed_bfloat16">
    >>> policy = mixed_precision.global_policy()
    >>> policy.compute_dtype, policy.variable_dtype
    ('bfloat16', 'float32')
    >>> mixed_precision.set_global_policy("float32")
"""

from __future__ import annotations

_POLICIES = {
    "float32": ("float32", "float32"),
    "float16": ("float16", "float16"),
    "bfloat16": ("bfloat16", "bfloat16"),
    "float64": ("float64", "float64"),
    "mixed_float16": ("float16", "float32"),
    "mixed_bfloat16": ("bfloat16", "float32"),
}


class DTypePolicy:
    """A dtype policy: the dtype of computations and the dtype of variables.

    Args:
        name: `"float32"`, `"mixed_float16"`, `"mixed_bfloat16"`, `"float16"`, `"bfloat16"` or
            `"float64"`.
    """

    def __init__(self, name: str = "float32") -> None:
        if name not in _POLICIES:
            raise ValueError(
                f"DTypePolicy: unknown policy {name!r}; expected one of {sorted(_POLICIES)}."
            )
        self.name = name
        self.compute_dtype, self.variable_dtype = _POLICIES[name]

    @property
    def is_mixed(self) -> bool:
        return self.compute_dtype != self.variable_dtype

    def get_config(self) -> dict[str, str]:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, str]) -> DTypePolicy:
        return cls(config["name"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self.name}">'


Policy = DTypePolicy
"""Keras 2's name for `DTypePolicy`."""

_global = DTypePolicy("float32")


def set_global_policy(policy: DTypePolicy | str | None) -> None:
    """Set the policy `fit`, `evaluate` and `predict` use (None: `"float32"`)."""
    global _global
    if policy is None:
        policy = "float32"
    _global = policy if isinstance(policy, DTypePolicy) else DTypePolicy(policy)


def global_policy() -> DTypePolicy:
    """The global dtype policy; the one function the rest of lamina reads it through."""
    return _global


dtype_policy = global_policy
set_dtype_policy = set_global_policy

__all__ = [
    "DTypePolicy",
    "Policy",
    "dtype_policy",
    "global_policy",
    "set_dtype_policy",
    "set_global_policy",
]
