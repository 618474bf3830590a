"""Training a dense tanh layer with several optimizers: the paper's layer-matching task (section 3).

A random dense layer R^10 -> R^4 with tanh activation generates 200 samples (inputs uniform in
[0, 1]^10), 100 for training and 100 for testing; a layer of the same shape, freshly initialised,
is trained to recover it, with minibatches of one sample. The model has exactly the right capacity,
so the loss can reach 0, which is the lower bound NaGD needs. Progress is the mean Euclidean
distance between predicted and expected outputs on the test set.

Usage: python examples/dense_layer.py [OUT_DIR] [--quick]
"""
import argparse
import os
import tempfile

import numpy as np

from nagd import nn, optim
from nagd.experiments import plotting
from nagd.experiments.layer_matching import make_layer_matching


def output_dir(path=None):
    """The folder for the figures: the argument, $NAGD_EXAMPLES_OUT, or a new temporary folder."""
    path = path or os.environ.get("NAGD_EXAMPLES_OUT") or tempfile.mkdtemp(prefix="nagd-examples-")
    os.makedirs(path, exist_ok=True)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", help="folder for the figures")
    parser.add_argument("--quick", action="store_true", help="fewer epochs (seconds)")
    args = parser.parse_args(argv)
    out = output_dir(args.out)
    epochs = 5 if args.quick else 45          # the paper: 45 epochs of 100 steps

    task = make_layer_matching(seed=0)
    optimizers = {
        "NaGD(alpha=1.0)": optim.NaGD(alpha=1.0),
        "NaGD(alpha=0.5)": optim.NaGD(alpha=0.5),
        "SGD(lr=0.1)": optim.SGD(lr=0.1),
        "SGD(lr=0.01, momentum=0.9)": optim.SGD(lr=0.01, momentum=0.9),
        "Adam(lr=0.01)": optim.Adam(lr=0.01),
        "RMSprop(lr=0.001)": optim.RMSprop(lr=0.001),
        "Adagrad(lr=0.1)": optim.Adagrad(lr=0.1),
    }
    series, final = {}, {}
    for name, opt in optimizers.items():
        # The same initial weights (seed 1) and the same sample order (seed 2) for every optimizer.
        model = nn.Sequential([nn.Dense(4, activation="tanh")], input_shape=(10,), seed=1)
        history = nn.fit(model, opt, task.X_train, task.y_train, nn.mse, epochs=epochs, batch_size=1,
                         seed=2, eval_sets={"test": (task.X_test, task.y_test)},
                         metrics={"distance": nn.mean_distance})
        distance = np.array(history["test_distance"])
        series[name] = (np.array(history["step"]), distance)
        final[name] = float(distance[-1])
        print(f"{name:28s} mean test distance after {epochs} epochs: {final[name]:.2e}")
    figure = plotting.curves(series, os.path.join(out, "dense_layer.png"), xlabel="training step",
                             ylabel="mean test distance",
                             title="recovering a dense tanh layer (minibatch 1)")
    print(f"figure written to {figure}")
    return {"final": final, "series": series, "figures": [figure]}


if __name__ == "__main__":
    main()
