"""Trajectories of gradient descent and NaGD on the quadratic and on Rosenbrock (the paper's Figures 1-2).

Both methods step along -grad f, so they trace the same curve; they travel it at different speeds.
On q(x, y) = 8x^2 + y^2/2 from (1, 1), SGD rushes down the steep x-direction and crawls along the
valley floor (the y-axis), NaGD does the opposite: where the light circles crowd, the curve
darkens. On Rosenbrock from (-3, -4), NaGD reaches the minimum in a few hundred steps where SGD,
at the largest learning rate that does not diverge, needs thousands.

Usage: python examples/trajectories.py [OUT_DIR] [--quick]
"""
import argparse
import os
import tempfile

import numpy as np

from nagd import problems
from nagd.experiments import plotting
from nagd.optim import SGD, NaGD


def iterates(opt, fun, grad, x0, steps):
    """Return the first `steps` + 1 points an optimizer visits, as an array of shape (steps + 1, 2)."""
    x = np.array(x0, dtype=float)
    path = [x.copy()]
    for _ in range(steps):
        opt.step(x, grad(x), fun(x))
        path.append(x.copy())
    return np.array(path)


def minus_grad_q(X, Y):
    """The vector field -grad q on a grid."""
    return -16.0 * X, -Y


def overview(paths, r_sgd, r_nag, path):
    """One figure with the two quadratic runs and the Rosenbrock runs side by side; return its path."""
    fig = plotting.figure(figsize=(13, 4.2))
    axes = fig.subplots(1, 3)
    gx, gy = np.meshgrid(np.linspace(-0.1, 1.1, 15), np.linspace(-0.1, 1.1, 15))
    u, v = minus_grad_q(gx, gy)
    norm = np.hypot(u, v)
    for ax, (scale, (sgd, nag)) in zip(axes, paths.items()):
        ax.quiver(gx, gy, u / norm, v / norm, color="0.75", width=0.003)
        ax.scatter(sgd[:, 0], sgd[:, 1], s=12, color="tab:red", alpha=0.15, label=f"SGD(lr={0.001 * scale:g})")
        ax.scatter(nag[:, 0], nag[:, 1], s=12, color="tab:blue", alpha=0.15,
                   label=f"NaGD(alpha={0.007 * scale:g})")
        ax.set(title=f"q = 8x² + y²/2, first {len(sgd) - 1} iterates", xlabel="x", ylabel="y",
               xlim=(-0.1, 1.1), ylim=(-0.1, 1.1))
        ax.legend(loc="upper left", fontsize=8)
    ax = axes[2]
    X, Y = np.meshgrid(np.linspace(-3.5, 2, 200), np.linspace(-5, 10, 200))
    ax.contour(X, Y, np.log10((1 - X) ** 2 + 100 * (Y - X * X) ** 2 + 1e-3), levels=15, colors="0.8",
               linewidths=0.6)
    ax.plot(r_sgd[:, 0], r_sgd[:, 1], ".-", ms=2, lw=0.5, color="tab:red", label="SGD(lr=0.0003945)")
    ax.plot(r_nag[:, 0], r_nag[:, 1], ".-", ms=2, lw=0.5, color="tab:blue", label="NaGD(alpha=1.6)")
    ax.plot([1], [1], "k*", ms=10)
    ax.set(title=f"Rosenbrock from (-3, -4), {len(r_sgd) - 1} steps", xlabel="x", ylabel="y")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return plotting.save(fig, path, dpi=90)


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
    n_r = 1000 if args.quick else 20000
    q, dq = problems.quadratic, problems.quadratic_grad
    r, dr = problems.rosenbrock, problems.rosenbrock_grad

    # Figure 1: the paper's small hyperparameters; Figure 2: the same times 10.
    paths, figures = {}, []
    for figure, scale in ((1, 1), (2, 10)):
        lr, alpha = 0.001 * scale, 0.007 * scale
        sgd = iterates(SGD(lr=lr), q, dq, (1.0, 1.0), n_q)
        nag = iterates(NaGD(alpha=alpha), q, dq, (1.0, 1.0), n_q)
        paths[scale] = (sgd, nag)
        figures.append(plotting.vector_field_trajectories(
            minus_grad_q,
            [(sgd[:, 0], sgd[:, 1], "tab:red", f"SGD(lr={lr:g})"),
             (nag[:, 0], nag[:, 1], "tab:blue", f"NaGD(alpha={alpha:g})")],
            os.path.join(out, f"figure{figure}.png"), title=f"q = 8x² + y²/2: first {n_q} iterates"))

    # Rosenbrock: the best SGD learning rate of the paper's Table 2, and NaGD(alpha=1.6).
    r_sgd = iterates(SGD(lr=0.0003945), r, dr, (-3.0, -4.0), n_r)
    r_nag = iterates(NaGD(alpha=1.6), r, dr, (-3.0, -4.0), n_r)
    figures.append(overview(paths, r_sgd, r_nag, os.path.join(out, "trajectories.png")))

    final = (float(r(r_sgd[-1])), float(r(r_nag[-1])))
    print(f"Rosenbrock after {n_r} steps: SGD f = {final[0]:.3g}, NaGD f = {final[1]:.3g}")
    print(f"figures written to {out}")
    return {"rosenbrock_final": final, "paths": paths, "figures": figures}


if __name__ == "__main__":
    main()
