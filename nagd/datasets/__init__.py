"""Data sets: the IDX file format, the MNIST / Fashion-MNIST loaders and their downloader.

=======  ===========================================================================================
module   contents
=======  ===========================================================================================
`idx`    the IDX file format: `read_idx`, `read_idx_file`; `read_bytes` and `inflate` (size-capped)
`mnist`  where the files are looked for (`mnist_search_paths`), `load_mnist`, `load_mnist_sample`
`fetch`  the downloader of ``nagd data fetch``: mirrors, sha256 checks, timeouts, deadline, size caps
=======  ===========================================================================================

The loaders are re-exported here; `nagd.datasets.fetch` is imported on its own, so loading
data never loads the network code.

Nothing here downloads at import or load time. (The synthetic data of the paper's section 3 is
`nagd.experiments.layer_matching.make_layer_matching`.) ``nagd.data`` is the old name of this
package's loaders and still works.
"""
from .idx import IDXFormatError, inflate, read_bytes, read_idx, read_idx_file
from .mnist import (MNIST, DataWarning, MNISTNotFoundError, default_data_home, load_mnist, load_mnist_sample,
                    mnist_search_paths, normalize_mnist, stratified_split)

__all__ = [
    "IDXFormatError", "MNISTNotFoundError", "DataWarning", "MNIST", "read_idx", "read_idx_file", "read_bytes",
    "inflate", "load_mnist", "load_mnist_sample", "mnist_search_paths", "default_data_home", "normalize_mnist",
    "stratified_split",
]
