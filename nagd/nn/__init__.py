"""Hand-written layers with forward and backward passes over one flat parameter buffer."""
from .model import Layer, Sequential
from .layers import Dense, Tanh, ReLU
from .losses import mse, mean_distance
from .gradcheck import numerical_gradient, rel_error
from .train import TrainingDiverged, evaluate, fit, train_epoch

__all__ = [
    "Layer", "Sequential",
    "Dense", "Tanh", "ReLU",
    "mse", "mean_distance",
    "numerical_gradient", "rel_error",
    "TrainingDiverged", "evaluate", "fit", "train_epoch",
]
