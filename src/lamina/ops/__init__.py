"""Tensor functions for use inside function layers, with Keras's names and arguments.

Each function is a thin wrapper over torch. Called on torch tensors it computes; called on
symbolic tensors it records an operation layer, so `ops.exp(log_var)` is valid while building
a model (and shows in summaries, plots and saved files).

Example:
    >>> import torch
    >>> from lamina import ops
    >>> ops.sum(torch.ones(2, 3), axis=1)
    tensor([3., 3.])
"""

from __future__ import annotations

from lamina import random as random
from lamina.ops import nn as nn
from lamina.ops.creation import arange as arange
from lamina.ops.creation import convert_to_numpy as convert_to_numpy
from lamina.ops.creation import convert_to_tensor as convert_to_tensor
from lamina.ops.creation import eye as eye
from lamina.ops.creation import full as full
from lamina.ops.creation import ones as ones
from lamina.ops.creation import stop_gradient as stop_gradient
from lamina.ops.creation import tril as tril
from lamina.ops.creation import triu as triu
from lamina.ops.creation import zeros as zeros
from lamina.ops.elementwise import abs as abs
from lamina.ops.elementwise import add as add
from lamina.ops.elementwise import ceil as ceil
from lamina.ops.elementwise import clip as clip
from lamina.ops.elementwise import cos as cos
from lamina.ops.elementwise import divide as divide
from lamina.ops.elementwise import erf as erf
from lamina.ops.elementwise import exp as exp
from lamina.ops.elementwise import expm1 as expm1
from lamina.ops.elementwise import floor as floor
from lamina.ops.elementwise import log as log
from lamina.ops.elementwise import log1p as log1p
from lamina.ops.elementwise import log_softmax as log_softmax
from lamina.ops.elementwise import matmul as matmul
from lamina.ops.elementwise import maximum as maximum
from lamina.ops.elementwise import minimum as minimum
from lamina.ops.elementwise import multiply as multiply
from lamina.ops.elementwise import negative as negative
from lamina.ops.elementwise import power as power
from lamina.ops.elementwise import relu as relu
from lamina.ops.elementwise import round as round
from lamina.ops.elementwise import rsqrt as rsqrt
from lamina.ops.elementwise import sigmoid as sigmoid
from lamina.ops.elementwise import sign as sign
from lamina.ops.elementwise import sin as sin
from lamina.ops.elementwise import softmax as softmax
from lamina.ops.elementwise import softplus as softplus
from lamina.ops.elementwise import sqrt as sqrt
from lamina.ops.elementwise import square as square
from lamina.ops.elementwise import subtract as subtract
from lamina.ops.elementwise import tanh as tanh
from lamina.ops.elementwise import where as where
from lamina.ops.logic import all as all
from lamina.ops.logic import any as any
from lamina.ops.logic import equal as equal
from lamina.ops.logic import greater as greater
from lamina.ops.logic import greater_equal as greater_equal
from lamina.ops.logic import less as less
from lamina.ops.logic import less_equal as less_equal
from lamina.ops.logic import logical_and as logical_and
from lamina.ops.logic import logical_not as logical_not
from lamina.ops.logic import logical_or as logical_or
from lamina.ops.logic import not_equal as not_equal
from lamina.ops.recording import RAW as RAW
from lamina.ops.recording import symbolic as symbolic
from lamina.ops.reductions import argmax as argmax
from lamina.ops.reductions import argmin as argmin
from lamina.ops.reductions import cumsum as cumsum
from lamina.ops.reductions import logsumexp as logsumexp
from lamina.ops.reductions import max as max
from lamina.ops.reductions import mean as mean
from lamina.ops.reductions import min as min
from lamina.ops.reductions import norm as norm
from lamina.ops.reductions import prod as prod
from lamina.ops.reductions import std as std
from lamina.ops.reductions import sum as sum
from lamina.ops.reductions import var as var
from lamina.ops.shapes import Shape as Shape
from lamina.ops.shapes import cast as cast
from lamina.ops.shapes import concatenate as concatenate
from lamina.ops.shapes import einsum as einsum
from lamina.ops.shapes import expand_dims as expand_dims
from lamina.ops.shapes import flip as flip
from lamina.ops.shapes import one_hot as one_hot
from lamina.ops.shapes import ones_like as ones_like
from lamina.ops.shapes import repeat as repeat
from lamina.ops.shapes import reshape as reshape
from lamina.ops.shapes import shape as shape
from lamina.ops.shapes import split as split
from lamina.ops.shapes import squeeze as squeeze
from lamina.ops.shapes import stack as stack
from lamina.ops.shapes import tile as tile
from lamina.ops.shapes import transpose as transpose
from lamina.ops.shapes import zeros_like as zeros_like
from lamina.ops.sorting import argsort as argsort
from lamina.ops.sorting import dot as dot
from lamina.ops.sorting import pad as pad
from lamina.ops.sorting import sort as sort
from lamina.ops.sorting import top_k as top_k

__all__ = [
    "Shape",
    "abs",
    "add",
    "all",
    "any",
    "arange",
    "argmax",
    "argmin",
    "argsort",
    "cast",
    "ceil",
    "clip",
    "concatenate",
    "convert_to_numpy",
    "convert_to_tensor",
    "cos",
    "cumsum",
    "divide",
    "dot",
    "einsum",
    "equal",
    "erf",
    "exp",
    "expand_dims",
    "expm1",
    "eye",
    "flip",
    "floor",
    "full",
    "greater",
    "greater_equal",
    "less",
    "less_equal",
    "log",
    "log1p",
    "log_softmax",
    "logical_and",
    "logical_not",
    "logical_or",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "multiply",
    "negative",
    "nn",
    "norm",
    "not_equal",
    "one_hot",
    "ones",
    "ones_like",
    "pad",
    "power",
    "prod",
    "random",
    "relu",
    "repeat",
    "reshape",
    "round",
    "rsqrt",
    "shape",
    "sigmoid",
    "sign",
    "sin",
    "softmax",
    "softplus",
    "sort",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "stop_gradient",
    "subtract",
    "sum",
    "tanh",
    "tile",
    "top_k",
    "transpose",
    "tril",
    "triu",
    "var",
    "where",
    "zeros",
    "zeros_like",
]
