"""compile / fit / evaluate / predict against hand-written torch loops and numpy."""

from __future__ import annotations

import copy
import doctest
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import lamina
from lamina import Input, Model, Sequential, callbacks, ops, training
from lamina.layers import Dense, Dropout, Lambda
from lamina.training import data_adapter, flush, progress
from lamina.utils import set_random_seed

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 5)).astype(np.float32)
Y = (X @ RNG.normal(size=(5, 2))).astype(np.float32)


@pytest.mark.parametrize(
    "module", [training, data_adapter, progress, flush, lamina.training.compile_utils, callbacks]
)
def test_doctests(module: Any) -> None:
    assert doctest.testmod(module, raise_on_error=False).failed == 0


def _mlp(seed: int = 0, *, activation: str = "tanh") -> Model:
    lamina.utils.clear_session()  # layer names dense, dense_1 in every test
    set_random_seed(seed)
    x = Input(shape=(5,))
    return Model(x, Dense(2)(Dense(8, activation=activation)(x)))


def _torch_copy(model: Model) -> torch.nn.Sequential:
    """The same network in plain torch, with the same weights (Keras kernels transposed)."""
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    with torch.no_grad():
        for linear, layer in zip([net[0], net[2]], dense):
            linear.weight.copy_(layer.kernel.T)
            linear.bias.copy_(layer.bias)
    return net


def _assert_same_weights(model: Model, net: torch.nn.Sequential) -> None:
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    for linear, layer in zip([net[0], net[2]], dense):
        torch.testing.assert_close(layer.kernel.detach().T, linear.weight.detach())
        torch.testing.assert_close(layer.bias.detach(), linear.bias.detach())


@pytest.mark.parametrize(
    ("name", "make_torch"),
    [
        ("sgd", lambda p: torch.optim.SGD(p, lr=0.01)),
        ("adam", lambda p: torch.optim.Adam(p, lr=1e-3, eps=1e-7)),
    ],
)
def test_fit_equals_hand_written_torch_loop(name: str, make_torch: Any) -> None:
    model = _mlp()
    net = _torch_copy(model)
    model.compile(optimizer=name, loss="mse")
    history = model.fit(X, Y, batch_size=16, epochs=2, shuffle=False, verbose=0)

    opt = make_torch(net.parameters())
    losses = []
    for _ in range(2):
        total = 0.0
        for start in range(0, 40, 16):
            xb, yb = (
                torch.from_numpy(X[start : start + 16]),
                torch.from_numpy(Y[start : start + 16]),
            )
            loss = F.mse_loss(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        losses.append(total / 40)
    _assert_same_weights(model, net)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-5)


def test_shuffle_uses_torch_generator_and_is_repeatable() -> None:
    results = []
    for _ in range(2):
        model = _mlp()
        model.compile(optimizer="sgd", loss="mse")
        set_random_seed(7)
        model.fit(X, Y, batch_size=8, epochs=2, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    unshuffled = _mlp()
    unshuffled.compile(optimizer="sgd", loss="mse")
    unshuffled.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert not np.allclose(unshuffled.get_weights()[0], results[0][0])


def test_add_loss_and_layer_losses_enter_the_objective() -> None:
    set_random_seed(0)
    x = Input(shape=(5,))
    hidden = Dense(3)(x)
    out = Dense(2)(hidden)
    model = Model(x, out)
    model.add_loss(ops.mean(ops.square(hidden)) * 0.5)
    model.compile(optimizer="sgd", loss="mse")
    got = model.evaluate(X, Y, batch_size=40, verbose=0)
    with torch.no_grad():
        h = torch.from_numpy(X) @ model.layers[1].kernel + model.layers[1].bias
        o = h @ model.layers[2].kernel + model.layers[2].bias
        expected = F.mse_loss(o, torch.from_numpy(Y)) + 0.5 * (h**2).mean()
    assert got == pytest.approx(float(expected), rel=1e-5)

    # With no compiled loss, the add_loss term alone is minimized.
    model.compile(optimizer="sgd", loss=None)
    before = model.evaluate(X, None, batch_size=40, verbose=0)
    model.fit(X, None, epochs=3, verbose=0)
    assert model.evaluate(X, None, batch_size=40, verbose=0) < before


def test_training_flag_reaches_function_layers_and_dropout() -> None:
    seen: list[bool] = []

    def record(x: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        seen.append(bool(training))
        return x

    x = Input(shape=(5,))
    model = Model(x, Dense(2)(Dropout(0.5)(Lambda(record)(x))))
    model.compile(optimizer="sgd", loss="mse")
    seen.clear()
    model.fit(X, Y, batch_size=20, epochs=1, verbose=0)
    assert seen == [True, True]
    seen.clear()
    model.predict(X, batch_size=40, verbose=0)
    assert seen == [False]
    # Modes are restored: layers start in eval mode and are in eval mode again.
    assert not any(m.training for m in model.modules())
    # Dropout is active in fit: the loss of training batches differs from evaluate's.
    first = model.train_on_batch(X, Y)
    assert first != pytest.approx(model.test_on_batch(X, Y))


def test_fit_before_compile() -> None:
    with pytest.raises(RuntimeError, match=r"call compile\(\) before fit\(\)"):
        _mlp().fit(X, Y, verbose=0)


def test_x_and_y_lengths_differ() -> None:
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="x has 40 samples but y has 30"):
        model.fit(X, Y[:30], verbose=0)


def test_unknown_loss_name_lists_choices() -> None:
    with pytest.raises(ValueError, match=r"Unknown loss 'mean_square_error'.*mean_squared_error"):
        _mlp().compile(optimizer="sgd", loss="mean_square_error")


def test_target_shape_that_does_not_fit() -> None:
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"target for output 'dense' has shape \(None, 3\)") as e:
        model.fit(X, np.zeros((40, 3), np.float32), verbose=0)
    assert "(None, 2)" in str(e.value)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="integer class labels of shape"):
        model.fit(X, np.zeros((40, 3), np.int64), verbose=0)
    # Labels (N,) or (N, 1) fit a 2-class output.
    model.fit(X, np.zeros((40, 1), np.int64), verbose=0)
    model.fit(X, np.zeros(40, np.int64), verbose=0)


def test_nan_loss_reports_epoch_and_batch() -> None:
    x = X.copy()
    x[25] = np.nan  # in the 4th batch of 8
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(training.NonFiniteLossError, match=r"epoch 1/2, batch 4/5"):
        model.fit(x, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert not flush.denormals_flushed()


def test_terminate_on_nan_stops_quietly(capsys: pytest.CaptureFixture[str]) -> None:
    x = X.copy()
    x[25] = np.nan
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(
        x,
        Y,
        batch_size=8,
        epochs=3,
        shuffle=False,
        verbose=0,
        callbacks=[callbacks.TerminateOnNaN()],
    )
    assert "Batch 3: Invalid loss, terminating training" in capsys.readouterr().out
    assert len(history.history["loss"]) == 1 and np.isnan(history.history["loss"][0])


def test_validation_split_takes_the_last_fraction() -> None:
    model = _mlp()
    net = _torch_copy(model)
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(X, Y, batch_size=40, epochs=1, validation_split=0.25, verbose=0)
    # Training used the first 30 samples only (one full-batch SGD step) ...
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    F.mse_loss(net(torch.from_numpy(X[:30])), torch.from_numpy(Y[:30])).backward()
    opt.step()
    _assert_same_weights(model, net)
    # ... and validation the last 10, with the weights at the end of the epoch.
    with torch.no_grad():
        expected = F.mse_loss(net(torch.from_numpy(X[30:])), torch.from_numpy(Y[30:])).item()
    assert history.history["val_loss"][0] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="too few to split"):
        model.fit(X[:1], Y[:1], validation_split=0.5, verbose=0)


def test_validation_data_and_metrics() -> None:
    set_random_seed(0)
    x = Input(shape=(5,))
    model = Model(x, Dense(3, activation="softmax")(x))
    labels = RNG.integers(0, 3, size=40)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(X, labels, epochs=2, verbose=0, validation_data=(X[:10], labels[:10]))
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    loss, accuracy = model.evaluate(X, labels, verbose=0)
    probs = model.predict(X, verbose=0)
    assert accuracy == pytest.approx((probs.argmax(-1) == labels).mean())
    expected_loss = -np.log(np.clip(probs[np.arange(40), labels], 1e-7, 1)).mean()
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    logs = model.evaluate(X, labels, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "accuracy"]


def _batches(batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    while True:
        for start in range(0, 40, batch_size):
            yield X[start : start + batch_size], Y[start : start + batch_size]


@pytest.mark.parametrize("kind", ["dataset", "loader", "generator", "tensors"])
def test_datasets_loaders_and_generators_match_arrays(kind: str) -> None:
    reference = _mlp()
    reference.compile(optimizer="sgd", loss="mse")
    reference.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)

    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    tensors = TensorDataset(torch.from_numpy(X), torch.from_numpy(Y))
    if kind == "dataset":
        model.fit(tensors, batch_size=8, epochs=2, shuffle=False, verbose=0)
    elif kind == "loader":
        model.fit(DataLoader(tensors, batch_size=8), epochs=2, verbose=0)
    elif kind == "generator":
        model.fit(_batches(8), steps_per_epoch=5, epochs=2, verbose=0)
    else:
        model.fit(
            torch.from_numpy(X),
            torch.from_numpy(Y),
            batch_size=8,
            epochs=2,
            shuffle=False,
            verbose=0,
        )
    for a, b in zip(reference.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_generator_that_runs_out_stops_with_a_warning() -> None:
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    finite = ((X[i : i + 8], Y[i : i + 8]) for i in range(0, 40, 8))
    with pytest.warns(UserWarning, match="ran out of data at epoch 2"):
        history = model.fit(finite, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1


def test_predict_accepts_loaders_and_generators() -> None:
    model = _mlp()
    expected = model.predict(X, verbose=0)
    loader = DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(Y)), batch_size=16)
    np.testing.assert_allclose(model.predict(loader, verbose=0), expected, rtol=1e-6)
    gen = (X[i : i + 16] for i in range(0, 40, 16))
    np.testing.assert_allclose(model.predict(gen, verbose=0), expected, rtol=1e-6)
    with torch.no_grad():
        direct = model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(expected, direct, rtol=1e-6)


def test_multi_output_losses_weights_and_logs() -> None:
    set_random_seed(0)
    x = Input(shape=(5,))
    hidden = Dense(4, activation="relu")(x)
    model = Model(x, {"reg": Dense(2, name="reg")(hidden), "cls": Dense(1, name="cls")(hidden)})
    labels = (X[:, :1] > 0).astype(np.float32)
    model.compile(
        optimizer="adam",
        loss={"reg": "mse", "cls": lamina.losses.BinaryCrossentropy(from_logits=True)},
        loss_weights={"reg": 0.5, "cls": 2.0},
        metrics={"cls": ["accuracy"]},
    )
    logs = model.evaluate(X, {"reg": Y, "cls": labels}, batch_size=40, verbose=0, return_dict=True)
    out = model.predict(X, verbose=0)
    mse = ((out["reg"] - Y) ** 2).mean()
    bce = F.binary_cross_entropy_with_logits(torch.from_numpy(out["cls"]), torch.from_numpy(labels))
    assert logs["reg_loss"] == pytest.approx(mse, rel=1e-5)
    assert logs["cls_loss"] == pytest.approx(float(bce), rel=1e-5)
    assert logs["loss"] == pytest.approx(0.5 * mse + 2.0 * float(bce), rel=1e-5)
    assert logs["cls_accuracy"] == pytest.approx(((out["cls"] > 0.5) == labels).mean())
    history = model.fit(X, [Y, labels], epochs=1, verbose=0)
    assert {"loss", "reg_loss", "cls_loss", "cls_accuracy"} <= set(history.history)
    with pytest.raises(ValueError, match=r"loss names outputs \['clss'\]"):
        model.compile(optimizer="sgd", loss={"clss": "mse"})


def test_sample_weight_and_class_weight() -> None:
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    weights = RNG.uniform(size=40).astype(np.float32)
    out = model.predict(X, verbose=0)
    per_sample = ((out - Y) ** 2).mean(-1)
    got = model.evaluate(X, Y, sample_weight=weights, batch_size=40, verbose=0)
    assert got == pytest.approx((per_sample * weights).mean(), rel=1e-5)

    set_random_seed(0)
    x = Input(shape=(5,))
    clf = Model(x, Dense(3)(x))
    clf.compile(optimizer="sgd", loss=lamina.losses.SparseCategoricalCrossentropy(from_logits=True))
    labels = RNG.integers(0, 3, size=40)
    logits = torch.from_numpy(clf.predict(X, verbose=0))
    per = F.cross_entropy(logits, torch.from_numpy(labels), reduction="none")
    table = torch.tensor([1.0, 3.0, 0.5])
    expected = (per * table[labels]).mean()
    got_train = clf.train_on_batch(X, labels, class_weight={0: 1.0, 1: 3.0, 2: 0.5})
    assert got_train == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(ValueError, match="class_weight or sample_weight, not both"):
        clf.fit(X, labels, class_weight={0: 1.0}, sample_weight=weights, verbose=0)


def test_train_and_test_on_batch_match_torch() -> None:
    model = _mlp()
    net = _torch_copy(model)
    model.compile(optimizer=lamina.optimizers.SGD(learning_rate=0.1), loss="mse", metrics=["mae"])
    loss, mae = model.train_on_batch(X, Y)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    pred = net(torch.from_numpy(X))
    ref = F.mse_loss(pred, torch.from_numpy(Y))
    ref.backward()
    opt.step()
    assert loss == pytest.approx(ref.item(), rel=1e-5)
    assert mae == pytest.approx(F.l1_loss(pred, torch.from_numpy(Y)).item(), rel=1e-5)
    _assert_same_weights(model, net)
    with torch.no_grad():
        after = F.mse_loss(net(torch.from_numpy(X)), torch.from_numpy(Y)).item()
    assert model.test_on_batch(X, Y, return_dict=True)["loss"] == pytest.approx(after, rel=1e-5)


def test_resume_from_optimizer_state_equals_uninterrupted_training() -> None:
    straight = _mlp()
    straight.compile(optimizer="adam", loss="mse")
    straight.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)

    first = _mlp()
    first.compile(optimizer="adam", loss="mse")
    first.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    state = copy.deepcopy(first.optimizer.state_dict())
    config = json.loads(json.dumps(first._compile_state.config))

    resumed = _mlp(seed=1)
    resumed.set_weights(first.get_weights())
    training.compile_from_config(resumed, config)
    resumed.optimizer.load_state_dict(state)
    resumed.fit(X, Y, batch_size=8, epochs=2, initial_epoch=1, shuffle=False, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_compile_state_for_saving() -> None:
    model = _mlp()
    model.compile(
        optimizer=lamina.optimizers.Adam(learning_rate=0.01),
        loss=lamina.losses.Huber(delta=2.0),
        metrics=["accuracy", lamina.metrics.AUC(num_thresholds=50)],
        loss_weights=[1.0],
    )
    assert isinstance(model.optimizer, lamina.optimizers.Adam)
    assert isinstance(model.optimizer.torch_optimizer, torch.optim.Adam)
    config = json.loads(json.dumps(model._compile_state.config))
    assert config["optimizer"]["class_name"] == "Adam"
    assert config["optimizer"]["config"]["learning_rate"] == 0.01
    assert config["metrics"][0] == "accuracy"
    other = _mlp()
    training.compile_from_config(other, config)
    assert isinstance(other.loss, lamina.losses.Huber) and other.loss.get_config()["delta"] == 2.0
    assert other.optimizer.learning_rate == 0.01
    assert other._compile_state.config == config


def test_torch_optimizer_class_and_instance_in_compile() -> None:
    model = _mlp()
    net = _torch_copy(model)
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=0.05), loss="mse")
    model.fit(X, Y, batch_size=40, epochs=1, verbose=0)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    F.mse_loss(net(torch.from_numpy(X)), torch.from_numpy(Y)).backward()
    opt.step()
    _assert_same_weights(model, net)
    model.compile(optimizer=torch.optim.Adagrad, loss="mse")
    assert isinstance(model.optimizer.torch_optimizer, torch.optim.Adagrad)


def test_lazy_sequential_compiled_before_it_is_built() -> None:
    set_random_seed(0)
    model = Sequential([Dense(4, activation="relu"), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(X, Y, epochs=3, verbose=0)
    assert model.optimizer.built and history.history["loss"][-1] < history.history["loss"][0]


def test_steps_per_epoch_with_arrays_continues_across_epochs() -> None:
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    seen: list[int] = []
    counter = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    model.fit(
        X,
        Y,
        batch_size=8,
        epochs=3,
        steps_per_epoch=2,
        shuffle=False,
        verbose=0,
        callbacks=[counter],
    )
    assert seen == [0, 1] * 3
    assert model.optimizer.iterations == 6


def test_denormals_are_flushed_during_fit_and_restored(tmp_path: Any) -> None:
    states: list[bool] = []
    probe = callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: states.append(flush.denormals_flushed())
    )
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    assert not flush.denormals_flushed()
    model.fit(X, Y, batch_size=20, epochs=1, verbose=0, callbacks=[probe])
    if torch.set_flush_denormal(False):  # only CPUs that support it flush at all
        assert states == [True, True]
    assert not flush.denormals_flushed()
    # A caller that already flushes keeps flushing afterwards.
    with flush.flush_denormal():
        model.fit(X, Y, epochs=1, verbose=0)
        model.predict(X, verbose=0)
        assert flush.denormals_flushed() or not torch.set_flush_denormal(True)
    assert not flush.denormals_flushed()


def test_verbose_levels(capsys: pytest.CaptureFixture[str]) -> None:
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    model.fit(X, Y, batch_size=8, epochs=2, verbose=0, validation_split=0.2)
    assert capsys.readouterr().out == ""
    model.fit(X, Y, batch_size=8, epochs=2, verbose=2, validation_split=0.2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert lines[1].startswith("4/4 - ") and "/step - loss: " in lines[1]
    assert " - mae: " in lines[1] and " - val_loss: " in lines[1]
    model.fit(X, Y, batch_size=8, epochs=1, verbose="auto")  # not a terminal: like 2
    assert capsys.readouterr().out.splitlines()[1].startswith("5/5 - ")
    model.fit(X, Y, batch_size=8, epochs=1, verbose=1)
    assert "5/5 ━━━━━━━━━━━━━━━━━━━━" in capsys.readouterr().out
    with pytest.raises(ValueError, match="verbose must be 0, 1, 2 or 'auto', received 3"):
        model.fit(X, Y, verbose=3)


def test_no_loss_at_all_is_an_error() -> None:
    model = _mlp()
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="nothing to minimize"):
        model.fit(X, Y, verbose=0)


def test_autoencoder_targets_shared_with_inputs() -> None:
    # fit(x, x) gathers each batch once and uses it as input and target; the result is the
    # same as with a separate copy of the targets.
    results = []
    for targets in (X, X.copy()):
        lamina.utils.clear_session()
        set_random_seed(0)
        inp = Input(shape=(5,))
        model = Model(inp, Dense(5)(Dense(3)(inp)))
        model.compile(optimizer="adam", loss="mse")
        model.fit(X, targets, batch_size=8, epochs=2, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_several_inputs_as_list_or_dict_and_loader_validation() -> None:
    lamina.utils.clear_session()
    set_random_seed(0)
    a, b = Input(shape=(3,), name="a"), Input(shape=(2,), name="b")
    model = Model([a, b], Dense(2)(lamina.layers.concatenate([a, b])))
    model.compile(optimizer="sgd", loss="mse")
    xa, xb = X[:, :3], X[:, 3:]
    by_list = model.evaluate([xa, xb], Y, verbose=0)
    by_dict = model.evaluate({"b": xb, "a": xa}, Y, verbose=0)
    assert by_list == pytest.approx(by_dict)
    kernel, bias = model.get_weights()
    assert by_list == pytest.approx((((X @ kernel + bias) - Y) ** 2).mean(), rel=1e-5)
    loader = DataLoader(
        TensorDataset(torch.from_numpy(xa), torch.from_numpy(xb), torch.from_numpy(Y)),
        batch_size=16,
        collate_fn=lambda rows: (
            (torch.stack([r[0] for r in rows]), torch.stack([r[1] for r in rows])),
            torch.stack([r[2] for r in rows]),
        ),
    )
    history = model.fit([xa, xb], Y, epochs=1, verbose=0, validation_data=loader)
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(loader, verbose=0))
    with pytest.raises(ValueError, match=r"input dict lacks \['b'\]"):
        model.predict({"a": xa}, verbose=0)


def test_metrics_names_list_what_evaluate_returns() -> None:
    from lamina import Input, Model
    from lamina.layers import Dense

    rng = np.random.default_rng(0)
    data, labels = rng.normal(size=(32, 4)).astype(np.float32), rng.integers(0, 3, 32)
    x = Input(shape=(4,))
    model = Model(x, Dense(3, activation="softmax")(x))
    assert model.metrics_names == []
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    assert model.metrics_names == ["loss"]  # as in Keras 2, the metrics appear after a run
    model.fit(data, labels, epochs=1, verbose=0, validation_data=(data, labels))
    assert model.metrics_names == ["loss", "accuracy"]  # no val_ names
    values = model.evaluate(data, labels, verbose=0)
    assert dict(zip(model.metrics_names, values)) == model.evaluate(
        data, labels, verbose=0, return_dict=True
    )


def test_a_torch_loss_module_is_a_setting_not_a_child_module(tmp_path: Path) -> None:
    x = Input(shape=(3,))
    model = Model(x, Dense(1)(x))
    keys = set(model.state_dict())
    model.compile(optimizer="sgd", loss=torch.nn.MSELoss())
    assert not any(isinstance(m, torch.nn.MSELoss) for m in model.modules())
    assert set(model.state_dict()) == keys and model.compiled
    data = np.ones((8, 3), np.float32)
    model.fit(data, np.zeros((8, 1), np.float32), epochs=1, verbose=0)
    model.save(tmp_path / "m.lamina")
    loaded = lamina.load_model(tmp_path / "m.lamina")
    assert isinstance(loaded.compiled_loss.fns[0].fn, torch.nn.MSELoss)
    assert loaded.evaluate(data, np.zeros((8, 1)), verbose=0) == pytest.approx(
        model.evaluate(data, np.zeros((8, 1)), verbose=0)
    )


def test_saved_torch_losses_name_only_torch_loss_classes() -> None:
    from lamina.losses import deserialize, serialize

    weighted = lamina.losses.get(torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0])))
    config = serialize(weighted)
    assert config["class_name"] == "torch.nn.CrossEntropyLoss"
    assert config["config"]["weight"] == [1.0, 2.0]
    assert torch.equal(deserialize(config).fn.weight, torch.tensor([1.0, 2.0]))
    for name in ("torch.nn.Linear", "torch.nn.modules.loss._Loss", "torch.nn.os"):
        with pytest.raises(ValueError, match=r"expected one of torch\.nn's loss classes"):
            deserialize({"class_name": name, "config": {}})


def test_loss_tracker_holds_the_logged_loss() -> None:
    # Keras's model.metrics[0] is the loss Mean; the fused loop sets it from its own sums.
    set_random_seed(0)
    x = Input(shape=(3,))
    model = Model(x, Dense(2)(x))
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    data = np.random.default_rng(0).normal(size=(50, 3)).astype("float32")
    target = np.random.default_rng(1).normal(size=(50, 2)).astype("float32")
    history = model.fit(data, target, epochs=2, batch_size=16, verbose=0)
    tracker = model.metrics[0]
    assert tracker.name == "loss"
    assert float(tracker.result()) == pytest.approx(history.history["loss"][-1], rel=1e-6)
    loss, _ = model.evaluate(data[:20], target[:20], batch_size=7, verbose=0)
    assert float(tracker.result()) == pytest.approx(loss, rel=1e-6)
    logs = model.train_on_batch(data[:8], target[:8], return_dict=True)
    assert float(tracker.result()) == pytest.approx(logs["loss"], rel=1e-6)
