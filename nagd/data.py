"""Data sets: the IDX reader, MNIST / Fashion-MNIST loaders, the offline MNIST sample, and the
synthetic layer-matching set of the paper's section 3. Nothing here downloads at import or load time."""
import numpy as np
