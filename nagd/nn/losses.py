"""Losses: ``loss(pred, target) -> (value, dpred)``, the mean over the batch."""
import numpy as np
