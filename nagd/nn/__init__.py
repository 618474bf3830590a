"""Hand-written layers with forward and backward passes over one flat parameter buffer."""
from .model import Layer, Sequential
from .layers import Dense, Tanh, ReLU
from .layers import Conv2D, MaxPool2D, Dropout, Dropout2d, Flatten
from .losses import mse, mean_distance
from .losses import softmax_cross_entropy
from .gradcheck import numerical_gradient, rel_error
from .train import TrainingDiverged, evaluate, fit, train_epoch
from .parallel import DataParallel

__all__ = [
    "Layer", "Sequential",
    "Dense", "Tanh", "ReLU",
    "Conv2D", "MaxPool2D", "Dropout", "Dropout2d", "Flatten",
    "mse", "mean_distance",
    "softmax_cross_entropy",
    "numerical_gradient", "rel_error",
    "TrainingDiverged", "evaluate", "fit", "train_epoch",
    "DataParallel",
]
