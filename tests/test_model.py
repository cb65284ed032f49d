from __future__ import annotations

import numpy as np
import pytest
import torch

from lamina import Input, Model, Sequential, ops
from lamina.core.errors import LayerError
from lamina.layers import Concatenate, Dense, Dropout, Lambda, Layer, Reshape, merge

SEED_INPUT = np.array([[[1, 2], [2, 3], [3, 4], [4, 5]]])


def slice(x, index):
    return x[:, :, index]


def seed_model() -> Model:
    a = Input(shape=(4, 2))
    x1 = Lambda(slice, arguments={"index": 0})(a)
    x2 = Lambda(slice, arguments={"index": 1})(a)
    x1 = Reshape((4, 1, 1))(x1)
    x2 = Reshape((4, 1, 1))(x2)
    return Model(a, merge([x1, x2], mode="concat"))


def test_seed_example_prediction() -> None:
    got = seed_model().predict(SEED_INPUT, verbose=0)
    assert got.shape == (1, 4, 1, 2) and got.dtype == np.float32
    np.testing.assert_array_equal(got, [[[[1, 2]], [[2, 3]], [[3, 4]], [[4, 5]]]])


def test_seed_summary_shows_true_shapes_and_functions() -> None:
    lines: list[str] = []
    seed_model().summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Lambda: slice, index=0" in text and "Lambda: slice, index=1" in text
    assert "(None, 4)" in text and "(None, 4, 1)" not in text.replace("(None, 4, 1, ", "")
    assert "(None, 4, 1, 2)" in text and "Total params: 0" in text


def mlp() -> tuple[Model, torch.nn.Sequential]:
    x = Input(shape=(6,))
    h = Dense(5, activation="relu")(x)
    model = Model(x, Dense(3)(h))
    reference = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    with torch.no_grad():
        for linear, (kernel, bias) in zip(
            [reference[0], reference[2]], [model.layers[1].weights, model.layers[2].weights]
        ):
            linear.weight.copy_(kernel.T)
            linear.bias.copy_(bias)
    return model, reference


def test_model_matches_torch_forward_and_backward() -> None:
    model, reference = mlp()
    x = torch.randn(7, 6)
    torch.testing.assert_close(model(x), reference(x))
    model(x).square().sum().backward()
    reference(x).square().sum().backward()
    torch.testing.assert_close(model.layers[1].kernel.grad, reference[0].weight.grad.T)


def test_model_is_an_nn_module() -> None:
    model, _ = mlp()
    assert (
        set(model.state_dict()) == {"dense.kernel", "dense.bias", "dense_1.kernel", "dense_1.bias"}
        or len(model.state_dict()) == 4
    )
    model.to(torch.float64)
    assert model(torch.ones(2, 6, dtype=torch.float64)).dtype == torch.float64
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert len(optimizer.param_groups[0]["params"]) == 4
    assert model.count_params() == 6 * 5 + 5 + 5 * 3 + 3


def test_get_and_set_weights_keras_layout() -> None:
    model, _ = mlp()
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(6, 5), (5,), (5, 3), (3,)]
    model.set_weights([np.zeros_like(w) for w in weights])
    assert not model(torch.ones(1, 6)).any()
    with pytest.raises(
        ValueError,
        match=r"weight 'kernel' has shape \(6, 5\), received an "
        r"array of shape \(5, 6\)",
    ):
        model.layers[1].set_weights([np.zeros((5, 6)), np.zeros(5)])
    with pytest.raises(ValueError, match="received 1 arrays, expected 4"):
        model.set_weights([weights[0]])


def test_trainable_switch_freezes_and_restores() -> None:
    model, _ = mlp()
    model.layers[1].trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    assert len(model.weights) == 4
    model.trainable = False
    assert not model.trainable_weights
    model.trainable = True
    assert len(model.trainable_weights) == 4


def test_automatic_names_are_unique() -> None:
    names = [Dense(1).name for _ in range(3)]
    assert len(set(names)) == 3 and all(n.startswith("dense") for n in names)


def test_multiple_inputs_outputs_dicts_and_shared_layers() -> None:
    a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="b")
    shared = Dense(2, name="shared")
    ya, yb = shared(a), shared(b)
    model = Model({"a": a, "b": b}, {"sum": ya + yb, "concat": Concatenate()([ya, yb])})
    assert len(model.trainable_weights) == 2
    xa, xb = np.ones((4, 3)), np.full((4, 3), 2.0)
    out = model.predict({"a": xa, "b": xb}, verbose=0)
    kernel, bias = shared.get_weights()
    ref_a, ref_b = xa @ kernel + bias, xb @ kernel + bias
    np.testing.assert_allclose(out["sum"], ref_a + ref_b, rtol=1e-5)
    np.testing.assert_allclose(out["concat"], np.concatenate([ref_a, ref_b], 1), rtol=1e-5)
    with pytest.raises(ValueError, match=r"inputs dict lacks \['b'\]"):
        model({"a": torch.ones(1, 3)})


def test_nested_model_as_layer() -> None:
    inner_in = Input(shape=(4,))
    inner = Model(inner_in, Dense(3, activation="tanh")(inner_in), name="inner")
    x = Input(shape=(4,))
    y = Dense(1)(inner(x))
    outer = Model(x, y)
    assert y.shape == (None, 1)
    assert any(layer is inner for layer in outer.layers)
    data = torch.randn(5, 4)
    torch.testing.assert_close(outer(data), outer.layers[-1](inner(data)))
    with pytest.raises(
        LayerError,
        match=r"Model 'inner': expected input shape \(None, 4\), "
        r"received \(None, 5\)",
    ):
        inner(Input(shape=(5,)))


def test_output_not_reachable_from_inputs_names_missing_input() -> None:
    a, b = Input(shape=(2,), name="first"), Input(shape=(2,), name="second")
    with pytest.raises(ValueError, match="depends on the input 'second'"):
        Model(a, a + b)


def test_duplicate_layer_names_are_an_error() -> None:
    x = Input(shape=(2,))
    with pytest.raises(ValueError, match="two different layers are named 'twin'"):
        Model(x, Dense(2, name="twin")(Dense(2, name="twin")(x)))


def test_layer_named_like_a_model_attribute() -> None:
    x = Input(shape=(2,))
    model = Model(x, Dense(1, name="output")(x))
    assert model.output.shape == (None, 1)
    assert model.get_layer("output").units == 1


def test_get_layer_and_shapes() -> None:
    model = seed_model()
    assert model.get_layer(index=0).name.startswith("input_layer")
    assert model.input_shape == (None, 4, 2) and model.output_shape == (None, 4, 1, 2)
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.get_layer("nope")


def test_sequential_variants() -> None:
    eager = Sequential([Input(shape=(4,)), Dense(3, activation="relu"), Dense(1)])
    assert eager.output_shape == (None, 1) and len(eager.layers) == 2
    keras2 = Sequential([Dense(3, input_shape=(4,)), Dense(1)])
    assert keras2.output_shape == (None, 1)
    lazy = Sequential()
    lazy.add(Dense(3))
    lazy.add(Dense(2))
    assert lazy(torch.ones(5, 7)).shape == (5, 2)
    assert lazy.layers[0].kernel.shape == (7, 3)
    popped = lazy.pop()
    assert popped.units == 2 and lazy(torch.ones(1, 7)).shape == (1, 3)
    with pytest.raises(TypeError, match="expected a Layer, received int"):
        Sequential([1])


def test_sequential_matches_functional_reference() -> None:
    model = Sequential([Input(shape=(4,)), Dense(3, activation="relu"), Dense(2)])
    x = torch.randn(6, 4)
    first, second = model.layers
    expected = torch.relu(x @ first.kernel + first.bias) @ second.kernel + second.bias
    torch.testing.assert_close(model(x), expected)


def test_dropout_only_in_training() -> None:
    x = Input(shape=(100,))
    model = Model(x, Dropout(0.5)(x))
    data = torch.ones(4, 100)
    assert torch.equal(model(data), data)
    assert (model(data, training=True) == 0).any()
    assert np.array_equal(model.predict(data.numpy(), verbose=0), data.numpy())


def test_predict_batches_and_casts_float64() -> None:
    model, reference = mlp()
    x = np.random.default_rng(0).normal(size=(70, 6))
    got = model.predict(x, batch_size=16, verbose=0)
    assert got.dtype == np.float32 and got.shape == (70, 3)
    np.testing.assert_allclose(
        got, reference(torch.tensor(x, dtype=torch.float32)).detach(), rtol=1e-5, atol=1e-6
    )


def test_graph_losses_computed_with_outputs() -> None:
    x = Input(shape=(3,))
    h = Dense(2)(x)
    model = Model(x, h * 1.0)
    model.add_loss(ops.mean(ops.square(h)))
    data = torch.randn(5, 3)
    outputs, losses = model.call_with_losses(data)
    torch.testing.assert_close(losses[0], outputs.square().mean())
    other = Input(shape=(3,))
    with pytest.raises(ValueError, match="depends on the input"):
        model.add_loss(ops.sum(other))


def test_layer_add_loss_inside_call() -> None:
    from lamina.layers import Layer

    class Penalized(Layer):
        def call(self, inputs):
            self.add_loss(inputs.abs().sum())
            return inputs

    x = Input(shape=(2,))
    model = Model(x, Penalized()(x))
    for _ in range(3):
        _, losses = model.call_with_losses(torch.ones(1, 2))
    assert len(losses) == 1 and losses[0].item() == 2.0


def test_subclassed_model() -> None:
    class Net(Model):
        def __init__(self) -> None:
            super().__init__()
            self.hidden = Dense(4, activation="relu")
            self.out = Dense(1)

        def call(self, inputs):
            return self.out(self.hidden(inputs))

    net = Net()
    assert net(torch.ones(2, 3)).shape == (2, 1)
    assert len(net.layers) == 2 and net.name.partition("_")[0] == "net"  # named after its class
    assert Net()(Input(shape=(3,))).shape == (None, 1)


def test_building_a_long_chain_is_linear() -> None:
    x = Input(shape=(4,))
    y = x
    for _ in range(300):
        y = Lambda(lambda t: t + 1)(y)
    model = Model(x, y)
    assert len(model.layers) == 301
    assert model.predict(np.zeros((1, 4)), verbose=0)[0, 0] == 300


def test_hooks_and_compile_still_apply_inside_models() -> None:
    model, _ = mlp()
    seen = []
    handle = model.layers[1].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    model(torch.ones(2, 6))
    handle.remove()
    model(torch.ones(2, 6))
    assert seen == [torch.Size([2, 5])]
    calls = []
    global_handle = torch.nn.modules.module.register_module_forward_hook(
        lambda m, i, o: calls.append(type(m).__name__)
    )
    try:
        model(torch.ones(1, 6))
    finally:
        global_handle.remove()
    assert calls.count("Dense") == 2 and "Model" in calls


def test_built_layer_called_on_another_shape_names_both_shapes() -> None:
    class Scale(Layer):
        def build(self, input_shape):
            self.scale = self.add_weight("scale", (input_shape[-1],), "ones")

        def call(self, inputs):
            return inputs * self.scale

    layer = Scale(name="scale")
    layer(Input(shape=(3,)))
    with pytest.raises(
        LayerError,
        match=r"Scale 'scale': calling it on input shape \(None, 4\) "
        r"failed with RuntimeError: .*built for input shape "
        r"\(None, 3\)",
    ):
        layer(Input(shape=(4,)))


def test_summary_expand_nested_and_sequential_columns() -> None:
    inner_in = Input(shape=(4,))
    inner = Model(inner_in, Dense(3, name="inner_dense")(inner_in), name="block")
    x = Input(shape=(4,))
    outer = Model(x, Dense(1)(inner(x)))
    collapsed, expanded = [], []
    outer.summary(print_fn=collapsed.append)
    outer.summary(print_fn=expanded.append, expand_nested=True)
    assert "block (Model)" in "\n".join(collapsed)
    assert "inner_dense" not in "\n".join(collapsed) and "inner_dense" in "\n".join(expanded)
    lines = []
    Sequential([Input(shape=(2,)), Dense(3)]).summary(print_fn=lines.append, line_length=60)
    assert "Connected to" not in "\n".join(lines) and max(map(len, lines)) <= 60
    assert "Total params: 9 (36.00 B)" in "\n".join(lines)


def test_summary_trainable_column_layer_range_and_optimizer_size() -> None:
    x = Input(shape=(3,))
    h = Dropout(0.1, name="drop")(Dense(4, name="frozen")(x))
    model = Model(x, Dense(1, name="head")(h))
    model.get_layer("frozen").trainable = False
    lines: list[str] = []
    model.summary(print_fn=lines.append, show_trainable=True, layer_range=("frozen", "head"))
    rows = {line.split()[1]: line for line in lines if line.startswith("│")}
    assert set(rows) == {"frozen", "drop", "head"}  # input_layer is outside the range
    assert [rows[n].rstrip("│ ").split()[-1] for n in ("frozen", "drop", "head")] == ["N", "-", "Y"]
    assert not any("Optimizer params" in line for line in lines)
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 3), np.float32), np.ones((4, 1), np.float32), epochs=1, verbose=0)
    lines.clear()
    model.summary(print_fn=lines.append, positions=[0.3, 0.6, 1.0])
    # Adam keeps two moments per trainable weight (the head's 4 + 1) and a step per tensor.
    assert " Optimizer params: 12 (48.00 B)" in lines
    with pytest.raises(ValueError, match=r"layer_range names \['nope'\].*'head'"):
        model.summary(layer_range=("frozen", "nope"))
    with pytest.raises(ValueError, match="ends before it starts"):
        model.summary(layer_range=("head", "frozen"))


def test_sequential_parameters_are_visible_before_any_call() -> None:
    model = Sequential([Input(shape=(4,)), Dense(3)])
    assert model.count_params() == 15 and len(list(model.parameters())) == 2
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert sum(p.numel() for p in optimizer.param_groups[0]["params"]) == 15


def test_losses_of_nested_layer_calls_are_collected_once_per_step() -> None:
    class Penalized(Layer):
        def call(self, inputs):
            self.add_loss(inputs.abs().sum())
            return inputs

    class Block(Layer):
        def __init__(self) -> None:
            super().__init__()
            self.inner = Penalized()

        def call(self, inputs):
            return self.inner(inputs) * 2  # a sublayer called through Layer.__call__

    x = Input(shape=(2,))
    block = Block()
    model = Model(x, block(x))
    for _ in range(3):
        _, losses = model.call_with_losses(torch.ones(1, 2))
    assert [loss.item() for loss in losses] == [2.0]
    block(torch.full((1, 2), 3.0))
    assert [loss.item() for loss in block.losses] == [6.0]


def test_get_weights_returns_copies() -> None:
    layer = Dense(2)
    layer(torch.ones(1, 3))
    kernel = layer.get_weights()[0]
    with torch.no_grad():
        layer.kernel.add_(1.0)
    assert not np.allclose(kernel, layer.get_weights()[0])


def test_subclassed_model_without_training_argument_trains() -> None:
    class Net(Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = Dense(2)

        def call(self, inputs):
            return self.dense(inputs)

    net = Net()
    net.compile(optimizer="sgd", loss="mse")
    history = net.fit(np.ones((8, 3)), np.zeros((8, 2)), epochs=2, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]


def test_torch_compile_traces_a_model() -> None:
    model, reference = mlp()
    compiled = torch.compile(model, backend="eager")  # dynamo traces the plan; no C++ build
    x = torch.randn(4, 6)
    torch.testing.assert_close(compiled(x), reference(x))


def test_moving_a_compiled_model_moves_its_optimizer_state() -> None:
    """As `.to("cuda")` would (tests/test_cuda.py): `.double()` takes the same path."""
    x = Input(shape=(3,))
    model = Model(x, Dense(2)(x))
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), epochs=1, verbose=0)
    state = model.optimizer.torch_optimizer.state
    assert {s["exp_avg"].dtype for s in state.values()} == {torch.float32}
    model.double()
    state = model.optimizer.torch_optimizer.state
    assert [id(p) for p in model.parameters()] == [id(p) for p in state]  # moved in place
    assert {s["exp_avg"].dtype for s in state.values()} == {torch.float64}


class Block(Layer):
    """Sublayers made in __init__, built by their first call (the Keras way)."""

    def __init__(self, units: int = 4, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.hidden = Dense(units, activation="relu")
        self.out = Dense(units)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(inputs))


def test_sublayers_first_called_symbolically_get_real_weights() -> None:
    from lamina.utils import set_random_seed

    set_random_seed(3)
    x = Input(shape=(5,))
    model = Model(x, Block(4)(x))
    assert all(not t.is_meta for t in model.state_dict().values())
    assert model.output_shape == (None, 4)
    block = model.layers[1]
    data = torch.randn(2, 5)
    hidden = torch.relu(data @ block.hidden.kernel + block.hidden.bias)
    torch.testing.assert_close(model(data), hidden @ block.out.kernel + block.out.bias)
    # The same initial values as a first eager call draws.
    set_random_seed(3)
    eager = Block(4)
    eager(torch.zeros(1, 5))
    for a, b in zip(block.state_dict().values(), eager.state_dict().values()):
        assert torch.equal(a, b)


def test_subclassed_model_called_on_an_input_gets_real_weights() -> None:
    class Net(Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = Dense(2)

        def call(self, inputs: torch.Tensor) -> torch.Tensor:
            return self.dense(inputs) * 2

    x = Input(shape=(3,))
    model = Model(x, Net()(x))
    assert all(not t.is_meta for t in model.state_dict().values())
    assert model.predict(np.ones((1, 3), np.float32), verbose=0).shape == (1, 2)


def test_a_sublayer_making_weights_in_call_makes_them_for_real_at_its_first_call() -> None:
    class Lazy(Layer):
        def call(self, inputs: torch.Tensor) -> torch.Tensor:
            if "scale" not in self._parameters:
                self.scale = torch.nn.Parameter(torch.full((inputs.shape[-1],), 2.0))
            return inputs * self.scale

    class Outer(Layer):
        def __init__(self) -> None:
            super().__init__()
            self.lazy = Lazy()

        def call(self, inputs: torch.Tensor) -> torch.Tensor:
            return self.lazy(inputs)

    x = Input(shape=(3,))
    model = Model(x, Outer()(x))
    assert model.output_shape == (None, 3)
    assert all(not t.is_meta for t in model.state_dict().values())  # none left on meta
    torch.testing.assert_close(model(torch.ones(1, 3)), torch.full((1, 3), 2.0))
    assert not model.layers[1].lazy.scale.is_meta


def test_layer_output_is_its_first_calls_and_an_uncalled_layer_says_so() -> None:
    dense = Dense(2, name="shared")
    a, b = Input(shape=(3,)), Input(shape=(3,))
    first, _ = dense(a), dense(b)
    assert dense.output is first and dense.input is a  # Keras 3: the first call's
    assert dense.output_shape == (None, 2)
    with pytest.raises(LayerError, match="'fresh' has never been called on symbolic inputs"):
        _ = Dense(2, name="fresh").output


def test_sublayers_are_real_when_inference_falls_back_to_a_real_run() -> None:
    class Reads(Layer):
        """Its call reads a value, which the meta device cannot give: a real run follows."""

        def __init__(self) -> None:
            super().__init__()
            self.dense = Dense(3)

        def call(self, inputs: torch.Tensor) -> torch.Tensor:
            hidden = self.dense(inputs)
            return hidden * float(hidden.abs().sum() >= 0)

    x = Input(shape=(4,))
    model = Model(x, Reads()(x))
    assert model.output_shape == (None, 3)
    assert all(not t.is_meta for t in model.state_dict().values())
    dense = model.layers[1].dense
    torch.testing.assert_close(
        model(torch.ones(2, 4)), torch.ones(2, 4) @ dense.kernel + dense.bias
    )


def test_two_threads_calling_models_keep_their_own_losses() -> None:
    import threading

    from lamina.core.calls import run_collecting_losses
    from lamina.core.layer import Layer

    class Penalty(Layer):
        def call(self, inputs: torch.Tensor) -> torch.Tensor:
            self.add_loss(inputs.sum())
            threading.Event().wait(0.001)  # let the other thread run inside this call
            return inputs

    layer = Penalty()
    results: dict[float, list[float]] = {1.0: [], 2.0: []}
    start = threading.Barrier(2)

    def work(value: float) -> None:
        start.wait()
        for _ in range(50):
            _, losses = run_collecting_losses(lambda: layer(torch.full((1, 2), value)))
            results[value].append(sum(float(loss) for loss in losses))

    threads = [threading.Thread(target=work, args=(v,)) for v in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {1.0: [2.0] * 50, 2.0: [4.0] * 50}
