"""One rank of tests/test_distributed.py (run by torch.distributed.run)."""

from __future__ import annotations

import os
import sys

import numpy as np
import torch

from lamina import Input, Model
from lamina.callbacks import ModelCheckpoint
from lamina.layers import Dense


def build() -> Model:
    torch.manual_seed(0)
    inputs = Input(shape=(4,))
    model = Model(inputs, Dense(1)(Dense(8, activation="tanh")(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    return model


def main() -> None:
    out = sys.argv[1]
    x = np.random.default_rng(0).random((32, 4), dtype=np.float32)
    y = x.sum(axis=1, keepdims=True)
    model = build()
    if os.environ.get("LAMINA_TEST_DIE") and os.environ["RANK"] == "1":
        os._exit(3)
    checkpoint = ModelCheckpoint(os.path.join(out, "ckpt.lamina"))
    history = model.fit(
        x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[checkpoint]
    )
    rank = os.environ["RANK"]
    weights = {str(i): w for i, w in enumerate(model.get_weights())}
    np.savez(os.path.join(out, f"rank{rank}.npz"), loss=history.history["loss"], **weights)
    # Shut gloo down before exit: its threads abort the process if the group is left open.
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
