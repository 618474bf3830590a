"""The measurements of a run (`run`): rows with their times, the searches and the boundary of SGD's
learning rate, nudged starting points, the expectation over alpha, random alphas, the vector fields."""
import math
import os
import time

import numpy as np

from ... import problems
from .loops import NAGD_METHOD, PRECISIONS, SGD_METHOD, descend, python_descend

__all__ = ["run"]


# ----------------------------------------------------------------------------------------------
# Pieces of a run


def _compiled(problem, x0, method, h, thresholds, maxiter, precision):
    """One compiled run in a precision of `PRECISIONS` (a dtype name: float64 or float32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    dtype = np.float64 if precision == "float64" else np.float32
    x = np.array(x0, dtype=dtype)
    hits, status, steps = descend(problem.pid, x, method, float(h), problem.minimum,
                                  np.asarray(thresholds, dtype=np.float64), int(maxiter),
                                  np.empty((0, x.shape[0]), dtype=dtype), precision == "float32-all")
    return [int(v) for v in hits], int(status), int(steps)


def _load():
    """The machine's 1-minute load average when the times were taken (None where unknown)."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def _median_time(fn, min_s, max_reps=1000):
    """Median wall time of fn() over repeats lasting at least min_s in total (>= 1 repeat)."""
    times = []
    total = 0.0
    while True:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        times.append(dt)
        total += dt
        if total >= min_s or len(times) >= max_reps:
            return float(np.median(times))


def _method(name):
    return SGD_METHOD if name == "sgd" else NAGD_METHOD


def _row(config, problem, method_name, h):
    """Steps in both dtypes, and times of both loops (float64)."""
    method = _method(method_name)
    x0, thr, maxiter = config["x0"], config["thresholds"], config["maxiter"]
    out = {"method": method_name, "h": h}
    for precision in PRECISIONS:
        hits, status, steps = _compiled(problem, x0, method, h, thr, maxiter, precision)
        out[precision] = {"hits": hits, "status": status, "steps": steps}
    compiled_s = _median_time(lambda: _compiled(problem, x0, method, h, thr, maxiter, "float64"),
                              config["compiled_min_s"])
    out["time"] = {"compiled_ms": 1e3 * compiled_s, "python_ms": None, "steps": out["float64"]["steps"],
                   "load": _load()}
    out["python"] = None
    limit = config.get("python_max_steps")
    if limit is None or out["float64"]["steps"] <= limit:      # quick mode skips the long Python runs
        python_descend(problem, x0, method, h, thr, 1)             # warm up (imports, compilation)
        py = {}

        def python_run():
            py["hits"], py["status"], py["steps"] = python_descend(problem, x0, method, h, thr, maxiter)

        out["time"]["python_ms"] = 1e3 * _median_time(python_run, config["python_min_s"])
        out["python"] = py
    return out


def _search(config, problem):
    """Best SGD lr and NaSGD alpha on the grids of the config (see the module docstring)."""
    x0, thr, dtype = config["x0"], config["thresholds"], config["primary"]

    def best_of(method, candidates, best=None):
        # largest first: large steps diverge or converge fast, and the best so far bounds the rest
        for h in sorted((float(c) for c in candidates), reverse=True):
            limit = config["maxiter"] if best is None else best[0][0]
            hits, status, steps = _compiled(problem, x0, method, h, thr, limit, dtype)
            key = (steps, sum(hits), h)
            if status == 0 and (best is None or key < best[0]):
                best = (key, h)
        return best

    lo, hi, n = config["lr_grid"]
    grid = np.geomspace(lo, hi, int(n))
    best = best_of(SGD_METHOD, grid)
    i = int(np.argmin(np.abs(grid - best[1])))
    fine = np.linspace(grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)], int(config["refine"]))
    best_lr = best_of(SGD_METHOD, fine, best)[1]
    lo, hi, n = config["alpha_grid"]
    best_alpha = best_of(NAGD_METHOD, np.linspace(lo, hi, int(n)))[1]
    return {"lr": best_lr, "alpha": best_alpha, "boundary": _boundary(config, problem, grid, best_lr),
            "rows": [_row(config, problem, "sgd", best_lr), _row(config, problem, "nagd", best_alpha)]}


def _boundary(config, problem, grid, best_lr):
    """Where SGD stops converging (bisection in the table's precision), and steps near it.

    Returns ``{"converges": lr, "fails": lr}`` (the bracket after bisection: the largest lr
    seen to reach the last threshold, the smallest seen not to, by diverging or oscillating
    until maxiter), ``"status"`` (`descend`'s) at the paper's lrs near the edge, and
    ``"sweep"``: steps to the last threshold over lrs spaced linearly from 0.999 * best_lr to
    the bracket's lower end.
    """
    x0, thr, prec, maxiter = config["x0"], config["thresholds"], config["primary"], config["maxiter"]

    def status(lr):
        return _compiled(problem, x0, SGD_METHOD, lr, thr, maxiter, prec)[1]

    lo = float(best_lr)
    hi = next((float(g) for g in grid if g > lo and status(float(g)) != 0), None)
    if hi is None:
        return None
    for _ in range(int(config["boundary_bisections"])):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if status(mid) != 0:
            hi = mid
        else:
            lo = mid
    probes = {"table1": [0.1156, 0.125], "table2": [0.0003945, 0.00039475, 0.0003948]}.get(config["table"], [])
    sweep = []
    for lr in np.linspace(0.999 * best_lr, lo, int(config["sweep"])):
        hits, st, steps = _compiled(problem, x0, SGD_METHOD, float(lr), thr, maxiter, prec)
        sweep.append([float(lr), int(steps) if st == 0 else None])
    return {"converges": lo, "fails": hi, "status": [[p, int(status(p))] for p in probes], "sweep": sweep}


def _nudge(config, problem, seed):
    """Each row from ``nudges`` starting points x0 * (1 + scale * u), u ~ U(-1, 1), per precision."""
    rng = np.random.default_rng(seed)
    x0 = np.array(config["x0"], dtype=np.float64)
    thr, maxiter = config["thresholds"], config["maxiter"]
    u = rng.uniform(-1.0, 1.0, size=(int(config["nudges"]), x0.shape[0]))
    out = []
    for method_name, h in config["rows"]:
        method = _method(method_name)
        row = {"method": method_name, "h": h}
        for prec, scale in config["scale"].items():
            hits = []
            for ui in u:
                start = x0 * (1.0 + scale * ui)
                h_, st, _ = _compiled(problem, start, method, h, thr, maxiter, prec)
                hits.append([v if v > 0 else None for v in h_] if st == 0 else [None] * len(thr))
            row[prec] = {"unperturbed": _compiled(problem, x0, method, h, thr, maxiter, prec)[0], "hits": hits}
        out.append(row)
    return {"rows": out}


def _expectation(config, problem):
    """E[steps] for alpha ~ U[lo, hi]: midpoint rule with ``points`` nodes, per precision.

    Steps are piecewise constant in alpha (and chaotic on Rosenbrock), so the rule is a
    mean over a fine uniform grid; the means over its two interleaved half grids show its error.
    """
    lo, hi = config["alpha_range"]
    n = int(config["points"])
    alphas = lo + (np.arange(n) + 0.5) * (hi - lo) / n
    x0, thr, maxiter = config["x0"], config["thresholds"], config["maxiter"]
    out = {"points": n}
    for prec in PRECISIONS:
        hits = np.array([_compiled(problem, x0, NAGD_METHOD, float(a), thr, maxiter, prec)[0] for a in alphas],
                        dtype=float)
        hits[hits < 0] = np.nan
        out[prec] = {"mean": [None if not math.isfinite(v) else float(v) for v in hits.mean(axis=0)],
                     "half_grid_means": [[None if not math.isfinite(v) else float(v) for v in hits[k::2].mean(axis=0)]
                                         for k in (0, 1)],
                     "unreached": int(np.isnan(hits).any(axis=1).sum())}
    return out


def _random(config, problem, seed):
    rng = np.random.default_rng(seed)
    lo, hi = config["alpha_range"]
    alphas = rng.uniform(lo, hi, size=int(config["trials"]))
    x0, thr, maxiter = config["x0"], config["thresholds"], config["maxiter"]
    trials = []
    python_descend(problem, x0, NAGD_METHOD, 1.0, thr, 1)          # warm up (imports, compilation)
    for a in alphas:
        a = float(a)
        t = {"alpha": a}
        for precision in PRECISIONS:
            hits, status, steps = _compiled(problem, x0, NAGD_METHOD, a, thr, maxiter, precision)
            t[precision] = {"hits": hits, "status": status, "steps": steps}
        if len(trials) < config["python_trials"]:          # the first few trials, also in Python
            t0 = time.perf_counter()
            hits, status, steps = python_descend(problem, x0, NAGD_METHOD, a, thr, maxiter)
            t["python_ms"] = 1e3 * (time.perf_counter() - t0)
            t["python"] = {"hits": hits, "status": status, "steps": steps}
        trials.append(t)
    for t in trials:                                    # timed apart from the step counts above
        t0 = time.perf_counter()
        _compiled(problem, x0, NAGD_METHOD, t["alpha"], thr, maxiter, "float64")
        t["compiled_ms"] = 1e3 * (time.perf_counter() - t0)
    return {"trials": trials}


def _fields(config):
    problem = problems.get(config["problem"])
    n = int(config["iterates"])
    out = {"trajectories": []}
    for alpha, lr in config["pairs"]:
        pair = {"alpha": alpha, "lr": lr}
        for name, method, h in (("nagd", NAGD_METHOD, alpha), ("sgd", SGD_METHOD, lr)):
            x = np.array(config["x0"], dtype=np.float64)
            trace = np.full((n, 2), np.nan)
            descend(problem.pid, x, method, float(h), problem.minimum, np.empty(0), n - 1, trace)
            pair[name] = [trace[:, 0].tolist(), trace[:, 1].tolist()]
        out["trajectories"].append(pair)
    xmin, xmax, ymin, ymax, m = config["ratio_grid"]
    X, Y = np.meshgrid(np.linspace(xmin, xmax, int(m)), np.linspace(ymin, ymax, int(m)))
    alpha, lr = config["ratio_hyper"]
    ratio = _speed_ratio(X, Y, alpha, lr, problem)
    out["ratio"] = {"x": X.tolist(), "y": Y.tolist(), "ratio": [[None if not math.isfinite(v) else v for v in row]
                                                                for row in ratio.tolist()]}
    return out


def _on_grid(problem, X, Y):
    """f and grad f of a 2-D `nagd.problems` problem at the points (X, Y), in float64.

    Returns ``(f, U, V)``, arrays of the shape of ``X`` and ``Y``: the value and the two
    components of the gradient, from the problem's own ``fun`` and ``grad``.
    """
    X, Y = np.broadcast_arrays(np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64))
    f, U, V = np.empty(X.shape), np.empty(X.shape), np.empty(X.shape)
    for i in np.ndindex(X.shape):
        x = np.array([X[i], Y[i]])
        f[i] = problem.fun(x)
        U[i], V[i] = problem.grad(x)
    return f, U, V


def _speed_ratio(X, Y, alpha, lr, problem=problems.get("quadratic")):
    """|NaSGD field| * alpha / (|SGD field| * lr): (f/|grad f|^2) * alpha/lr; NaN at the minimum.

    ``f`` is ``problem`` (`nagd.problems`), q of Figure 3 by default, on the points (X, Y).
    """
    f, U, V = _on_grid(problem, X, Y)
    gg = U * U + V * V
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(gg > 0, f / np.where(gg > 0, gg, 1.0), np.nan) * (alpha / lr)


def run(config, seed):
    """One run of section 2; see the module docstring. ``seed`` only matters for ``kind="random"``.

    Parameters
    ----------
    config : dict
        A value of `CONFIGS` or `QUICK`.
    seed : int

    Returns
    -------
    dict
        Steps, statuses and times (JSON data).
    """
    kind = config["kind"]
    if kind == "fields":
        return _fields(config)
    problem = problems.get(config["problem"])
    if kind == "rows":
        return {"rows": [_row(config, problem, m, h) for m, h in config["rows"]]}
    if kind == "search":
        return _search(config, problem)
    if kind == "random":
        return _random(config, problem, seed)
    if kind == "nudge":
        return _nudge(config, problem, seed)
    if kind == "expectation":
        return _expectation(config, problem)
    raise ValueError(f"config['kind'] must be rows, search, random, nudge, expectation or fields, got {kind!r}")
