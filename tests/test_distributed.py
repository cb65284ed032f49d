"""Data parallel `fit`, `evaluate` and `predict` under torchrun: two CPU ranks with gloo
against one process, and the sharding rules in one process."""

from __future__ import annotations

import importlib
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from lamina import Input, Model, distribution
from lamina.layers import Dense
from lamina.metrics import AUC, Mean, Metric
from lamina.models import load_model
from lamina.training import distributed
from lamina.training.data_adapter import DataHandler
from lamina.training.distributed import state_names
from lamina.training.py_dataset import PyDataset
from lamina.training.sharding import DealtBatches, Shard, StridedSampler, shard_source

WORKER = Path(__file__).parent / "distributed" / "ddp_worker.py"
FSDP_WORKER = Path(__file__).parent / "distributed" / "fsdp_worker.py"

needs_distributed = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch.distributed is not available"
)


def _torchrun(out: Path, worker: Path = WORKER, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"]
    command += ["--standalone", str(worker), str(out)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "LAMINA_DIST_TIMEOUT": "15", **env}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=environment, check=False
    )


def _worker(name: str = "ddp_worker") -> Any:
    sys.path.insert(0, str(WORKER.parent))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def _close(found: dict[str, Any], expected: dict[str, Any], what: str) -> None:
    assert found.keys() == expected.keys(), what
    for key, value in expected.items():
        np.testing.assert_allclose(
            found[key], value, rtol=1e-5, atol=1e-7, err_msg=f"{what}: {key}"
        )


# ---------------------------------------------------------------------------- two ranks
@needs_distributed
def test_two_ranks_fully_sharded_fit_like_one_process(tmp_path):
    # One launch (see fsdp_worker's docstring): Adam and SGD, two fits, evaluate, predict,
    # the files rank 0 saved, and the errors for what FSDP refuses.
    result = _torchrun(tmp_path, FSDP_WORKER)
    assert result.returncode == 0, result.stderr[-3000:]
    arrays = [np.load(tmp_path / f"rank{r}.npz") for r in (0, 1)]
    found = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    w = _worker("fsdp_worker")
    assert found[0] == found[1]
    assert arrays[0].keys() == arrays[1].keys()
    for key in arrays[0]:
        np.testing.assert_array_equal(arrays[0][key], arrays[1][key], err_msg=key)

    for kind in ("adam", "sgd"):
        # during a batch: the weight, its gradient and its optimizer state are each rank's
        # half (2 of the kernel's 4 rows); after fit, the model's own Variable and whole state
        assert found[0][kind]["during"] == {
            "kernel_is_dtensor": True,
            "kernel_local_rows": 2,
            "grad_local_rows": 2,
            "moment_local_rows": 2,
        }
        assert found[0][kind]["after_is_variable"] == "Variable"
        assert found[0][kind]["moment_after"] == ["Tensor", [4, 5]]
        # the gathered weights and the Histories are those of one process (global batch 8)
        model = w.build(kind)
        histories = w.train(model)
        for i, expected in enumerate(model.get_weights()):
            np.testing.assert_allclose(
                arrays[0][f"{kind}_{i}"], expected, rtol=1e-5, atol=1e-6, err_msg=kind
            )
        for fit in ("first", "second"):
            _close(found[0][kind]["histories"][fit], histories[fit], f"{kind} {fit} fit")
        if kind == "adam":
            xe, ye = w.data(11, seed=7)
            np.testing.assert_allclose(
                arrays[0]["predict"], model.predict(xe, batch_size=4, verbose=0), atol=1e-6
            )
            np.testing.assert_allclose(
                found[0]["evaluate"], model.evaluate(xe, ye, batch_size=4, verbose=0), rtol=1e-5
            )
            # rank 0's files hold the whole weights and load in one process
            loaded = load_model(tmp_path / "fsdp.lamina")
            fresh = w.build(kind)
            fresh.load_weights(tmp_path / "fsdp.safetensors")
            for i, expected in enumerate(model.get_weights()):
                for other in (loaded, fresh):
                    np.testing.assert_allclose(
                        other.get_weights()[i], expected, rtol=1e-5, atol=1e-6
                    )
            # and trains on from its optimizer state, sharded, as one process does
            x, y = w.data()
            loaded.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
            for i, expected in enumerate(loaded.get_weights()):
                np.testing.assert_allclose(
                    arrays[0][f"resumed_{i}"], expected, rtol=1e-5, atol=1e-6
                )

    assert np.abs(arrays[0]["moving_mean"]).sum() > 0.01  # updated from its zeros

    errors = found[0]["errors"]
    assert "Ftrl" in errors["ftrl"]
    assert "overrides train_step" in errors["own_train_step"]
    assert "DataParallel()" in errors["own_train_step"]
    assert "jit_compile=False" in errors["jit_compile"]
    assert "gradient_accumulation_steps=None" in errors["accumulating"]


@needs_distributed
def test_two_ranks_fit_evaluate_and_predict_like_one_process(tmp_path):
    # One launch for every check (see the worker's docstring): a launch costs seconds.
    result = _torchrun(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    arrays = [np.load(tmp_path / f"rank{r}.npz") for r in (0, 1)]
    found = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    w = _worker()

    # fit: same weights on both ranks, equal to one process with the global batch; the
    # History (validation on a DataLoader included) the same everywhere; one checkpoint
    x, y = w.regression_data(32)
    xv, yv = w.regression_data(7, seed=5)
    model = w.build(["mae"])
    history = model.fit(
        x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_data=(xv, yv)
    )
    for i, expected in enumerate(model.get_weights()):
        np.testing.assert_array_equal(arrays[0][str(i)], arrays[1][str(i)])
        np.testing.assert_allclose(arrays[0][str(i)], expected, rtol=1e-5, atol=1e-6)
    assert found[0]["fit"] == found[1]["fit"]
    _close(found[0]["fit"], history.history, "fit")
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".lamina"] == ["ckpt.lamina"]

    # BackupAndRestore: the second fit goes on from the backup of the first, on both ranks
    assert found[0]["resumed_epochs"] == found[1]["resumed_epochs"] == 1
    for i, expected in enumerate(model.get_weights()):
        np.testing.assert_array_equal(arrays[0][f"resumed_{i}"], arrays[1][f"resumed_{i}"])
        np.testing.assert_allclose(arrays[0][f"resumed_{i}"], expected, rtol=1e-5, atol=1e-6)

    # a model's own train_step: gradients averaged over the ranks all the same
    own_step = w.build(model_class=w.OwnTrainStep)
    history = own_step.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for i, expected in enumerate(own_step.get_weights()):
        np.testing.assert_array_equal(arrays[0][f"own_step_{i}"], arrays[1][f"own_step_{i}"])
        np.testing.assert_allclose(arrays[0][f"own_step_{i}"], expected, rtol=1e-5, atol=1e-6)
    assert found[0]["fit_own_step"] == found[1]["fit_own_step"]
    _close(found[0]["fit_own_step"], history.history, "own train_step")

    x22, y22 = w.regression_data(22, seed=6)
    split = w.build(["mae"]).fit(
        x22, y22, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_split=0.25
    )
    assert found[0]["fit_split"] == found[1]["fit_split"]
    _close(found[0]["fit_split"], split.history, "validation_split")

    # evaluate: Precision and AUC over all 13 samples, uneven shards, sample weights, a
    # DataLoader, a PyDataset and a model's own test_step all give one process's values
    xc, yc, wc = w.classification_data()
    classifier = w.build_classifier()
    one = classifier.evaluate(xc, yc, batch_size=4, verbose=0, return_dict=True)
    weighted = classifier.evaluate(
        xc, yc, sample_weight=wc, batch_size=4, verbose=0, return_dict=True
    )
    for key, expected in [
        ("evaluate", one),
        ("evaluate_weighted", weighted),
        ("evaluate_loader", one),
        ("evaluate_pydataset", one),
        ("evaluate_test_step", one),
    ]:
        assert found[0][key] == found[1][key], key
        _close(found[0][key], expected, key)

    # predict: every row, in the data's order, on every rank
    predicted = classifier.predict(xc, verbose=0)
    for key, rows in [
        ("predict", 13),
        ("predict_loader", 13),
        ("predict_pydataset", 13),
        ("predict_steps", 8),
    ]:
        np.testing.assert_array_equal(arrays[0][key], arrays[1][key], err_msg=key)
        np.testing.assert_allclose(arrays[0][key], predicted[:rows], atol=1e-6, err_msg=key)

    # auto_shard_dataset=False: the ranks' own parts, reduced all the same
    assert found[0]["evaluate_own_part"] == found[1]["evaluate_own_part"]
    _close(found[0]["evaluate_own_part"], one, "auto_shard_dataset=False")
    for r in (0, 1):
        np.testing.assert_allclose(arrays[r]["predict_own_part"], predicted[r::2], atol=1e-6)

    # training shards: disjoint, together the whole epoch (less what does not fill a global
    # batch), shuffled anew each epoch with the same order on both ranks
    for key, per_epoch in [("seen_arrays", 24), ("seen_loader", 24), ("seen_own_sampler", 26)]:
        epochs = list(zip(found[0][key], found[1][key]))
        assert len(epochs) == 3, key
        for first, second in epochs:
            assert not set(first) & set(second), key
            assert len(set(first) | set(second)) == per_epoch, key
            assert len(first) == len(set(first)), key
        assert len({frozenset(first) for first, _ in epochs}) == 3, key
    assert found[0]["own_sampler_epochs"] == found[1]["own_sampler_epochs"] == [0, 1, 2]


@needs_distributed
def test_a_dead_rank_gives_an_error_not_a_hang(tmp_path):
    result = _torchrun(tmp_path, LAMINA_TEST_DIE="1")
    assert result.returncode != 0


# ---------------------------------------------------------------------------- the rules
def _model() -> Model:
    inputs = Input(shape=(1,))
    return Model(inputs, Dense(1)(inputs))


def _chain(lists: Any) -> list[int]:
    return list(itertools.chain.from_iterable(lists))


def _rows(handler: DataHandler, epoch: int = 0) -> list[list[int]]:
    return [bx[:, 0].long().tolist() for bx, _, _, _ in handler.epoch(epoch)]


@pytest.mark.parametrize("count", [1, 3, 7, 8, 13, 16])
@pytest.mark.parametrize("training", [False, True])
def test_each_step_of_the_ranks_is_one_global_batch(count, training):
    x = np.arange(count, dtype=np.float32)[:, None]
    world, batch = 2, 4
    if training and count < batch:
        with pytest.raises(ValueError, match="do not fill one global batch of 4 over 2"):
            DataHandler(_model(), x, batch_size=batch, shard=Shard(0, world, training))
        return
    ranks = [
        _rows(DataHandler(_model(), x, batch_size=batch, shard=Shard(r, world, training)))
        for r in range(world)
    ]
    used = count - count % batch if training else count
    expected = [list(range(s, min(s + batch, used))) for s in range(0, used, batch)]
    together = [
        sorted(_chain(rows[i] for rows in ranks if i < len(rows))) for i in range(len(expected))
    ]
    assert together == expected
    if training:  # DistributedDataParallel needs the same steps on every rank
        assert [len(rows) for rows in ranks] == [len(expected)] * world
        return
    for r, rows in enumerate(ranks):  # predict puts each rank's rows back by these keys
        handler = DataHandler(_model(), x, batch_size=batch, shard=Shard(r, world, False))
        assert handler.keys([len(b) for b in rows]).tolist() == _chain(rows)


def test_a_shuffled_shard_draws_one_order_per_epoch_for_all_ranks():
    x = np.arange(12, dtype=np.float32)[:, None]
    handlers = [
        DataHandler(_model(), x, batch_size=4, shuffle=True, shard=Shard(r, 2, True, seed=7))
        for r in range(2)
    ]
    epochs = [[_chain(_rows(h, epoch)) for h in handlers] for epoch in range(3)]
    for first, second in epochs:
        assert sorted(first + second) == list(range(12))
    assert len({tuple(first) for first, _ in epochs}) == 3


def test_batch_size_must_divide_among_the_ranks():
    with pytest.raises(ValueError, match=r"batch_size=5 is the global batch .* 3 ranks"):
        DataHandler(_model(), np.zeros((9, 1)), batch_size=5, shard=Shard(0, 3, False))


def test_loaders_are_rebuilt_with_the_per_rank_batch():
    data = TensorDataset(torch.arange(10.0)[:, None])
    loader = DataLoader(data, batch_size=4, shuffle=True)
    train = shard_source(loader, Shard(1, 2, True, seed=3), "fit")
    assert isinstance(train.sampler, DistributedSampler) and train.batch_size == 2
    assert train.sampler.shuffle and train.sampler.seed == 3 and train.drop_last
    test = shard_source(loader, Shard(1, 2, False), "evaluate")
    assert isinstance(test.sampler, StridedSampler) and list(test.sampler) == [1, 3, 5, 7, 9]
    # a user's DistributedSampler: kept for training, unpadded for evaluation
    own = DataLoader(data, batch_size=3, sampler=DistributedSampler(data, num_replicas=3, rank=0))
    assert shard_source(own, Shard(0, 3, True), "fit") is own
    assert list(shard_source(own, Shard(0, 3, False), "evaluate").sampler) == [0, 3, 6, 9]
    # what lamina cannot split stays as it is
    weighted = DataLoader(
        data, batch_size=2, sampler=torch.utils.data.WeightedRandomSampler([1.0] * 10, 10)
    )
    assert shard_source(weighted, Shard(0, 2, True), "fit") is weighted


def test_a_pydataset_deals_its_batches():
    class Five(PyDataset):
        def __len__(self) -> int:
            return 5

        def __getitem__(self, index: int) -> Any:
            return np.full((2, 1), index)

    dealt = shard_source(Five(), Shard(1, 2, False), "predict")
    assert isinstance(dealt, DealtBatches)
    assert [int(b[0, 0]) for b in dealt] == [1, 3]
    assert len(shard_source(Five(), Shard(0, 2, True), "fit")) == 2  # batch 4 left out
    assert dealt.keys([2, 2]).tolist() == [1 << 32, (1 << 32) + 1, 3 << 32, (3 << 32) + 1]


def test_a_metric_state_is_what_reset_state_sets_and_finding_it_changes_nothing():
    class Biggest(Metric):  # resets in place: the probe must not touch the real tensors
        def __init__(self) -> None:
            super().__init__()
            self.limit = 3.0
            self.total = torch.zeros(())
            self.seen = 0

        def reset_state(self) -> None:
            self.total.zero_()
            self.seen = 0

        def result(self) -> torch.Tensor:
            return self.total

    metric = Biggest()
    metric.total += 5.0
    assert state_names(metric) == ["seen", "total"]  # total: zeroed in place
    assert float(metric.total) == 5.0
    assert state_names(Mean()) == ["total", "count"]
    assert state_names(AUC()) == ["counts"]


# ---------------------------------------------------------------------------- Keras's names
def test_keras_distribution_names():
    assert distribution.distribution() is None
    with pytest.raises(ValueError, match="device_mesh or devices, not both"):
        distribution.DataParallel(device_mesh=object(), devices=["cpu:0"])
    with pytest.raises(TypeError, match=r"expected lamina\.distribution\.DataParallel"):
        distribution.set_distribution("data_parallel")  # type: ignore[arg-type]
    assert distribution.list_devices("cpu") == ["cpu:0"]
    with pytest.warns(UserWarning, match="torchrun --nproc_per_node=2"):
        distribution.set_distribution(distribution.DataParallel(devices=["cuda:0", "cuda:1"]))
    distribution.set_distribution(None)


def test_initialize_says_what_is_missing(monkeypatch):
    for name in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name in ("JOB_ADDRESSES", "NUM_PROCESSES", "PROCESS_ID"):
        monkeypatch.delenv(f"KERAS_DISTRIBUTION_{name}", raising=False)
    with pytest.raises(ValueError, match="MASTER_ADDR, WORLD_SIZE, RANK unknown"):
        distribution.initialize()
    with pytest.raises(ValueError, match="RANK unknown"):
        distribution.initialize("10.0.0.1:1234", num_processes=2)
    assert (os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"]) == ("10.0.0.1", "1234")


def test_a_rank_left_waiting_is_told_why():
    expected = pytest.raises(RuntimeError, match="every rank must call them: a call on rank 0")
    with expected, distributed._joined():
        raise RuntimeError("Timed out waiting 4000ms for send operation to complete")
