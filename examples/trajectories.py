"""Trajectories of gradient descent and NaGD on the quadratic and on Rosenbrock (the paper's Figures 1-2).

Both methods step along -grad f, so they trace the same curve; they travel it at different speeds.
On q(x, y) = 8x^2 + y^2/2 from (1, 1), SGD rushes down the steep x-direction and crawls along the
valley floor (the y-axis); NaGD does the opposite. On Rosenbrock from (-3, -4), NaGD crosses the
curved valley in a few hundred steps where SGD, at the largest learning rate that does not diverge,
needs thousands.

Usage: python examples/trajectories.py [OUT_DIR] [--quick]
"""
import argparse
import os
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import scipy.optimize as so  # noqa: E402

from nagd.optim import SGD, NaGD  # noqa: E402


def quadratic(p):
    """q(x, y) = 8x^2 + y^2/2 and its gradient."""
    x, y = p
    return 8.0 * x * x + 0.5 * y * y, np.array([16.0 * x, y])


def rosenbrock(p):
    """The Rosenbrock function (1 - x)^2 + 100 (y - x^2)^2 and its gradient."""
    return so.rosen(p), so.rosen_der(p)


def iterates(opt, fun, x0, steps):
    """Return the first `steps` + 1 points an optimizer visits, as an array of shape (steps + 1, 2)."""
    x = np.array(x0, dtype=float)
    path = [x.copy()]
    for _ in range(steps):
        f, g = fun(x)
        opt.step(x, g, f)
        path.append(x.copy())
    return np.array(path)


def output_dir(path=None):
    """The folder for the figures: the argument, $NAGD_EXAMPLES_OUT, or a new temporary folder."""
    path = path or os.environ.get("NAGD_EXAMPLES_OUT") or tempfile.mkdtemp(prefix="nagd-examples-")
    os.makedirs(path, exist_ok=True)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", help="folder for the figures")
    parser.add_argument("--quick", action="store_true", help="fewer steps (seconds)")
    args = parser.parse_args(argv)
    out = output_dir(args.out)
    n_q = 600 if args.quick else 6000
    n_r = 3000 if args.quick else 20000

    # The quadratic: the paper's Figure 1 hyperparameters, and the same times 10 (Figure 2).
    paths = {}
    for scale in (1, 10):
        paths[scale] = (iterates(SGD(lr=0.001 * scale), quadratic, (1.0, 1.0), n_q),
                        iterates(NaGD(alpha=0.007 * scale), quadratic, (1.0, 1.0), n_q))
    # Rosenbrock: the best SGD learning rate of the paper's Table 2, and NaGD(alpha=1.6).
    r_sgd = iterates(SGD(lr=0.0003945), rosenbrock, (-3.0, -4.0), n_r)
    r_nagd = iterates(NaGD(alpha=1.6), rosenbrock, (-3.0, -4.0), n_r)

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    gx, gy = np.meshgrid(np.linspace(-0.1, 1.1, 15), np.linspace(-0.1, 1.1, 15))
    for ax, scale in zip(axes[:2], (1, 10)):
        sgd, nagd_ = paths[scale]
        u, v = -16.0 * gx, -gy
        norm = np.hypot(u, v) + 1e-12
        ax.quiver(gx, gy, u / norm, v / norm, color="0.75", width=0.003)
        ax.scatter(sgd[:, 0], sgd[:, 1], s=12, color="tab:red", alpha=0.15, label=f"SGD(lr={0.001 * scale:g})")
        ax.scatter(nagd_[:, 0], nagd_[:, 1], s=12, color="tab:blue", alpha=0.15,
                   label=f"NaGD(alpha={0.007 * scale:g})")
        ax.set(title=f"q = 8x² + y²/2, first {n_q} iterates", xlabel="x", ylabel="y",
               xlim=(-0.1, 1.1), ylim=(-0.1, 1.1))
        ax.legend(loc="upper left", fontsize=8)
    ax = axes[2]
    X, Y = np.meshgrid(np.linspace(-3.5, 2, 200), np.linspace(-5, 10, 200))
    Z = (1 - X) ** 2 + 100 * (Y - X * X) ** 2
    ax.contour(X, Y, np.log10(Z + 1e-3), levels=15, colors="0.8", linewidths=0.6)
    ax.plot(r_sgd[:, 0], r_sgd[:, 1], ".-", ms=2, lw=0.5, color="tab:red", label="SGD(lr=0.0003945)")
    ax.plot(r_nagd[:, 0], r_nagd[:, 1], ".-", ms=2, lw=0.5, color="tab:blue", label="NaGD(alpha=1.6)")
    ax.plot([1], [1], "k*", ms=10)
    ax.set(title=f"Rosenbrock from (-3, -4), {n_r} steps", xlabel="x", ylabel="y")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path = os.path.join(out, "trajectories.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)

    results = {
        "quadratic_final": {s: (quadratic(p[0][-1])[0], quadratic(p[1][-1])[0]) for s, p in paths.items()},
        "rosenbrock_final": (rosenbrock(r_sgd[-1])[0], rosenbrock(r_nagd[-1])[0]),
        "paths": paths,
        "figures": [path],
    }
    print(f"Rosenbrock after {n_r} steps: SGD f = {results['rosenbrock_final'][0]:.3g}, "
          f"NaGD f = {results['rosenbrock_final'][1]:.3g}")
    print(f"figure written to {path}")
    return results


if __name__ == "__main__":
    main()
