"""lamina's layers, one file per family."""

from lamina.core.layer import Layer as Layer
from lamina.core.tensor import Input as Input
from lamina.layers.core import Activation as Activation
from lamina.layers.core import Dense as Dense
from lamina.layers.core import Dropout as Dropout
from lamina.layers.core import Flatten as Flatten
from lamina.layers.core import Identity as Identity
from lamina.layers.core import InputLayer as InputLayer
from lamina.layers.core import Permute as Permute
from lamina.layers.core import RepeatVector as RepeatVector
from lamina.layers.core import Reshape as Reshape
from lamina.layers.embedding import Embedding as Embedding
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
from lamina.layers.normalization import BatchNormalization as BatchNormalization
from lamina.layers.normalization import GroupNormalization as GroupNormalization
from lamina.layers.normalization import LayerNormalization as LayerNormalization
from lamina.layers.normalization import UnitNormalization as UnitNormalization
from lamina.layers.operation import Operation as Operation
from lamina.layers.reshaping import Cropping1D as Cropping1D
from lamina.layers.reshaping import Cropping2D as Cropping2D
from lamina.layers.reshaping import Cropping3D as Cropping3D
from lamina.layers.reshaping import UpSampling1D as UpSampling1D
from lamina.layers.reshaping import UpSampling2D as UpSampling2D
from lamina.layers.reshaping import UpSampling3D as UpSampling3D
from lamina.layers.reshaping import ZeroPadding1D as ZeroPadding1D
from lamina.layers.reshaping import ZeroPadding2D as ZeroPadding2D
from lamina.layers.reshaping import ZeroPadding3D as ZeroPadding3D

__all__ = [
    "Activation",
    "Add",
    "Average",
    "BatchNormalization",
    "Concatenate",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "Dense",
    "Dot",
    "Dropout",
    "Embedding",
    "Flatten",
    "GroupNormalization",
    "Identity",
    "Input",
    "InputLayer",
    "Lambda",
    "Layer",
    "LayerNormalization",
    "Maximum",
    "Minimum",
    "Multiply",
    "Operation",
    "Permute",
    "RepeatVector",
    "Reshape",
    "Subtract",
    "UnitNormalization",
    "UpSampling1D",
    "UpSampling2D",
    "UpSampling3D",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
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
