"""Layers: forward/backward pairs following the protocol of `nagd.nn.model`."""
import numpy as np

from .model import Layer
