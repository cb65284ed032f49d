"""lamina optimizers against the torch.optim updates they stand for."""

from __future__ import annotations

import doctest
import json

import pytest
import torch

from lamina import optimizers


def test_doctests() -> None:
    assert doctest.testmod(optimizers, raise_on_error=False).failed == 0


def _run(make_opt: object, steps: int = 3) -> torch.Tensor:
    """Minimize sum((w - 1)^2 * c) from a fixed start with the optimizer `make_opt(params)`."""
    w = torch.nn.Parameter(torch.tensor([0.5, -2.0, 3.0]))
    scale = torch.tensor([1.0, 0.1, 10.0])
    opt = make_opt([w])  # type: ignore[operator]
    for _ in range(steps):
        opt.zero_grad()
        (((w - 1) ** 2) * scale).sum().backward()
        opt.step()
    return w.detach()


def _lamina(opt: optimizers.Optimizer) -> object:
    def make(params: list[torch.nn.Parameter]) -> optimizers.Optimizer:
        opt.build(params)
        return opt

    return make


@pytest.mark.parametrize(
    ("lamina_opt", "torch_opt"),
    [
        (optimizers.Adam(), lambda p: torch.optim.Adam(p, lr=1e-3, eps=1e-7)),
        (
            optimizers.Adam(learning_rate=0.1, beta_1=0.5, amsgrad=True),
            lambda p: torch.optim.Adam(p, lr=0.1, betas=(0.5, 0.999), eps=1e-7, amsgrad=True),
        ),
        (
            optimizers.Adam(weight_decay=0.1),
            lambda p: torch.optim.AdamW(p, lr=1e-3, eps=1e-7, weight_decay=0.1),
        ),
        (optimizers.AdamW(), lambda p: torch.optim.AdamW(p, lr=1e-3, eps=1e-7, weight_decay=0.004)),
        (optimizers.SGD(), lambda p: torch.optim.SGD(p, lr=0.01)),
        (
            optimizers.SGD(0.1, momentum=0.9, nesterov=True),
            lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        ),
        (optimizers.RMSprop(), lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.9, eps=1e-7)),
        (
            optimizers.Adagrad(),
            lambda p: torch.optim.Adagrad(p, lr=1e-3, initial_accumulator_value=0.1, eps=1e-7),
        ),
        (optimizers.Adamax(), lambda p: torch.optim.Adamax(p, lr=1e-3, eps=1e-7)),
        (optimizers.Nadam(), lambda p: torch.optim.NAdam(p, lr=1e-3, eps=1e-7, momentum_decay=1.0)),
        (optimizers.Adadelta(), lambda p: torch.optim.Adadelta(p, lr=1e-3, rho=0.95, eps=1e-7)),
    ],
)
def test_matches_torch(lamina_opt: optimizers.Optimizer, torch_opt: object) -> None:
    torch.testing.assert_close(_run(_lamina(lamina_opt)), _run(torch_opt))
    assert lamina_opt.iterations == 3


def test_get_by_name_with_keras_defaults() -> None:
    adam = optimizers.get("adam")
    assert isinstance(adam, optimizers.Adam)
    assert (adam.learning_rate, adam.epsilon, adam.beta_1, adam.beta_2) == (1e-3, 1e-7, 0.9, 0.999)
    assert optimizers.get("SGD").learning_rate == 0.01
    assert isinstance(optimizers.get("adamw"), optimizers.AdamW)
    assert isinstance(optimizers.get("rmsprop"), optimizers.RMSprop)
    assert isinstance(optimizers.get("adagrad"), optimizers.Adagrad)
    with pytest.raises(ValueError, match="Unknown optimizer 'adamm'") as info:
        optimizers.get("adamm")
    assert "adagrad, adam, adamax, adamw" in str(info.value)
    with pytest.raises(TypeError, match="Expected an optimizer name"):
        optimizers.get(0.1)


def test_learning_rate_setter_reaches_torch() -> None:
    opt = optimizers.SGD(learning_rate=0.5)
    opt.build([torch.nn.Parameter(torch.zeros(1))])
    opt.learning_rate = 0.25
    assert opt.torch_optimizer is not None
    assert opt.torch_optimizer.param_groups[0]["lr"] == 0.25
    assert opt.learning_rate == 0.25


def test_schedule_and_clipping() -> None:
    rates: list[int] = []

    def schedule(step: int) -> float:
        rates.append(step)
        return 1.0 / (step + 1)

    w = _run(_lamina(optimizers.SGD(learning_rate=schedule)), steps=2)
    # Hand-computed: w0=[.5,-2,3], g=2c(w-1); lr 1 then 1/2.
    ref = torch.tensor([0.5, -2.0, 3.0])
    scale = torch.tensor([1.0, 0.1, 10.0])
    for lr in (1.0, 0.5):
        ref = ref - lr * 2 * scale * (ref - 1)
    torch.testing.assert_close(w, ref)
    assert rates[-2:] == [0, 1]  # evaluated before each step

    clipped = _run(_lamina(optimizers.SGD(learning_rate=1.0, global_clipnorm=1.0)), steps=1)
    grad = 2 * scale * (torch.tensor([0.5, -2.0, 3.0]) - 1)
    expected = torch.tensor([0.5, -2.0, 3.0]) - grad / grad.norm()
    torch.testing.assert_close(clipped, expected)
    by_value = _run(_lamina(optimizers.SGD(learning_rate=1.0, clipvalue=0.5)), steps=1)
    torch.testing.assert_close(by_value, torch.tensor([0.5, -2.0, 3.0]) - grad.clamp(-0.5, 0.5))
    with pytest.raises(ValueError, match="clipnorm or global_clipnorm"):
        optimizers.SGD(clipnorm=1.0, global_clipnorm=1.0)


def test_state_dict_resumes_training() -> None:
    full = _run(_lamina(optimizers.Adam(learning_rate=0.1)), steps=4)

    w = torch.nn.Parameter(torch.tensor([0.5, -2.0, 3.0]))
    scale = torch.tensor([1.0, 0.1, 10.0])
    first = optimizers.Adam(learning_rate=0.1)
    first.build([w])
    for _ in range(2):
        first.zero_grad()
        (((w - 1) ** 2) * scale).sum().backward()
        first.step()
    state = first.state_dict()
    assert state["iterations"] == 2
    second = optimizers.Adam(learning_rate=0.1)
    second.load_state_dict(state)  # before build: kept until build
    second.build([w])
    assert second.iterations == 2
    for _ in range(2):
        second.zero_grad()
        (((w - 1) ** 2) * scale).sum().backward()
        second.step()
    torch.testing.assert_close(w.detach(), full)


def test_torch_class_and_instance() -> None:
    by_class = optimizers.get(torch.optim.SGD)
    assert isinstance(by_class, optimizers.TorchOptimizer)
    by_kwargs = optimizers.TorchOptimizer(torch.optim.SGD, lr=0.1, momentum=0.9)
    ref = _run(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9))
    torch.testing.assert_close(_run(_lamina(by_kwargs)), ref)

    w = torch.nn.Parameter(torch.zeros(2))
    instance = torch.optim.SGD([w], lr=0.2)
    wrapped = optimizers.get(instance)
    assert wrapped.torch_optimizer is instance and wrapped.learning_rate == 0.2
    wrapped.build([w])  # the same weights: fine
    with pytest.raises(ValueError, match="not all of the model's 1 trainable weights"):
        wrapped.build([torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(TypeError, match=r"torch\.optim\.Optimizer class or instance"):
        optimizers.TorchOptimizer(object)


def test_serialize_round_trip() -> None:
    for opt in (
        optimizers.Adam(learning_rate=0.01, beta_2=0.99),
        optimizers.SGD(momentum=0.5),
        optimizers.TorchOptimizer(torch.optim.Adam, lr=0.01, betas=(0.8, 0.9)),
    ):
        config = json.loads(json.dumps(optimizers.serialize(opt)))
        back = optimizers.deserialize(config)
        assert type(back) is type(opt)
        assert back.get_config() == opt.get_config()
    with pytest.raises(ValueError, match="Unknown optimizer class 'Sgdx'"):
        optimizers.deserialize({"class_name": "Sgdx", "config": {}})


def test_not_built_errors_say_why() -> None:
    opt = optimizers.Adam()
    with pytest.raises(RuntimeError, match="not built yet"):
        opt.step()
    assert opt.state_dict() == {"state": {}, "param_groups": []}
    with pytest.raises(ValueError, match="no trainable weights"):
        opt.build([])


def test_fused_kernels_where_torch_has_them() -> None:
    def built(
        opt: optimizers.Optimizer, dtype: torch.dtype = torch.float32
    ) -> torch.optim.Optimizer:
        opt.build([torch.nn.Parameter(torch.zeros(3, dtype=dtype))])
        assert opt.torch_optimizer is not None
        return opt.torch_optimizer

    for cls in (optimizers.Adam, optimizers.AdamW, optimizers.SGD, optimizers.Adagrad):
        assert built(cls()).defaults["fused"] is True, cls
    assert not built(optimizers.Adam(fused=False)).defaults["fused"]
    assert not built(optimizers.Nadam()).defaults.get("fused")
    # Same updates as the per-tensor loop, to float rounding.
    fused = _run(_lamina(optimizers.Adam(learning_rate=0.1)), steps=20)
    loop = _run(_lamina(optimizers.Adam(learning_rate=0.1, fused=False)), steps=20)
    torch.testing.assert_close(fused, loop)
    assert optimizers.Adam(fused=False).get_config()["fused"] is False
