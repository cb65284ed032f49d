"""One rank of tests/test_distributed.py's FSDP test (run by torch.distributed.run).

One launch for every check: `fit` under `FullyShardedDataParallel` with Adam (torch's fused
kernel) and with SGD with momentum (its foreach kernel), a second `fit` that goes on from the
first one's optimizer state, what is sharded during a batch, `evaluate`, `predict`, the files
rank 0 saves, and the errors for what FSDP training refuses. Each rank writes what it found to
`rank{R}.npz` and `rank{R}.json`; the test compares them with one process.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor

from lamina import Input, Model, distribution
from lamina.callbacks import LambdaCallback
from lamina.layers import BatchNormalization, Dense
from lamina.models import load_model
from lamina.optimizers import SGD, Adam, Ftrl


class OwnTrainStep(Model):
    def train_step(self, data: Any) -> Any:
        return super().train_step(data)


def build(optimizer: str = "adam", model_class: type[Model] = Model, **compile_args: Any) -> Model:
    """5 hidden units: the 4x5 kernel and the biases split unevenly over two ranks."""
    torch.manual_seed(0)
    inputs = Input(shape=(4,))
    model = model_class(inputs, Dense(1)(Dense(5, activation="tanh")(inputs)))
    # Adam: torch's fused kernel on the shards; SGD: fused where torch can, which it cannot
    # on shards (fsdp._unfuse turns it off)
    chosen = {
        "adam": Adam(0.01, fused=True),
        "sgd": SGD(0.05, momentum=0.9),
        "ftrl": Ftrl(0.1),
        "accumulating": Adam(0.01, gradient_accumulation_steps=2),
    }[optimizer]
    model.compile(optimizer=chosen, loss="mse", metrics=["mae"], **compile_args)
    return model


def data(count: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(seed).random((count, 4), dtype=np.float32)
    return x, x.sum(axis=1, keepdims=True)


def train(model: Model, **fit_args: Any) -> dict[str, Any]:
    """fit for 2 epochs, then 1 more (Adam's state carried over); both Histories."""
    x, y = data()
    val = data(7, seed=5)
    first = model.fit(
        x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_data=val, **fit_args
    )
    second = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return {"first": first.history, "second": second.history}


def main() -> None:
    out = sys.argv[1]
    rank = int(os.environ["RANK"])
    distribution.set_distribution(distribution.FullyShardedDataParallel())
    found: dict[str, Any] = {}
    arrays: dict[str, Any] = {}
    x, y = data()

    for kind in ("adam", "sgd"):
        model = build(kind)
        with torch.no_grad():  # different starting weights on each rank: rank 0's are used
            model.layers[1].kernel.add_(rank)
        seen: dict[str, Any] = {}

        def during(batch: int, logs: Any, model: Model = model, seen: Any = seen) -> None:
            kernel = model.layers[1].kernel
            state = model.optimizer.torch_optimizer.state[kernel]
            moment = state.get("exp_avg", state.get("momentum_buffer"))
            seen.update(
                kernel_is_dtensor=isinstance(kernel, DTensor),
                kernel_local_rows=kernel.to_local().shape[0],
                grad_local_rows=kernel.grad.to_local().shape[0] if kernel.grad is not None else -1,
                moment_local_rows=moment.to_local().shape[0],
            )

        histories = train(model, callbacks=[LambdaCallback(on_train_batch_end=during)])
        found[kind] = {"histories": histories, "during": seen}
        found[kind]["after_is_variable"] = type(model.layers[1].kernel).__name__
        state = model.optimizer.torch_optimizer.state[model.layers[1].kernel]
        moment = state.get("exp_avg", state.get("momentum_buffer"))
        found[kind]["moment_after"] = [type(moment).__name__, list(moment.shape)]
        arrays.update({f"{kind}_{i}": w for i, w in enumerate(model.get_weights())})
        if kind == "adam":
            arrays["predict"] = model.predict(data(11, seed=7)[0], batch_size=4, verbose=0)
            found["evaluate"] = model.evaluate(*data(11, seed=7), batch_size=4, verbose=0)
            if rank == 0:
                model.save_weights(os.path.join(out, "fsdp.safetensors"))
                model.save(os.path.join(out, "fsdp.lamina"))
            dist.barrier()
            # every rank loads rank 0's file (Adam's moments in it) and trains on under FSDP
            resumed = load_model(os.path.join(out, "fsdp.lamina"))
            resumed.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
            arrays.update({f"resumed_{i}": w for i, w in enumerate(resumed.get_weights())})

    # BatchNormalization's moving statistics (weights fit does not train) stay whole and
    # are updated (each rank on its own batches; rank 0's kept, as DDP keeps its buffers)
    torch.manual_seed(0)
    inputs = Input(shape=(4,))
    normalized = BatchNormalization()(Dense(5)(inputs))
    model = Model(inputs, Dense(1)(normalized))
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    arrays["moving_mean"] = model.layers[2].moving_mean.detach().numpy()

    errors = {}
    cases = {
        "own_train_step": lambda: build(model_class=OwnTrainStep),
        "jit_compile": lambda: build(jit_compile=True),
        "ftrl": lambda: build("ftrl"),
        "accumulating": lambda: build("accumulating"),
    }
    for name, make in cases.items():
        try:
            make().fit(x, y, batch_size=8, epochs=1, verbose=0)
            errors[name] = "no error"
        except (NotImplementedError, ValueError) as error:
            errors[name] = str(error)
    found["errors"] = errors

    np.savez(os.path.join(out, f"rank{rank}.npz"), **arrays)
    with open(os.path.join(out, f"rank{rank}.json"), "w") as file:
        json.dump(found, file)


if __name__ == "__main__":
    main()
