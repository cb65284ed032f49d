"""lamina's layers, one file per family."""

from lamina.core.layer import Layer as Layer
from lamina.core.tensor import Input as Input
from lamina.layers.activation import ELU as ELU
from lamina.layers.activation import LeakyReLU as LeakyReLU
from lamina.layers.activation import PReLU as PReLU
from lamina.layers.activation import ReLU as ReLU
from lamina.layers.activation import Softmax as Softmax
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
from lamina.layers.image_augmentation import RandomContrast as RandomContrast
from lamina.layers.image_augmentation import RandomCrop as RandomCrop
from lamina.layers.image_augmentation import RandomFlip as RandomFlip
from lamina.layers.image_augmentation import RandomRotation as RandomRotation
from lamina.layers.image_augmentation import RandomTranslation as RandomTranslation
from lamina.layers.image_augmentation import RandomZoom as RandomZoom
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
from lamina.layers.preprocessing import CenterCrop as CenterCrop
from lamina.layers.preprocessing import Normalization as Normalization
from lamina.layers.preprocessing import Rescaling as Rescaling
from lamina.layers.preprocessing import Resizing as Resizing
from lamina.layers.regularization import ActivityRegularization as ActivityRegularization
from lamina.layers.regularization import AlphaDropout as AlphaDropout
from lamina.layers.regularization import GaussianDropout as GaussianDropout
from lamina.layers.regularization import GaussianNoise as GaussianNoise
from lamina.layers.regularization import SpatialDropout1D as SpatialDropout1D
from lamina.layers.regularization import SpatialDropout2D as SpatialDropout2D
from lamina.layers.regularization import SpatialDropout3D as SpatialDropout3D
from lamina.layers.reshaping import Cropping1D as Cropping1D
from lamina.layers.reshaping import Cropping2D as Cropping2D
from lamina.layers.reshaping import Cropping3D as Cropping3D
from lamina.layers.reshaping import UpSampling1D as UpSampling1D
from lamina.layers.reshaping import UpSampling2D as UpSampling2D
from lamina.layers.reshaping import UpSampling3D as UpSampling3D
from lamina.layers.reshaping import ZeroPadding1D as ZeroPadding1D
from lamina.layers.reshaping import ZeroPadding2D as ZeroPadding2D
from lamina.layers.reshaping import ZeroPadding3D as ZeroPadding3D
from lamina.layers.torch_module import TorchModuleWrapper as TorchModuleWrapper

__all__ = [
    "ELU",
    "Activation",
    "ActivityRegularization",
    "Add",
    "AlphaDropout",
    "Average",
    "BatchNormalization",
    "CenterCrop",
    "Concatenate",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "Dense",
    "Dot",
    "Dropout",
    "Embedding",
    "Flatten",
    "GaussianDropout",
    "GaussianNoise",
    "GroupNormalization",
    "Identity",
    "Input",
    "InputLayer",
    "Lambda",
    "Layer",
    "LayerNormalization",
    "LeakyReLU",
    "Maximum",
    "Minimum",
    "Multiply",
    "Normalization",
    "Operation",
    "PReLU",
    "Permute",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "ReLU",
    "RepeatVector",
    "Rescaling",
    "Reshape",
    "Resizing",
    "Softmax",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "Subtract",
    "TorchModuleWrapper",
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
