"""The section-4 network built from `nagd.nn` layers alone, for the nn tests (which import no experiment).

tests/test_mnist.py checks that it is `nagd.experiments.mnist.build_model`'s network, parameter for parameter.
"""
import numpy as np

from nagd.nn import Conv2D, Dense, Dropout, Dropout2d, Flatten, MaxPool2D, ReLU, Sequential


def convnet(dtype=np.float32, seed=None):
    """PyTorch's classic MNIST network: two convolutions with pooling, channel and element-wise dropout."""
    layers = [Conv2D(10, 5, input_grad=False), MaxPool2D(2), ReLU(),
              Conv2D(20, 5), Dropout2d(0.5), MaxPool2D(2), ReLU(),
              Flatten(), Dense(50), ReLU(), Dropout(0.5), Dense(10)]
    return Sequential(layers, (1, 28, 28), dtype=dtype, seed=seed)
