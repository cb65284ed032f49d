"""`BatchNormalization` with Keras's arguments, defaults and math (momentum, biased variance),
on torch's fused kernel over views of the input."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lamina import constraints, initializers, regularizers
from lamina.core.errors import LayerError
from lamina.core.layer import Layer
from lamina.core.tensor import Shape
from lamina.layers.normalization import (
    _LOW_PRECISION,
    InitializerArg,
    _add_gamma_beta,
    _cast,
    _check_same,
    _resolve_axes,
    _sizes,
)


class BatchNormalization(Layer):
    """Normalize each feature of `axis` by its mean and variance over the batch (training) or
    by their moving averages (inference), then scale by `gamma` and shift by `beta`.

    Keras's conventions, which differ from `torch.nn.BatchNorm*`: `momentum` is the weight of
    the old moving value (`moving = moving * momentum + batch * (1 - momentum)`), `epsilon`
    defaults to `1e-3`, and the moving variance is updated with the biased batch variance, the
    one used to normalize. A layer with `trainable=False` always runs in inference mode, as in
    Keras 3 (fine-tuning a frozen backbone keeps its statistics).

    Args:
        axis: the features axis (`-1` for channels-last data, `1` for channels-first).
        momentum: the weight of the old value in the moving averages.
        epsilon: added to the variance before its square root.
        center: whether to add the learned offset `beta`.
        scale: whether to multiply by the learned `gamma`.
        beta_initializer, gamma_initializer, moving_mean_initializer,
            moving_variance_initializer: initializers of the four weights.
        beta_regularizer, gamma_regularizer: regularizers (`lamina.regularizers`) whose
            penalties training adds to the loss.
        beta_constraint, gamma_constraint: constraints (`lamina.constraints`) applied after
            each optimizer step.
        synchronized: accepted for Keras compatibility; statistics are per process (wrap the
            model with `torch.nn.SyncBatchNorm` semantics yourself for synchronized ones).

    Call arguments:
        inputs: a tensor of any rank >= 2.
        training: normalize with the batch statistics and update the moving ones; `None`
            follows the layer's mode (`fit` turns it on).
        mask: in training, a boolean tensor of the input's shape without the features axis
            (the last): only the positions it keeps count in the batch statistics.

    Output shape:
        The input's shape.

    Example:
        >>> import torch
        >>> from lamina.layers import BatchNormalization
        >>> layer = BatchNormalization()
        >>> layer(torch.tensor([[0.0], [2.0]]), training=True).detach().flatten()
        tensor([-0.9995,  0.9995])
        >>> layer.moving_mean.detach()  # 0.99 * 0 + 0.01 * 1
        tensor([0.0100])
    """

    supports_masking = True

    gamma: torch.nn.Parameter | None
    beta: torch.nn.Parameter | None

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        *,
        beta_initializer: InitializerArg = "zeros",
        gamma_initializer: InitializerArg = "ones",
        moving_mean_initializer: InitializerArg = "zeros",
        moving_variance_initializer: InitializerArg = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        synchronized: bool = False,
        **kwargs: Any,
    ) -> None:
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"BatchNormalization: expected an int for axis, received {axis!r}.")
        if not 0 <= momentum <= 1:
            raise ValueError(
                f"BatchNormalization: expected momentum in [0, 1] (Keras's meaning: the weight "
                f"of the old moving value, typically 0.99), received {momentum!r}."
            )
        if epsilon <= 0:
            raise ValueError(
                f"BatchNormalization: expected a positive epsilon, received {epsilon!r}."
            )
        super().__init__(**kwargs)
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.synchronized = synchronized
        self._feature_axis = 1

    def build(self, input_shape: Shape) -> None:
        (self._feature_axis,) = _resolve_axes(self, self.axis, input_shape)
        shape = _sizes(input_shape, [self._feature_axis])
        _add_gamma_beta(self, shape, scale=self.scale, center=self.center)
        self.moving_mean = self.add_weight(
            "moving_mean", shape, self.moving_mean_initializer, trainable=False
        )
        self.moving_variance = self.add_weight(
            "moving_variance", shape, self.moving_variance_initializer, trainable=False
        )

    def check_input_shape(self, shapes: Any) -> None:
        _check_same(self, self._build_input_shape, shapes, [self._feature_axis])

    def call(
        self, inputs: torch.Tensor, training: bool | None = None, mask: Any = None
    ) -> torch.Tensor:
        if training is None:
            training = self.training
        x = inputs.float() if inputs.dtype in _LOW_PRECISION else inputs
        if mask is not None and training and self.trainable:
            out = self._masked_training(x, mask)
            return out.to(inputs.dtype) if out.dtype != inputs.dtype else out
        # torch's kernels want the features on axis 1. A channels-last 4-D tensor permuted to
        # NCHW is a view in channels_last memory format, which the fused kernels take as is;
        # other ranks with the features last are flattened to (samples, features), a view too.
        axis, rank = self._feature_axis, x.ndim
        if axis == 1:
            view = x
        elif axis == rank - 1 and rank == 4:
            view = x.permute(0, 3, 1, 2)
        elif axis == rank - 1:
            view = x.reshape(-1, x.shape[-1])
        else:
            view = x.movedim(axis, 1)
        if training and self.trainable:
            out, mean, invstd = torch.native_batch_norm(
                view, _cast(self.gamma, x), _cast(self.beta, x), None, None, True, 0.0, self.epsilon
            )
            with torch.no_grad():
                # The biased batch variance, as Keras uses, recovered from 1/sqrt(var + eps)
                # without a second pass over the batch; its error is ~1e-7 of var + eps.
                variance = invstd.pow(-2).sub_(self.epsilon).clamp_(min=0)
                self.moving_mean.lerp_(mean.to(self.moving_mean.dtype), 1 - self.momentum)
                self.moving_variance.lerp_(
                    variance.to(self.moving_variance.dtype), 1 - self.momentum
                )
        else:
            out = F.batch_norm(
                view,
                _cast(self.moving_mean, x),
                _cast(self.moving_variance, x),
                _cast(self.gamma, x),
                _cast(self.beta, x),
                False,
                0.0,
                self.epsilon,
            )
        if axis == 1:
            pass
        elif axis == rank - 1 and rank == 4:
            out = out.permute(0, 2, 3, 1)
        elif axis == rank - 1:
            out = out.reshape(x.shape)
        else:
            out = out.movedim(1, axis)
        return out.to(inputs.dtype) if out.dtype != inputs.dtype else out

    def _masked_training(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Statistics over the positions `mask` keeps (Keras's weighting, its 1e-7 included);
        every position is normalized with them."""
        if mask.ndim != x.ndim - 1:
            raise LayerError(
                f"BatchNormalization '{self.name}': expected a mask with one axis fewer than "
                f"the input {tuple(x.shape)}, received mask shape {tuple(mask.shape)}."
            )
        axes = [a for a in range(x.ndim) if a != self._feature_axis]
        weights = mask.unsqueeze(-1).to(x.dtype).expand_as(x)
        count = weights.sum(axes, keepdim=True) + 1e-7
        mean = (x * weights).sum(axes, keepdim=True) / count
        variance = ((x - mean) * weights).square().sum(axes, keepdim=True) / count
        shape = [1] * x.ndim
        shape[self._feature_axis] = -1
        scale = torch.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            scale = scale * self.gamma.reshape(shape)
        out = (x - mean) * scale
        if self.beta is not None:
            out = out + self.beta.reshape(shape)
        with torch.no_grad():
            weight = 1 - self.momentum
            self.moving_mean.lerp_(mean.flatten().to(self.moving_mean.dtype), weight)
            self.moving_variance.lerp_(variance.flatten().to(self.moving_variance.dtype), weight)
        return out

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
            "synchronized": self.synchronized,
        }

    def extra_repr(self) -> str:
        return f"axis={self.axis}, momentum={self.momentum}, epsilon={self.epsilon}"
