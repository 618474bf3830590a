"""The old name of `nagd.datasets`: the same loaders, error classes and tables, re-exported.

Code written for ``nagd.data`` keeps working (``except nagd.data.MNISTNotFoundError`` catches
what `nagd.datasets.load_mnist` raises: the objects are the same). New code imports
`nagd.datasets`; the downloader is `nagd.datasets.fetch`.
"""
from .datasets.idx import IDXFormatError, read_idx, read_idx_file
from .datasets.mnist import (MNIST, DataWarning, MNISTNotFoundError, default_data_home, load_mnist, load_mnist_sample,
                             mnist_search_paths, normalize_mnist, stratified_split)
# The tables stay module attributes, outside __all__ as before.
from .datasets.mnist import (DATASETS, EXPECTED_BYTES, FASHION_MNIST_FILES, MNIST_FILES,  # noqa: F401
                             MNIST_MEAN, MNIST_SAMPLE, MNIST_STD)

__all__ = [
    "IDXFormatError", "MNISTNotFoundError", "DataWarning", "MNIST", "read_idx", "read_idx_file", "load_mnist",
    "load_mnist_sample", "mnist_search_paths", "default_data_home", "normalize_mnist", "stratified_split",
]
