"""One rank of tests/test_distributed.py (run by torch.distributed.run).

One launch does every check, to keep the distributed tests short: `fit` (weights, History,
one checkpoint), validation, `evaluate` and `predict` on arrays, a `DataLoader`, a
`PyDataset` and a model with its own `test_step`, and which samples each rank trains on per
epoch. Each rank writes what it found to `rank{R}.npz` and `rank{R}.json`; the test compares
them with one process running the same builders below.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from lamina import Input, Layer, Model, distribution
from lamina.callbacks import BackupAndRestore, LambdaCallback, ModelCheckpoint
from lamina.layers import Dense
from lamina.metrics import AUC, Precision
from lamina.utils import PyDataset


class OwnTrainStep(Model):
    """A model with its own train_step: no forward of lamina's for DDP to wrap."""

    def train_step(self, data: Any) -> Any:
        return super().train_step(data)


def build(metrics: list[Any] | None = None, model_class: type[Model] = Model) -> Model:
    torch.manual_seed(0)
    inputs = Input(shape=(4,))
    model = model_class(inputs, Dense(1)(Dense(8, activation="tanh")(inputs)))
    model.compile(optimizer="sgd", loss="mse", metrics=metrics)
    return model


def regression_data(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(seed).random((count, 4), dtype=np.float32)
    return x, x.sum(axis=1, keepdims=True)


class Stepped(Model):
    """A model with its own test_step: the loops take the StepRunner path."""

    def test_step(self, data: Any) -> Any:
        return super().test_step(data)


def build_classifier(model_class: type[Model] = Model) -> Model:
    torch.manual_seed(1)
    inputs = Input(shape=(4,))
    outputs = Dense(1, activation="sigmoid")(Dense(8, activation="tanh")(inputs))
    model = model_class(inputs, outputs)
    model.compile(
        optimizer="sgd",
        loss="binary_crossentropy",
        metrics=[Precision(), AUC(), "mae", "accuracy"],
    )
    return model


def classification_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """13 samples: with a global batch of 4 the ranks get 7 and 6, the last batch 1 and 0."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(13, 4)).astype(np.float32)
    y = (x.sum(axis=1, keepdims=True) > 0).astype(np.float32)
    return x, y, rng.random(13).astype(np.float32)


class Batches(PyDataset):
    """The arrays in batches of 3 (the last one 1)."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        super().__init__()
        self.x, self.y = x, y

    def __len__(self) -> int:
        return -(-len(self.x) // 3)

    def __getitem__(self, index: int) -> Any:
        return self.x[index * 3 : index * 3 + 3], self.y[index * 3 : index * 3 + 3]


class Record(Layer):
    """Notes column 0 of its input (the sample's index) while `on`; passes the rest on."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen: list[list[int]] = []
        self.on = False

    def call(self, x: torch.Tensor) -> torch.Tensor:
        if self.on:
            self.seen[-1].extend(int(v) for v in x[:, 0].tolist())
        return x[:, 1:]


class EpochLog(DistributedSampler):  # type: ignore[type-arg]
    """A user's DistributedSampler that remembers the epochs it was told."""

    epochs: list[int]

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)
        super().set_epoch(epoch)


def indexed_data(count: int = 26) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    x = np.concatenate([np.arange(count)[:, None], rng.random((count, 2))], axis=1)
    return x.astype(np.float32), rng.random((count, 1)).astype(np.float32)


def samples_seen(x: Any, y: Any = None, **fit_args: Any) -> list[list[int]]:
    """The sample indices this rank trains on, per epoch, in a 3-epoch fit."""
    torch.manual_seed(3)
    inputs = Input(shape=(3,))
    record = Record()
    model = Model(inputs, Dense(1)(record(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    record.on = True
    start = LambdaCallback(on_epoch_begin=lambda epoch, logs: record.seen.append([]))
    model.fit(x, y, epochs=3, verbose=0, callbacks=[start], **fit_args)
    return record.seen


def main() -> None:
    out = sys.argv[1]
    rank = os.environ["RANK"]
    found: dict[str, Any] = {}
    arrays: dict[str, Any] = {}

    # fit: weights, History, one checkpoint; validation on a DataLoader of 7 samples
    x, y = regression_data(32)
    xv, yv = regression_data(7, seed=5)
    model = build(["mae"])
    if os.environ.get("LAMINA_TEST_DIE") and rank == "1":
        os._exit(3)
    checkpoint = ModelCheckpoint(os.path.join(out, "ckpt.lamina"))
    loader = DataLoader(TensorDataset(torch.from_numpy(xv), torch.from_numpy(yv)), batch_size=4)
    history = model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[checkpoint],
        validation_data=loader,
    )
    arrays.update({str(i): w for i, w in enumerate(model.get_weights())})
    found["fit"] = history.history

    own_step = build(model_class=OwnTrainStep)
    with torch.no_grad():  # different starting weights on each rank: rank 0's are used
        own_step.layers[1].kernel.add_(int(rank))
    found["fit_own_step"] = own_step.fit(
        x, y, batch_size=8, epochs=2, shuffle=False, verbose=0
    ).history
    arrays.update({f"own_step_{i}": w for i, w in enumerate(own_step.get_weights())})

    # BackupAndRestore: rank 0 writes, every rank restores (and so starts from the backup)
    backup = BackupAndRestore(os.path.join(out, "backup"), delete_checkpoint=False)
    build().fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[backup])
    resumed = build()
    with torch.no_grad():  # weights the restore must replace
        resumed.layers[1].kernel.add_(1.0 + int(rank))
    history = resumed.fit(
        x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[backup]
    )
    found["resumed_epochs"] = len(history.history["loss"])
    arrays.update({f"resumed_{i}": w for i, w in enumerate(resumed.get_weights())})

    # validation_split: 16 samples train, 6 validate (4 on rank 0, 2 on rank 1)
    x22, y22 = regression_data(22, seed=6)
    found["fit_split"] = (
        build(["mae"])
        .fit(x22, y22, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_split=0.25)
        .history
    )

    # evaluate and predict: metric states summed over the ranks, rows put back in order
    xc, yc, wc = classification_data()
    classifier = build_classifier()
    pairs = TensorDataset(torch.from_numpy(xc), torch.from_numpy(yc))
    found["evaluate"] = classifier.evaluate(xc, yc, batch_size=4, verbose=0, return_dict=True)
    found["evaluate_weighted"] = classifier.evaluate(
        xc, yc, sample_weight=wc, batch_size=4, verbose=0, return_dict=True
    )
    found["evaluate_loader"] = classifier.evaluate(
        DataLoader(pairs, batch_size=4), verbose=0, return_dict=True
    )
    found["evaluate_pydataset"] = classifier.evaluate(Batches(xc, yc), verbose=0, return_dict=True)
    found["evaluate_test_step"] = build_classifier(Stepped).evaluate(
        xc, yc, batch_size=4, verbose=0, return_dict=True
    )
    arrays["predict"] = classifier.predict(xc, batch_size=4, verbose=0)
    arrays["predict_loader"] = classifier.predict(
        DataLoader(pairs, batch_size=4, shuffle=True), verbose=0
    )
    arrays["predict_pydataset"] = classifier.predict(Batches(xc, yc), verbose=0)
    arrays["predict_steps"] = classifier.predict(xc, batch_size=4, steps=2, verbose=0)

    # Keras's DataParallel(auto_shard_dataset=False): each rank's data is its own part
    distribution.set_distribution(distribution.DataParallel(auto_shard_dataset=False))
    mine = slice(int(rank), None, 2)
    found["evaluate_own_part"] = classifier.evaluate(
        xc[mine], yc[mine], batch_size=4, verbose=0, return_dict=True
    )
    arrays["predict_own_part"] = classifier.predict(xc[mine], batch_size=4, verbose=0)
    distribution.set_distribution(None)

    # which samples each rank trains on, per epoch
    xi, yi = indexed_data()
    indexed = TensorDataset(torch.from_numpy(xi), torch.from_numpy(yi))
    found["seen_arrays"] = samples_seen(xi, yi, batch_size=8, shuffle=True)
    found["seen_loader"] = samples_seen(DataLoader(indexed, batch_size=8, shuffle=True))
    sampler = EpochLog(indexed, shuffle=True, seed=4)
    sampler.epochs = []
    found["seen_own_sampler"] = samples_seen(DataLoader(indexed, batch_size=4, sampler=sampler))
    found["own_sampler_epochs"] = sampler.epochs

    np.savez(os.path.join(out, f"rank{rank}.npz"), **arrays)
    with open(os.path.join(out, f"rank{rank}.json"), "w") as file:
        json.dump(found, file)
    # Shut gloo down before exit: its threads abort the process if the group is left open.
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
