"""`fit` under `FullyShardedDataParallel`: each epoch's training on torch FSDP2.

With `lamina.distribution.set_distribution(FullyShardedDataParallel())` under torchrun, `fit`
trains each epoch with the model's weights sharded over the ranks by
`torch.distributed.fsdp.fully_shard` (FSDP2, which runs on gloo and CPU as on nccl): every
weight becomes a `DTensor` holding this rank's slice of its first dimension, gradients are
reduce-scattered into the same slices, and the optimizer creates and updates its state
(Adam's moments) on the slices only. The data is split as under `DataParallel`.

The whole model is one FSDP unit: the forward and backward passes gather every weight
(lamina's plan calls its layers without `nn.Module.__call__`, so per-layer units, whose
hooks gather one layer at a time, would not run). What is sharded is therefore the weights
between steps, the gradients after each backward, and the optimizer state; the model must
still fit one device for its forward pass.

Between epochs the model is whole again (`sharded` gathers each weight and each optimizer
state tensor with `DTensor.full_tensor()` into the model's own `Variable`s, the same objects
as before `fit`), so validation, the epoch-end callbacks (`ModelCheckpoint`,
`EarlyStopping`, `BackupAndRestore`), and after `fit` `evaluate`, `predict`,
`get_weights`, `save_weights` and `save` see an ordinary model and may be called on any
rank. A batch-end callback runs while the model is sharded: the weights it reads are
`DTensor` slices.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from lamina.core.errors import warn
from lamina.training.distributed import _Forward, _joined


def chosen() -> bool:
    """Whether `set_distribution(FullyShardedDataParallel(...))` is in force."""
    from lamina import distribution

    return isinstance(distribution.distribution(), distribution.FullyShardedDataParallel)


def check(model: Any, runner: Any) -> None:
    """Refuse, before any step, what FSDP training here cannot do, saying what to use."""
    from lamina.optimizers.extra import Adafactor, Ftrl
    from lamina.optimizers.loss_scale import LossScaleOptimizer
    from lamina.training.compiled import CompiledForward, forward_for
    from lamina.training.steps import _Runner

    fix = "or set_distribution(DataParallel()), which supports it"
    where = f"fit under FullyShardedDataParallel, model '{model.name}'"
    if not isinstance(runner, _Runner):
        raise NotImplementedError(
            f"{where}: the model's class overrides train_step, which calls the model "
            "directly, outside the FSDP module that gathers the sharded weights. Train with "
            f"the default train_step, {fix}."
        )
    if isinstance(forward_for(model), CompiledForward):
        raise NotImplementedError(
            f"{where}: jit_compile is set; torch.compile around lamina's FSDP forward is not "
            f"supported yet. Compile with jit_compile=False, {fix}."
        )
    optimizer = runner.optimizer
    if isinstance(optimizer, LossScaleOptimizer):
        raise NotImplementedError(
            f"{where}: the 'mixed_float16' policy's loss scaling is not supported on sharded "
            f"gradients. Use 'mixed_bfloat16' (no loss scaling), {fix}."
        )
    if getattr(optimizer, "use_ema", False):
        raise NotImplementedError(
            f"{where}: optimizer {type(optimizer).__name__} has use_ema=True; its moving "
            f"averages are kept whole, not sharded. Pass use_ema=False, {fix}."
        )
    if getattr(optimizer, "gradient_accumulation_steps", None):
        raise NotImplementedError(
            f"{where}: optimizer {type(optimizer).__name__} has gradient_accumulation_steps="
            f"{optimizer.gradient_accumulation_steps}; its gradient sums are kept whole, not "
            f"sharded. Pass gradient_accumulation_steps=None (or a larger batch), {fix}."
        )
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(
            f"{where}: the model has no trainable weights yet, so nothing to shard when fit "
            "starts (a Sequential without an Input is built by its first batch). Build it "
            "first: give it an Input, or call model.build(input_shape)."
        )
    unsupported: dict[type, str] = {
        Adafactor: "keeps factored (row and column) moments, which are not sharded with "
        "their weights",
        Ftrl: "steps with torch._foreach_copy_, which has no rule for sharded (DTensor) "
        "weights in torch 2.13",
    }
    for rule, reason in unsupported.items():
        if isinstance(optimizer, rule):
            raise NotImplementedError(
                f"{where}: optimizer {rule.__name__} {reason}. Use another optimizer (Adam, "
                f"AdamW, SGD, RMSprop, ...), {fix}."
            )
    for name, param in model.named_parameters():
        for kind in ("regularizer", "constraint"):
            if getattr(param, kind, None) is not None:
                raise NotImplementedError(
                    f"{where}: weight '{name}' has a {kind}, which is not applied to sharded "
                    f"weights yet. Remove the {kind}, {fix}."
                )


_meshes: dict[str, Any] = {}
"""One device mesh of all the ranks per device type, made by the first sharded epoch."""


@contextlib.contextmanager
def sharded(model: Any, runner: Any) -> Iterator[None]:
    """One epoch's training with the weights, gradients and optimizer state sharded.

    On entry every weight and buffer is rank 0's (as DDP starts), the model is put under
    `fully_shard` (through a wrapper, so the model's own class is unchanged), the optimizer's
    weights and any state it holds are moved onto the slices, and `runner.forward` goes
    through the FSDP module. On exit each slice is gathered into the model's own weight, the
    optimizer's state likewise, and the weights kept whole and the buffers (which each rank
    updated on its own batches) are rank 0's again. Every rank runs both, in step."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    places = [
        (module, name, param)
        for module in model.modules()
        for name, param in module._parameters.items()
        if param is not None and param.requires_grad
    ]
    own = list({id(p): p for _, _, p in places}.values())
    # Weights that training does not update (BatchNormalization's moving statistics, frozen
    # layers) stay whole on every rank, as buffers do: FSDP would drop the in-place updates
    # a forward pass makes to its gathered copy of a sharded weight.
    kept = [p for p in model.parameters() if not p.requires_grad]
    optimizer = runner.optimizer
    if not optimizer.built:  # before sharding, so that a state loaded from a file fits
        optimizer.build(model.trainable_weights)
    with _joined(), torch.no_grad():
        for tensor in [*own, *kept, *model.buffers()]:
            dist.broadcast(tensor.data, src=0)
    kind, world = own[0].device.type, dist.get_world_size()
    if _meshes.get(kind) is None or _meshes[kind].size() != world:
        _meshes[kind] = init_device_mesh(kind, (world,))
    mesh = _meshes[kind]
    wrapper = _Forward(model)
    fully_shard(wrapper, mesh=mesh, ignored_params=set(kept))
    shards = {id(p): module._parameters[name] for module, name, p in places}
    for param in own:  # the slices hold the values now: free the whole copies
        param.data = torch.empty(0, dtype=param.dtype, device=param.device)
        param.grad = None
    to_shard = {id(p): shards[id(p)] for p in own}
    _move_optimizer(optimizer, to_shard, lambda value, shard: _slice(value, shard))
    unfused = _unfuse(optimizer)
    forward = runner.forward
    runner.forward = wrapper
    try:
        yield
    finally:
        runner.forward = forward
        for group in unfused:
            group["fused"] = True
        with _joined(), torch.no_grad():
            for param in own:
                param.data = shards[id(param)].detach().full_tensor()
            for module, name, param in places:
                module._parameters[name] = param
            back = {id(shards[id(p)]): p for p in own}
            _move_optimizer(optimizer, back, lambda value, _: _whole(value))
            for tensor in [*kept, *model.buffers()]:
                dist.broadcast(tensor.data, src=0)


_FUSED_ON_SHARDS = (torch.optim.Adam, torch.optim.AdamW)
"""The torch optimizers whose fused kernel has a `DTensor` rule in torch 2.13 (fused SGD and
Adagrad have none: their step raises `NotImplementedError` on sharded weights)."""


_warned: weakref.WeakSet[Any] = weakref.WeakSet()


def _unfuse(optimizer: Any) -> list[dict[str, Any]]:
    """Turn off a fused kernel that cannot run on sharded weights (the foreach or per-weight
    step is used instead, as torch's optimizers read `fused` from their groups at each step);
    return the groups changed, for `sharded` to turn it back on."""
    inner = optimizer.torch_optimizer
    if isinstance(inner, _FUSED_ON_SHARDS):
        return []
    groups = [group for group in inner.param_groups if group.get("fused")]
    for group in groups:
        group["fused"] = False
    if groups and optimizer.fused and optimizer not in _warned:
        _warned.add(optimizer)
        warn(
            f"Optimizer '{optimizer.name}': fused=True, but torch has no fused "
            f"{type(inner).__name__} kernel for sharded (DTensor) weights; under "
            "FullyShardedDataParallel the unfused step runs instead (same results)."
        )
    return groups


def _slice(value: Any, shard: nn.Parameter) -> Any:
    """An optimizer state tensor shaped as the whole weight, as `shard`'s slice of it."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    if not isinstance(value, torch.Tensor) or isinstance(value, DTensor):
        return value
    if not isinstance(shard, DTensor) or tuple(value.shape) != tuple(shard.shape):
        return value  # a scalar such as Adam's step count stays whole
    return distribute_tensor(value, shard.device_mesh, shard.placements, src_data_rank=None)


def _whole(value: Any) -> Any:
    from torch.distributed.tensor import DTensor

    return value.full_tensor() if isinstance(value, DTensor) else value


def _move_optimizer(optimizer: Any, mapping: dict[int, nn.Parameter], convert: Any) -> None:
    """Point a built optimizer at the weights `mapping` gives, converting its state."""
    inner = getattr(optimizer, "torch_optimizer", None)
    if inner is None:  # built at the first step, on whatever weights the model holds then
        return
    optimizer._params = [mapping.get(id(p), p) for p in optimizer._params]
    state = inner.state
    for group in inner.param_groups:
        moved = []
        for param in group["params"]:
            new = mapping.get(id(param), param)
            if param in state:
                values = state.pop(param)
                state[new] = {k: convert(v, new) for k, v in values.items()}
            moved.append(new)
        group["params"] = moved
