"""When to use nagd: nagd beside scipy's methods on the problems scipy users bring.

Every problem has a known optimal value f* (0 by construction, or from ``linprog``, or from a
tightly converged BFGS run). Each method runs once from the same start with scipy's defaults
(nagd: the options listed in the method column, ``maxiter=10000``, ``lower_bound=f*``, and once
more with ``lower_bound="auto"``, not told f*); the table gives f - f* at the
returned point, the evaluations (calls of fun + calls of jac; finite differences count as calls
of fun), the wall time and the status the method reported.

Usage: python benchmarks/bench_when.py [--repeats R]   (prints a Markdown table)
"""
import argparse
import datetime
import os
import platform
import subprocess
import time

import numpy as np
import scipy
import scipy.optimize as so

import nagd
from nagd import nonsmooth

N = 10


def l1_regression(rng):
    """||Ax - b||_1, A 30 x 10, b = A x_true: consistent, f* = 0."""
    A = rng.standard_normal((30, N))
    b = A @ rng.standard_normal(N)
    fun = lambda x: float(np.abs(A @ x - b).sum())                 # noqa: E731
    jac = lambda x: A.T @ np.sign(A @ x - b)                        # noqa: E731
    lp = dict(c=np.r_[np.zeros(N), np.ones(30)], A_ub=np.block([[A, -np.eye(30)], [-A, -np.eye(30)]]),
              b_ub=np.r_[b, -b], bounds=[(None, None)] * N + [(0, None)] * 30)
    return fun, jac, np.zeros(N), 0.0, lp, {"alpha": 1.0}


def max_affine(rng):
    """max_i (c_i . x + d_i) over 40 affine functions, f* from linprog."""
    C, d = rng.standard_normal((40, N)), rng.standard_normal(40)
    fun = lambda x: float(np.max(C @ x + d))                        # noqa: E731
    jac = lambda x: C[int(np.argmax(C @ x + d))]                    # noqa: E731
    lp = dict(c=np.r_[np.zeros(N), 1.0], A_ub=np.c_[C, -np.ones(40)], b_ub=-d, bounds=[(None, None)] * (N + 1))
    fstar = so.linprog(**lp).fun
    return fun, jac, np.zeros(N), fstar, lp, {"alpha": 1.9}


def feasibility(rng):
    """A point in 20 half-spaces and 3 balls that share x = 0.5: f = largest violation, f* = 0."""
    fun, jac, _ = nonsmooth.feasibility(N, 20, 3, rng, gap=(0.1, 1.0), slack=0.1)
    return fun, jac, np.full(N, 5.0), 0.0, None, {"alpha": 1.0}


def hinge_svm(rng):
    """Mean hinge loss of a linear classifier on 100 separable points: f* = 0."""
    w_true = rng.standard_normal(N)
    X = rng.standard_normal((100, N))
    y = np.sign(X @ w_true)
    X = X + 0.5 * y[:, None] * w_true / np.linalg.norm(w_true)       # a margin
    fun = lambda w: float(np.mean(np.maximum(0.0, 1.0 - y * (X @ w))))   # noqa: E731

    def jac(w):
        active = (1.0 - y * (X @ w)) > 0.0
        return -(X[active].T @ y[active]) / len(y)
    # Feasibility LP: y_i x_i . w >= 1.
    lp = dict(c=np.zeros(N), A_ub=-(y[:, None] * X), b_ub=-np.ones(100), bounds=[(None, None)] * N)
    return fun, jac, np.zeros(N), 0.0, lp, {"alpha": 1.0}


def curve_fit_problem(rng):
    """Noiseless fit of y = a exp(-b t) + c sin(d t) + e on 50 points: f = sum of squares / 2, f* = 0."""
    t = np.linspace(0.0, 4.0, 50)
    true = np.array([2.0, 1.3, 0.5, 2.5, -0.3])

    def model(p):
        return p[0] * np.exp(-p[1] * t) + p[2] * np.sin(p[3] * t) + p[4]

    def dmodel(p):
        e = np.exp(-p[1] * t)
        return np.column_stack([e, -p[0] * t * e, np.sin(p[3] * t), p[2] * t * np.cos(p[3] * t), np.ones_like(t)])

    y = model(true)
    fun = lambda p: 0.5 * float(np.sum((model(p) - y) ** 2))       # noqa: E731
    jac = lambda p: dmodel(p).T @ (model(p) - y)                    # noqa: E731
    lsq = (lambda p: model(p) - y, dmodel)
    return fun, jac, np.array([1.0, 1.0, 1.0, 2.0, 0.0]), 0.0, lsq, {"alpha": 1.9}


def logistic(rng):
    """Logistic regression, 200 x 10, overlapping classes: f* unknown (from BFGS, gtol=1e-12)."""
    A = rng.standard_normal((200, N))
    y = np.where(A @ rng.standard_normal(N) + rng.standard_normal(200) > 0, 1.0, -1.0)
    fun = lambda w: float(np.mean(np.logaddexp(0.0, -y * (A @ w))))    # noqa: E731
    jac = lambda w: -(A.T @ (y * 0.5 * (1.0 + np.tanh(-0.5 * y * (A @ w))))) / len(y)   # noqa: E731
    fstar = so.minimize(fun, np.zeros(N), jac=jac, method="BFGS", options={"gtol": 1e-12}).fun
    return fun, jac, np.zeros(N), fstar, None, {"lower_bound": "auto"}


PROBLEMS = {
    "L1 regression, consistent (f* = 0)": l1_regression,
    "max of 40 affine functions (f* from linprog)": max_affine,
    "feasibility: 20 half-spaces + 3 balls (f* = 0)": feasibility,
    "hinge-loss SVM, separable (f* = 0)": hinge_svm,
    "noiseless curve fit, 5 parameters (f* = 0)": curve_fit_problem,
    "logistic regression (f* unknown)": logistic,
}


def timed(run, repeats):
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t0)
    return out, best


def _status(res):
    return f"{res.status} ({'success' if res.success else 'failure'})"


def rows(name, make, repeats):
    fun, jac, x0, fstar, extra, nagd_options = make(np.random.default_rng(0))
    out = []
    opts = {"maxiter": 10_000, "lower_bound": fstar, **nagd_options}
    label = "nagd (" + ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v:g}"
                                 for k, v in nagd_options.items()) + ")"
    if opts["lower_bound"] == "auto":
        opts["gtol"] = 1e-6
        label = label[:-1] + ", gtol=1e-6)"
    res, t = timed(lambda: so.minimize(fun, x0, jac=jac, method=nagd.nagd, options=opts), repeats)
    out.append((label, res.fun - fstar, res.nfev + res.njev, t, _status(res)))
    if nagd_options.get("lower_bound") != "auto":     # the same without telling it f*
        auto = {"maxiter": 10_000, "lower_bound": "auto"}
        res, t = timed(lambda: so.minimize(fun, x0, jac=jac, method=nagd.nagd, options=auto), repeats)
        out.append(("nagd (lower_bound='auto')", res.fun - fstar, res.nfev + res.njev, t,
                    _status(res)))
    for lb in ((fstar, "auto") if nagd_options.get("lower_bound") != "auto" else ("auto",)):
        bopts = {"maxiter": 10_000, "lower_bound": lb}
        res, t = timed(lambda: so.minimize(fun, x0, jac=jac, method=nagd.bundle, options=bopts), repeats)
        out.append(("bundle (lower_bound='auto')" if lb == "auto" else "bundle", res.fun - fstar,
                    res.nfev + res.njev, t, _status(res)))
    for method in ("BFGS", "L-BFGS-B", "Nelder-Mead", "Powell"):
        kw = {} if method in ("Nelder-Mead", "Powell") else {"jac": jac}
        res, t = timed(lambda: so.minimize(fun, x0, method=method, **kw), repeats)
        evals = res.nfev + res.get("njev", 0)
        out.append((method, res.fun - fstar, evals, t, _status(res)))
    if isinstance(extra, dict):               # an LP formulation
        res, t = timed(lambda: so.linprog(**extra), repeats)
        x = res.x[:N] if res.x is not None else x0
        out.append(("linprog (HiGHS)", fun(x) - fstar, "-", t, _status(res)))
    elif isinstance(extra, tuple):            # least squares
        resid, rjac = extra
        res, t = timed(lambda: so.least_squares(resid, x0, jac=rjac), repeats)
        out.append(("least_squares (TRF)", fun(res.x) - fstar, res.nfev + res.njev, t,
                    _status(res)))
    return out


def machine():
    try:
        info = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or "unknown CPU"
    load = os.getloadavg()
    return (f"{model}, {os.cpu_count()} logical CPUs; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; numpy {np.__version__}, "
            f"scipy {scipy.__version__}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timing: best of R runs")
    args = parser.parse_args(argv)
    print(f"Measured on: {machine()}\n")
    print("| problem | method | f - f* | evaluations | time | status |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for name, make in PROBLEMS.items():
        for i, (method, gap, evals, t, status) in enumerate(rows(name, make, args.repeats)):
            print(f"| {name if i == 0 else ''} | {method} | {gap:.1e} | {evals} | {t * 1e3:.1f} ms | {status} |",
                  flush=True)


if __name__ == "__main__":
    main()
