"""lamina's layers, one file per family."""

from lamina.core.dtype_policy import InputSpec as InputSpec
from lamina.core.layer import Layer as Layer
from lamina.core.tensor import Input as Input
from lamina.layers.core import Activation as Activation
from lamina.layers.core import Dense as Dense
from lamina.layers.core import Dropout as Dropout
from lamina.layers.core import Flatten as Flatten
from lamina.layers.core import InputLayer as InputLayer
from lamina.layers.core import Permute as Permute
from lamina.layers.core import RepeatVector as RepeatVector
from lamina.layers.core import Reshape as Reshape
from lamina.layers.function import Lambda as Lambda
from lamina.layers.merging import Add as Add
from lamina.layers.merging import Average as Average
from lamina.layers.merging import Concatenate as Concatenate
from lamina.layers.merging import Dot as Dot
from lamina.layers.merging import Maximum as Maximum
from lamina.layers.merging import Minimum as Minimum
from lamina.layers.merging import Multiply as Multiply
from lamina.layers.merging import Subtract as Subtract
from lamina.layers.merging import add as add
from lamina.layers.merging import average as average
from lamina.layers.merging import concatenate as concatenate
from lamina.layers.merging import dot as dot
from lamina.layers.merging import maximum as maximum
from lamina.layers.merging import merge as merge
from lamina.layers.merging import minimum as minimum
from lamina.layers.merging import multiply as multiply
from lamina.layers.merging import subtract as subtract
from lamina.layers.operation import Operation as Operation

__all__ = [
    "Activation",
    "Add",
    "Average",
    "Concatenate",
    "Dense",
    "Dot",
    "Dropout",
    "Flatten",
    "Input",
    "InputLayer",
    "InputSpec",
    "Lambda",
    "Layer",
    "Maximum",
    "Minimum",
    "Multiply",
    "Operation",
    "Permute",
    "RepeatVector",
    "Reshape",
    "Subtract",
    "add",
    "average",
    "concatenate",
    "dot",
    "maximum",
    "merge",
    "minimum",
    "multiply",
    "subtract",
]
