"""lamina's layers, one file per family."""

from lamina.core.dtype_policy import InputSpec as InputSpec
from lamina.core.layer import Layer as Layer
from lamina.core.tensor import Input as Input
from lamina.layers.activation import ELU as ELU
from lamina.layers.activation import LeakyReLU as LeakyReLU
from lamina.layers.activation import PReLU as PReLU
from lamina.layers.activation import ReLU as ReLU
from lamina.layers.activation import Softmax as Softmax
from lamina.layers.attention import GroupQueryAttention as GroupQueryAttention
from lamina.layers.attention import MultiHeadAttention as MultiHeadAttention
from lamina.layers.batch_normalization import BatchNormalization as BatchNormalization
from lamina.layers.conv_lstm import ConvLSTM1D as ConvLSTM1D
from lamina.layers.conv_lstm import ConvLSTM2D as ConvLSTM2D
from lamina.layers.conv_lstm import ConvLSTM3D as ConvLSTM3D
from lamina.layers.convolution import Conv1D as Conv1D
from lamina.layers.convolution import Conv2D as Conv2D
from lamina.layers.convolution import Conv3D as Conv3D
from lamina.layers.convolution_transpose import Conv1DTranspose as Conv1DTranspose
from lamina.layers.convolution_transpose import Conv2DTranspose as Conv2DTranspose
from lamina.layers.convolution_transpose import Conv3DTranspose as Conv3DTranspose
from lamina.layers.core import Activation as Activation
from lamina.layers.core import Dense as Dense
from lamina.layers.core import Dropout as Dropout
from lamina.layers.core import Flatten as Flatten
from lamina.layers.core import Identity as Identity
from lamina.layers.core import InputLayer as InputLayer
from lamina.layers.core import Permute as Permute
from lamina.layers.core import RepeatVector as RepeatVector
from lamina.layers.core import Reshape as Reshape
from lamina.layers.depthwise import DepthwiseConv1D as DepthwiseConv1D
from lamina.layers.depthwise import DepthwiseConv2D as DepthwiseConv2D
from lamina.layers.depthwise import SeparableConv1D as SeparableConv1D
from lamina.layers.depthwise import SeparableConv2D as SeparableConv2D
from lamina.layers.dot_attention import AdditiveAttention as AdditiveAttention
from lamina.layers.dot_attention import Attention as Attention
from lamina.layers.embedding import Embedding as Embedding
from lamina.layers.function import Lambda as Lambda
from lamina.layers.image_augmentation import RandomContrast as RandomContrast
from lamina.layers.image_augmentation import RandomCrop as RandomCrop
from lamina.layers.image_augmentation import RandomFlip as RandomFlip
from lamina.layers.image_augmentation import RandomRotation as RandomRotation
from lamina.layers.image_augmentation import RandomTranslation as RandomTranslation
from lamina.layers.image_augmentation import RandomZoom as RandomZoom
from lamina.layers.masking import Masking as Masking
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
from lamina.layers.normalization import GroupNormalization as GroupNormalization
from lamina.layers.normalization import LayerNormalization as LayerNormalization
from lamina.layers.normalization import UnitNormalization as UnitNormalization
from lamina.layers.operation import Operation as Operation
from lamina.layers.pooling import AveragePooling1D as AveragePooling1D
from lamina.layers.pooling import AveragePooling2D as AveragePooling2D
from lamina.layers.pooling import AveragePooling3D as AveragePooling3D
from lamina.layers.pooling import AvgPool1D as AvgPool1D
from lamina.layers.pooling import AvgPool2D as AvgPool2D
from lamina.layers.pooling import AvgPool3D as AvgPool3D
from lamina.layers.pooling import GlobalAveragePooling1D as GlobalAveragePooling1D
from lamina.layers.pooling import GlobalAveragePooling2D as GlobalAveragePooling2D
from lamina.layers.pooling import GlobalAveragePooling3D as GlobalAveragePooling3D
from lamina.layers.pooling import GlobalAvgPool1D as GlobalAvgPool1D
from lamina.layers.pooling import GlobalAvgPool2D as GlobalAvgPool2D
from lamina.layers.pooling import GlobalAvgPool3D as GlobalAvgPool3D
from lamina.layers.pooling import GlobalMaxPool1D as GlobalMaxPool1D
from lamina.layers.pooling import GlobalMaxPool2D as GlobalMaxPool2D
from lamina.layers.pooling import GlobalMaxPool3D as GlobalMaxPool3D
from lamina.layers.pooling import GlobalMaxPooling1D as GlobalMaxPooling1D
from lamina.layers.pooling import GlobalMaxPooling2D as GlobalMaxPooling2D
from lamina.layers.pooling import GlobalMaxPooling3D as GlobalMaxPooling3D
from lamina.layers.pooling import MaxPool1D as MaxPool1D
from lamina.layers.pooling import MaxPool2D as MaxPool2D
from lamina.layers.pooling import MaxPool3D as MaxPool3D
from lamina.layers.pooling import MaxPooling1D as MaxPooling1D
from lamina.layers.pooling import MaxPooling2D as MaxPooling2D
from lamina.layers.pooling import MaxPooling3D as MaxPooling3D
from lamina.layers.preprocessing import CenterCrop as CenterCrop
from lamina.layers.preprocessing import Normalization as Normalization
from lamina.layers.preprocessing import Rescaling as Rescaling
from lamina.layers.preprocessing import Resizing as Resizing
from lamina.layers.recurrent import GRU as GRU
from lamina.layers.recurrent import LSTM as LSTM
from lamina.layers.recurrent import SimpleRNN as SimpleRNN
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
from lamina.layers.reshaping import ZeroPadding1D as ZeroPadding1D
from lamina.layers.reshaping import ZeroPadding2D as ZeroPadding2D
from lamina.layers.reshaping import ZeroPadding3D as ZeroPadding3D
from lamina.layers.rnn import RNN as RNN
from lamina.layers.rnn_cells import GRUCell as GRUCell
from lamina.layers.rnn_cells import LSTMCell as LSTMCell
from lamina.layers.rnn_cells import SimpleRNNCell as SimpleRNNCell
from lamina.layers.rnn_cells import StackedRNNCells as StackedRNNCells
from lamina.layers.torch_module import TorchModuleWrapper as TorchModuleWrapper
from lamina.layers.upsampling import UpSampling1D as UpSampling1D
from lamina.layers.upsampling import UpSampling2D as UpSampling2D
from lamina.layers.upsampling import UpSampling3D as UpSampling3D
from lamina.layers.wrappers import Bidirectional as Bidirectional
from lamina.layers.wrappers import TimeDistributed as TimeDistributed

__all__ = [
    "ELU",
    "GRU",
    "LSTM",
    "RNN",
    "Activation",
    "ActivityRegularization",
    "Add",
    "AdditiveAttention",
    "AlphaDropout",
    "Attention",
    "Average",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "AvgPool1D",
    "AvgPool2D",
    "AvgPool3D",
    "BatchNormalization",
    "Bidirectional",
    "CenterCrop",
    "Concatenate",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "ConvLSTM1D",
    "ConvLSTM2D",
    "ConvLSTM3D",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "Dense",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "Dot",
    "Dropout",
    "Embedding",
    "Flatten",
    "GRUCell",
    "GaussianDropout",
    "GaussianNoise",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalAvgPool3D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalMaxPool3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "GroupNormalization",
    "GroupQueryAttention",
    "Identity",
    "Input",
    "InputLayer",
    "InputSpec",
    "LSTMCell",
    "Lambda",
    "Layer",
    "LayerNormalization",
    "LeakyReLU",
    "Masking",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "Maximum",
    "Minimum",
    "MultiHeadAttention",
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
    "SeparableConv1D",
    "SeparableConv2D",
    "SimpleRNN",
    "SimpleRNNCell",
    "Softmax",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "StackedRNNCells",
    "Subtract",
    "TimeDistributed",
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
