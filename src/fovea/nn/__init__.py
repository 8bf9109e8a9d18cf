"""fovea.nn: modules, layers, losses and initialization with PyTorch's names."""

from . import functional, init, parallel, utils
from .activation import (
    ELU,
    GELU,
    SELU,
    Hardtanh,
    LeakyReLU,
    LogSoftmax,
    Maxout,
    PReLU,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from .attention import MultiheadAttention
from .dropout import Dropout, Dropout2d
from .embedding import Embedding
from .layers import Conv2d, ConvTranspose2d, Flatten, Identity, Linear
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, ModuleList, Parameter, Sequential
from .normalization import (
    BatchNorm1d,
    BatchNorm2d,
    GroupNorm,
    LayerNorm,
    LocalResponseNorm,
    RMSNorm,
    SyncBatchNorm,
)
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .positional import LearnedPositionalEmbedding, SinusoidalPositionalEncoding
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell
from .resample import Upsample
from .transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = ["functional", "init", "parallel", "utils", "Module", "ModuleList", "Parameter", "Sequential",
           "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Identity", "ReLU",
           "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "CrossEntropyLoss", "MSELoss", "NLLLoss",
           "LeakyReLU", "PReLU", "ELU", "SELU", "GELU", "SiLU", "Softplus", "Hardtanh", "Maxout",
           "BatchNorm1d", "BatchNorm2d", "SyncBatchNorm", "LayerNorm", "GroupNorm", "LocalResponseNorm",
           "Dropout", "Dropout2d", "AdaptiveAvgPool2d",
           "ConvTranspose2d", "Upsample", "Embedding", "MultiheadAttention", "RMSNorm",
           "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
           "TransformerDecoderLayer", "SinusoidalPositionalEncoding",
           "LearnedPositionalEmbedding", "RNNBase", "RNN", "LSTM", "GRU", "RNNCell",
           "LSTMCell", "GRUCell"]
