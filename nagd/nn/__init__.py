"""Hand-written layers with forward and backward passes over one flat parameter buffer."""
from .model import Layer, Sequential

__all__ = ["Layer", "Sequential"]
