"""Section 4 of the paper: a small convolutional network on MNIST (Table 3, Figure 8)."""
import numpy as np

from ..nn import Conv2D, Dense, Dropout, Dropout2d, Flatten, MaxPool2D, ReLU, Sequential

__all__ = ["build_model"]


def build_model(dtype=np.float32, seed=None):
    """The paper's network (PyTorch's classic MNIST example), 21,840 parameters.

    ``1x28x28 -> Conv2D(10, 5) -> MaxPool2D(2) -> ReLU -> Conv2D(20, 5) -> Dropout2d(0.5)
    -> MaxPool2D(2) -> ReLU -> Flatten (320) -> Dense(50) -> ReLU -> Dropout(0.5) -> Dense(10)``,
    whose scores go to `nagd.nn.losses.softmax_cross_entropy`.

    Parameters
    ----------
    dtype : {numpy.float32, numpy.float64}, default float32
    seed : int, numpy.random.Generator or None
        Seeds the initialisation (PyTorch's default uniform ranges) and the dropout masks.

    Returns
    -------
    Sequential
    """
    layers = [
        Conv2D(10, 5, input_grad=False), MaxPool2D(2), ReLU(),
        Conv2D(20, 5), Dropout2d(0.5), MaxPool2D(2), ReLU(),
        Flatten(), Dense(50), ReLU(), Dropout(0.5), Dense(10),
    ]
    return Sequential(layers, (1, 28, 28), dtype=dtype, seed=seed)
