"""Section 2: simple functions (Tables 1 and 2, Figures 1-3).

Standard gradient descent (SGD, fixed learning rate ``eta``) against norm-adapted
descent (NaSGD, ``lr = min(1, alpha*f/|g|^2)``, lower bound 0) on the quadratic
``q(x, y) = 8x^2 + y^2/2`` from (1, 1) (Table 1) and the Rosenbrock function from
(-3, -4) (Table 2).

Counting
    ``x_0`` is step 1 (the paper's counting): "steps to reach t" is ``k + 1`` for
    the first iterate ``x_k`` with ``f(x_k) <= t``. A run stops when the last
    threshold is reached, when ``f`` is not finite or exceeds 1e20 (diverged: the
    paper's up arrow; parameters became large) or after ``maxiter`` steps.
Arithmetic (`PRECISIONS`)
    Each row is run in three precisions. In all of them ``f`` and the gradient are
    computed in the iterate's dtype (`nagd.problems`: float32 input, float32 rounding at
    every operation).

    ``"float64"``
        Everything in float64.
    ``"float32"``
        The iterate is stored in float32; the step ``x - lr*g`` (and NaSGD's ``lr``, from
        ``|g|^2`` summed in float64) is computed in float64 and rounded once, as the
        library's optimizers do (`nagd.kernels`).
    ``"float32-all"``
        Every operation in float32: ``lr`` (SGD's ``eta`` rounded to float32, or
        ``min(1, alpha*f/|g|^2)`` with ``|g|^2`` summed in float32 in index order) and
        ``x - lr*g``. This is the paper's arithmetic: it reproduces every SGD row of both
        tables exactly (Table 2's SGD(0.0003945) reaches 1e-6 at step 13633; 13626 in
        ``"float32"``, 13630 in float64).

    The precision policy: both tables compare ``"float32-all"`` to the paper and show the
    other two beside it. NaSGD rows are chaotic (a change of the last bit changes the
    step counts), so they are also reported as distributions over nudged starting points.
Loops and times
    *compiled*: the whole loop in Numba (`nagd.kernels` steps on `nagd.problems`), one
    call from Python per run (its few microseconds of call overhead included).
    *Python*: what a user writes: for NaSGD ``scipy.optimize.minimize(..., method=nagd,
    callback=...)`` with ``tol`` = the last threshold (its callback records ``f`` per
    iterate); for SGD a Python loop calling ``fun``, ``jac`` and ``nagd.optim.SGD.step``.
    Both time the run to the last threshold in float64 (median of repeats); every row
    is scaled to the first row, the paper's best SGD run. Both loops must give the same
    step counts (checked in each run).
Search
    Best SGD learning rate: the fewest steps to the last threshold over ``lr_grid``
    (log-spaced) then over ``refine`` points spaced linearly between the best point's
    neighbours; best NaSGD alpha: the same over ``alpha_grid`` (linear). Ties go to the
    smaller value. Runs in the table's dtype; a candidate is stopped as soon as it
    needs more steps than the best so far.
Random alpha
    ``alpha ~ U[0.2, 2]`` over ``runs * trials`` trials (2000), each run with its own
    seed; the table shows the mean steps over trials. The compiled loop is timed on
    every trial, the Python loop (slow: ~10 ms per Rosenbrock trial) only on the first
    ``python_trials`` trials of each run; ms/run is the median time per step times the
    mean steps of all trials.
"""
import math
import os
import time

import numpy as np
from numba import njit

from .. import kernels, problems
from ..optim import SGD, NaGD
from . import published
from . import report as rep

__all__ = ["CONFIGS", "QUICK", "TARGETS", "PUBLISHED", "run", "report", "descend", "python_descend"]

PUBLISHED = {"table1": published.TABLE1, "table2": published.TABLE2, "figures": published.FIGURES_SECTION2}

SGD_METHOD, NAGD_METHOD = 0, 1
DIVERGED = 1e20
"""A run has diverged when f is not finite or exceeds this."""


def _table_base(table, primary):
    src = PUBLISHED[table]
    return {"version": RESULT_VERSION, "table": table, "problem": src["problem"], "x0": list(src["x0"]),
            "thresholds": list(src["thresholds"]), "primary": primary, "maxiter": 1_000_000}


def _rows(table):
    return [[r["method"], r["h"]] for r in PUBLISHED[table]["rows"] if "trials" not in r]


RESULT_VERSION = 4
"""Part of every config: bump it when run() changes its results, so stored runs are redone."""


def _configs(quick):
    t = {"python_min_s": 0.0 if quick else 0.2, "compiled_min_s": 0.005 if quick else 0.05,
         "python_max_steps": 20_000 if quick else None}
    out = {}
    for table, lr_grid, alpha_grid in (("table1", [1e-3, 0.5, 401], [0.01, 2.0, 200]),
                                       ("table2", [1e-5, 1e-2, 401], [0.01, 2.0, 200])):
        base = _table_base(table, PRIMARY)
        out[f"{table}_rows"] = dict(base, kind="rows", rows=_rows(table), runs=1, **t)
        out[f"{table}_search"] = dict(
            base, kind="search", runs=1, refine=21 if quick else 2001, **t,
            lr_grid=lr_grid[:2] + [21 if quick else lr_grid[2]],
            alpha_grid=alpha_grid[:2] + [20 if quick else alpha_grid[2]],
            boundary_bisections=20 if quick else 60, sweep=21 if quick else 401)
        out[f"{table}_random"] = dict(base, kind="random", alpha_range=[0.2, 2.0],
                                      runs=2 if quick else 20, trials=10 if quick else 100,
                                      python_trials=2 if quick else 10)
        out[f"{table}_nudge"] = dict(base, kind="nudge", rows=[r for r in _rows(table) if r[0] == "nagd"][:2]
                                     + [_rows(table)[0]],
                                     nudges=20 if quick else 300, scale=NUDGE_SCALE, runs=1)
        out[f"{table}_expectation"] = dict(base, kind="expectation", alpha_range=[0.2, 2.0],
                                           points=200 if quick else 20_000, runs=1)
    figs = PUBLISHED["figures"]
    out["fields"] = {"version": RESULT_VERSION, "kind": "fields", "problem": "quadratic", "x0": list(figs["fig1"]["x0"]),
                     "iterates": figs["fig1"]["iterates"],
                     "pairs": [[figs[f]["alpha"], figs[f]["lr"]] for f in ("fig1", "fig2")],
                     "ratio_hyper": [figs["fig3"]["alpha"], figs["fig3"]["lr"]],
                     "ratio_grid": [-1.0, 1.0, -1.0, 1.0, 11 if quick else 21], "runs": 1}
    return out


PRIMARY = "float32-all"
"""The precision both tables compare to the paper (the paper's arithmetic; see the module docstring)."""
NUDGE_SCALE = {"float64": 1e-12, "float32-all": 1e-6}
"""Relative size of the nudges to x0 per precision: ``x0 * (1 + scale * u)``, u ~ U(-1, 1) per
coordinate. 1e-12 is below a float32 ulp (6e-8), so float32 runs are nudged by 1e-6 (a few ulps)."""


CONFIGS = _configs(quick=False)
QUICK = _configs(quick=True)
TARGETS = {
    "table1": ["table1_rows", "table1_search", "table1_random", "table1_nudge", "table1_expectation"],
    "table2": ["table2_rows", "table2_search", "table2_random", "table2_nudge", "table2_expectation"],
    "fields": ["fields"],
}


# ----------------------------------------------------------------------------------------------
# The loops


PRECISIONS = ("float64", "float32", "float32-all")
"""The arithmetic of a run: see the module docstring."""

_N_PROBLEMS = len(problems.PROBLEMS)


@njit(cache=True)
def _step_all_float32(x, g, method, h, fx, lower_bound):
    """x <- x - lr*g with every operation in x's dtype (float32: the paper's arithmetic)."""
    T = x.dtype.type
    if method == SGD_METHOD:
        lr = T(h)
    else:
        gg = T(0.0)
        for i in range(g.shape[0]):
            gg += g[i] * g[i]
        lr = T(kernels.polyak_lr(gg, T(fx) - T(lower_bound), T(h), T(1.0), T(0.0)))
        if not (lr > T(0.0)):
            return
    for i in range(x.shape[0]):
        x[i] = x[i] - lr * g[i]


@njit(cache=True)
def descend(pid, x, method, h, lower_bound, thresholds, maxiter, trace, all_float32=False):
    """Run SGD (method 0, lr h) or NaSGD (method 1, alpha h, max_lr 1) from x; changes x and trace.

    Parameters
    ----------
    pid : int
        A problem id of `nagd.problems` (`nagd.problems.Problem.pid`); f and its gradient
        come from `nagd.problems.value` and `nagd.problems.gradient`.
    x : ndarray of shape (n,), float32 or float64
        The starting point; holds the last iterate on return.
    method : int
        0 for SGD, 1 for NaSGD.
    h : float
        SGD's learning rate or NaSGD's alpha.
    lower_bound : float
        The problem's minimum (NaSGD's L).
    thresholds : ndarray of shape (k,), float64
        Decreasing gaps ``f - lower_bound`` to reach.
    maxiter : int
    trace : ndarray of shape (m, n), dtype of x
        Receives the first m iterates (m may be 0).
    all_float32 : bool, default False
        Compute the step in x's dtype (``"float32-all"`` for float32 x) instead of float64
        rounded once; see the module docstring.

    Returns
    -------
    hits : ndarray of shape (k,), int64
        ``hits[j]``: 1-based step of the first iterate with ``f - lower_bound <= thresholds[j]``,
        -1 if never.
    status : int
        0 when every threshold is reached, 1 after maxiter steps (always so with no
        thresholds), 2 diverged (f not finite or above DIVERGED).
    steps : int
        Iterates evaluated.

    Raises
    ------
    ValueError
        If pid is not a problem id of `nagd.problems`.
    """
    if pid < 0 or pid >= _N_PROBLEMS:
        raise ValueError("pid must be a problem id of nagd.problems (Problem.pid)")
    m = thresholds.shape[0]
    hits = np.full(m, -1, np.int64)
    j = 0
    ntrace = trace.shape[0]
    for k in range(maxiter + 1):
        if k < ntrace:
            for i in range(x.shape[0]):
                trace[k, i] = x[i]
        fx = problems.value(pid, x)
        f = fx - lower_bound
        while j < m and f <= thresholds[j]:
            hits[j] = k + 1
            j += 1
        if m > 0 and j == m:
            return hits, 0, k + 1
        if not (f <= DIVERGED):
            return hits, 2, k + 1
        if k == maxiter:
            break
        g = problems.gradient(pid, x)
        if all_float32:
            _step_all_float32(x, g, method, h, fx, lower_bound)
        elif method == SGD_METHOD:
            kernels.axpy(x, g, h)
        else:
            lr = kernels.polyak_lr(kernels.sq_norm(g), f, h, 1.0, 0.0)
            if lr > 0.0:
                kernels.axpy(x, g, lr)
    return hits, 1, maxiter + 1


def python_descend(problem, x0, method, h, thresholds, maxiter):
    """The same run as `descend` at Python level, in float64: the loop a user writes.

    One loop for both methods: ``f = fun(x)``, ``g = jac(x)``, ``opt.step(x, g, f)`` with
    ``opt`` a `nagd.optim.SGD` (lr h) or a `nagd.optim.NaGD` (alpha h, max_lr 1), so their
    times compare like with like.

    Parameters
    ----------
    problem : nagd.problems.Problem
    x0 : array_like of shape (n,)
    method, h, thresholds, maxiter
        As in `descend`.

    Returns
    -------
    hits : list of int
    status : int
        As `descend`.
    steps : int
    """
    fun, jac, L = problem.fun, problem.grad, problem.minimum
    thr = [float(t) for t in thresholds]
    m = len(thr)
    hits = [-1] * m
    j = 0
    x = np.array(x0, dtype=np.float64)
    opt = SGD(lr=h, lower_bound=L) if method == SGD_METHOD else NaGD(alpha=h, lower_bound=L, max_lr=1.0)
    for k in range(maxiter + 1):
        f = fun(x)
        while j < m and f - L <= thr[j]:
            hits[j] = k + 1
            j += 1
        if m and j == m:
            return hits, 0, k + 1
        if not (f - L <= DIVERGED):
            return hits, 2, k + 1
        if k == maxiter:
            break
        opt.step(x, jac(x), f)
    return hits, 1, maxiter + 1


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
    ratio = _speed_ratio(X, Y, alpha, lr)
    out["ratio"] = {"x": X.tolist(), "y": Y.tolist(), "ratio": [[None if not math.isfinite(v) else v for v in row]
                                                                for row in ratio.tolist()]}
    return out


def _speed_ratio(X, Y, alpha, lr):
    """|NaSGD field| * alpha / (|SGD field| * lr) for q: (q/|grad q|^2) * alpha/lr; NaN at the minimum."""
    q = 8.0 * X * X + 0.5 * Y * Y
    gg = 256.0 * X * X + Y * Y
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(gg > 0, q / np.where(gg > 0, gg, 1.0), np.nan) * (alpha / lr)


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


# ----------------------------------------------------------------------------------------------
# Report


def _label(method, h):
    if isinstance(h, (list, tuple)):
        return f"NaSGD(α ~ U[{h[0]:g}, {h[1]:g}])"
    return f"SGD(η = {h:.7g})" if method == "sgd" else f"NaSGD(α = {h:g})"


def _steps_cells(hits, status):
    """Steps per threshold; None where diverged (up arrow) or not reached."""
    return [math.inf if (v < 0 and status == 2) else (None if v < 0 else v) for v in hits]


def _steps_text(values):
    return " ".join(rep.fmt(math.inf if v is None else v) for v in values)


def _mean_random(runs, dtype):
    trials = [t for r in runs for t in r["trials"]]
    n = len(trials[0][dtype]["hits"]) if trials else 0
    means = []
    for j in range(n):
        vals = [t[dtype]["hits"][j] for t in trials if t[dtype]["hits"][j] > 0]
        means.append(float(np.mean(vals)) if len(vals) == len(trials) else None)
    return means, len(trials)


def _precision_cells(r):
    cells = [_steps_cells(r[p]["hits"], r[p]["status"]) for p in PRECISIONS]
    return [" / ".join(rep.fmt(c[j]) for c in cells) for j in range(len(cells[0]))]


def _table(name, runs, out_dir):
    """Markdown for one table; writes <name>.md, <name>.csv and <name>_dtypes.csv."""
    paper = PUBLISHED[name]
    cfg_rows = runs.get(f"{name}_rows")
    if not cfg_rows:
        return ""
    primary = PRIMARY
    others = [p for p in PRECISIONS if p != primary]
    ours = cfg_rows[0]["rows"]
    paper_fixed = [r for r in paper["rows"] if "trials" not in r]
    lines, csv_rows, dtype_rows, notes = [], [], [], []
    base = ours[0]["time"]                      # the paper's best SGD run: the scale
    header = (["row"] + [f"≤ {t:g}" for t in paper["thresholds"]]
              + ["Python ms/run (×)", "Python µs/step (×)", "compiled ms/run (×)", "compiled µs/step (×)",
                 "paper ms/run (×)", "paper µs/step (×)"])

    def time_cells(t, status):
        if status == 2 or t is None:
            return ["—", "—", "—", "—"], [None] * 8
        cells, raw = [], []
        for loop in ("python", "compiled"):
            ms, ms0 = t[f"{loop}_ms"], base[f"{loop}_ms"]
            if ms is None or ms0 is None:
                cells += ["not run", "not run"]
                raw += [None] * 4
                continue
            us = 1e3 * ms / t["steps"]
            us0 = 1e3 * ms0 / base["steps"]
            cells += [f"{rep.fmt(ms)} ({ms / ms0:.2f})", f"{rep.fmt(us)} ({us / us0:.2f})"]
            raw += [ms, ms / ms0, us, us / us0]
        return cells, raw

    def paper_time(p):
        if p["ms_run"][0] is None:
            return ["—", "—"]
        return [f"{p['ms_run'][0]:g} ({p['ms_run'][1]:g})", f"{p['us_step'][0]:g} ({p['us_step'][1]:g})"]

    body = []
    for r, p in zip(ours, paper_fixed):
        label = _label(r["method"], r["h"])
        steps = _steps_cells(r[primary]["hits"], r[primary]["status"])
        cells = [rep.vs_paper(s, math.inf if ps is None else ps) for s, ps in zip(steps, p["steps"])]
        tc, raw = time_cells(r["time"], r[primary]["status"])
        body.append([label] + cells + tc + paper_time(p))
        csv_rows.append([label, "paper row", primary] + steps + list(p["steps"]) + raw)
        match = [s == (math.inf if ps is None else ps) for s, ps in zip(steps, p["steps"])]
        dtype_rows.append([label] + _precision_cells(r)
                          + [" ".join(rep.fmt(math.inf if v is None else v) for v in p["steps"])])
        if r["python"] is None:
            notes.append(f"{label}: the Python loop was not run (quick mode skips runs of more than "
                         f"{QUICK[name + '_rows']['python_max_steps']} steps).")
        elif r["python"]["hits"] != r["float64"]["hits"]:
            notes.append(f"{label}: the Python loop counted {r['python']['hits']}, the compiled loop "
                         f"{r['float64']['hits']} (float64).")
        if not all(match):
            diffs = [abs(a - b) / b for a, b in zip(steps, p["steps"])
                     if a is not None and b is not None and math.isfinite(a)]
            worst = f" (at most {100 * max(diffs):.2f}% off)" if diffs else ""
            notes.append(f"{label} differs from the paper in {primary}: {_steps_text(steps)} vs "
                         f"{_steps_text(p['steps'])}{worst}; "
                         + "; ".join(f"in {o}: {_steps_text(_steps_cells(r[o]['hits'], r[o]['status']))}"
                                     for o in others) + ".")
    search = runs.get(f"{name}_search")
    if search:
        s = search[0]
        for r in s["rows"]:
            label = _label(r["method"], r["h"]) + " (search)"
            steps = _steps_cells(r[primary]["hits"], r[primary]["status"])
            tc, raw = time_cells(r["time"], r[primary]["status"])
            body.append([label] + [rep.fmt(v) for v in steps] + tc + ["—", "—"])
            csv_rows.append([label, "search", primary] + steps + [None] * 5 + raw)
            dtype_rows.append([label] + _precision_cells(r) + ["—"])
    rnd = runs.get(f"{name}_random")
    prand = next(r for r in paper["rows"] if "trials" in r)
    if rnd:
        label = _label("nagd", prand["h"])
        means, n = _mean_random(rnd, primary)
        cells = [rep.vs_paper(m, p) for m, p in zip(means, prand["steps"])]
        trials = [t for r in rnd for t in r["trials"]]
        timed = [t for t in trials if "python_ms" in t]
        # ms/run = median time per step (robust to a busy machine) times the mean steps of all trials
        steps_mean = float(np.mean([t["float64"]["steps"] for t in trials]))
        py_ms = steps_mean * float(np.median([t["python_ms"] / t["python"]["steps"] for t in timed]))
        c_ms = steps_mean * float(np.median([t["compiled_ms"] / t["float64"]["steps"] for t in trials]))
        tc, raw = time_cells({"python_ms": py_ms, "compiled_ms": c_ms, "steps": steps_mean}, 0)
        notes.append(f"{label}: steps and compiled times over all {n} trials; the Python loop ran the first "
                     f"{len(timed) // len(rnd)} trials of each of the {len(rnd)} runs ({len(timed)} trials, "
                     f"same steps as the compiled loop: {all(t['python']['hits'] == t['float64']['hits'] for t in timed)}"
                     f"); ms/run is the median time per step times the mean steps of all trials.")
        body.append([f"{label}, {n} trials"] + cells + tc + paper_time(prand))
        csv_rows.append([label, f"random ({n} trials)", primary] + means + list(prand["steps"]) + raw)
        means_by = [_mean_random(rnd, prec)[0] for prec in PRECISIONS]
        dtype_rows.append([label] + [" / ".join(rep.fmt(m[j]) for m in means_by) for j in range(len(means_by[0]))]
                          + [" ".join(f"{v:g}" for v in prand["steps"])])
        if n != prand["trials"]:
            notes.append(f"The random row averages {n} trials (the paper: {prand['trials']}).")
    table_md = rep.markdown_table(header, body)
    dtype_md = rep.markdown_table(["row"] + [f"≤ {t:g}" for t in paper["thresholds"]] + ["paper"], dtype_rows)
    rep.write_text(f"{out_dir}/{name}.md", table_md)
    rep.write_csv(f"{out_dir}/{name}.csv",
                  ["row", "kind", "dtype"] + [f"steps_{t:g}" for t in paper["thresholds"]]
                  + [f"paper_steps_{t:g}" for t in paper["thresholds"]]
                  + ["python_ms", "python_ms_scaled", "python_us_step", "python_us_step_scaled",
                     "compiled_ms", "compiled_ms_scaled", "compiled_us_step", "compiled_us_step_scaled"],
                  csv_rows)
    rep.write_csv(f"{out_dir}/{name}_dtypes.csv", ["row"] + [f"{t:g}" for t in paper["thresholds"]] + ["paper"],
                  dtype_rows)
    number = name[-1]
    lines.append(f"### Table {number}: {paper['caption']}\n")
    lines.append(f"Steps in {primary} (1-based, `ours (paper, difference)`; ↑ diverged). Times in float64, "
                 "scaled (×) to the first row, the paper's best SGD run; the paper's times are from a 2017 "
                 "MacBook Pro. [Markdown](" + rep.link(out_dir, f"{name}.md") + "), [CSV]("
                 + rep.link(out_dir, f"{name}.csv") + ").\n")
    lines.append(table_md)
    lines.append(f"\nSteps in {' / '.join(PRECISIONS)} ([CSV]({rep.link(out_dir, name + '_dtypes.csv')})): "
                 "the precisions of the module docstring; every SGD row of the paper is exact in float32-all.\n\n")
    lines.append(dtype_md)
    if search:
        s = search[0]
        cfg = CONFIGS[f"{name}_search"]
        lines.append(f"\nSearch ({primary}): SGD lr over {cfg['lr_grid'][2]} log-spaced values in "
                     f"[{cfg['lr_grid'][0]:g}, {cfg['lr_grid'][1]:g}], refined over {cfg['refine']} linear "
                     f"values between the best one's neighbours; NaSGD alpha over {cfg['alpha_grid'][2]} "
                     f"values in [{cfg['alpha_grid'][0]:g}, {cfg['alpha_grid'][1]:g}]; criterion: fewest steps to "
                     f"{paper['thresholds'][-1]:g}. Found lr = {s['lr']:.7g}, alpha = {s['alpha']:.4g}.\n")
    if any("NaSGD" in n and "differs from the paper" in n for n in notes):
        spread = max([abs(a - b) / b for r in ours if r["method"] == "nagd"
                      for a, b in zip(r["float32-all"]["hits"], r["float64"]["hits"]) if a > 0 and b > 0] or [0.0])
        notes.append("NaSGD rows follow Algorithm 1 (L = 0, max_lr = 1, alpha as given). Their step counts "
                     f"depend on rounding: float32-all and float64 differ by up to {100 * spread:.0f}% here, "
                     "and a change of the starting point in its last digits changes them as much (the "
                     "distributions below), so a single count is one draw, not the row's value.")
    if search and search[0].get("boundary"):
        lines.append(_boundary_text(name, search[0], paper))
    if rnd:
        lines.append(_random_text(name, rnd, runs.get(f"{name}_expectation"), prand, out_dir))
    if runs.get(f"{name}_nudge"):
        lines.append(_nudge_text(name, runs[f"{name}_nudge"][0], paper, out_dir))
    lines.append(_timing_text(ours))
    if notes:
        lines.append("\nNotes:\n\n" + "".join(f"- {n}\n" for n in notes))
    return "\n".join(lines) + "\n"


def _boundary_text(name, s, paper):
    b = s["boundary"]
    best = s["rows"][0][PRIMARY]["steps"]
    paper_best = paper["rows"][0]
    sweep = [v for _, v in b["sweep"] if v is not None]
    probes = ", ".join(f"{lr:g}: {('diverges', 'converges', 'neither (oscillates until maxiter)')[(2, 0, 1).index(st)]}"
                       for lr, st in b["status"])
    steps = [v for _, v in b["sweep"]]
    jumps = sum(1 for a, c, d in zip(steps, steps[1:], steps[2:])
                if None not in (a, c, d) and (c - a) * (d - c) < 0)        # changes of direction
    erratic = jumps > len(steps) // 10
    text = (f"\nThe best SGD learning rate: SGD stops converging above lr = {b['converges']:.8g} (bisection in "
            f"{PRIMARY}: reaches the last threshold at {b['converges']:.10g}, not at {b['fails']:.10g}); at the "
            f"paper's lrs near the edge: {probes}. The search's best lr = {s['lr']:.7g} needs {best} steps (the "
            f"paper's best, η = {paper_best['h']:g}: {paper_best['steps'][-1]}).")
    if sweep:
        text += (f" Over {len(b['sweep'])} lrs spaced evenly from 0.999 × the best to the edge the count ranges "
                 f"over {min(sweep)}-{max(sweep)} steps (median {int(np.median(sweep))}; it changes direction "
                 f"{jumps} times)")
        if erratic:
            text += (": near the edge the iterates zig-zag across the valley and the count is an erratic "
                     "function of lr, so the paper's best row is one sample of it"
                     + (" and a finer grid lands on a luckier lr, without contradicting the paper's table."
                        if best < paper_best["steps"][-1] else "."))
        else:
            text += ": the count grows smoothly towards the edge, where the contraction factor reaches 1."
    return text + "\n"


def _random_text(name, rnd, expectation, prand, out_dir):
    trials = [t for r in rnd for t in r["trials"]]
    k = len(prand["steps"])
    points = expectation[0]["points"] if expectation else 0
    rows, csv_rows = [], []
    for j in range(k):
        vals = np.array([t[PRIMARY]["hits"][j] for t in trials if t[PRIMARY]["hits"][j] > 0], dtype=float)
        mean, se = float(vals.mean()), float(vals.std(ddof=1) / math.sqrt(len(vals)))
        e = expectation[0][PRIMARY]["mean"][j] if expectation else None
        halves = expectation[0][PRIMARY]["half_grid_means"] if expectation else None
        err = abs(halves[0][j] - halves[1][j]) / 2 if halves else None
        z = (mean - e) / se if e is not None and se > 0 else None
        zp = (prand["steps"][j] - e) / se if e is not None and se > 0 else None
        rows.append([f"≤ {PUBLISHED[name]['thresholds'][j]:g}", f"{mean:.2f} ± {se:.2f} ({len(vals)})",
                     rep.fmt(e), rep.fmt(err), "—" if z is None else f"{z:+.2f}", f"{prand['steps'][j]:g}",
                     "—" if zp is None else f"{zp:+.2f}"])
        csv_rows.append([PUBLISHED[name]["thresholds"][j], mean, se, len(vals), e, err, z, prand["steps"][j], zp])
    rep.write_csv(f"{out_dir}/{name}_random.csv", ["threshold", "mean", "se", "trials", "expectation",
                  "quadrature_error", "z", "paper", "paper_z"], csv_rows)
    return ("\nRandom alpha ~ U[0.2, 2], " + PRIMARY + ": mean ± standard error over the trials, the exact "
            f"expectation (midpoint rule over {points} evenly spaced alphas; error: half the difference of "
            "its two interleaved half grids), and z = (mean - expectation)/SE for our mean and the paper's "
            f"([CSV]({rep.link(out_dir, name + '_random.csv')})). |z| up to about 2 is sampling noise.\n\n"
            + rep.markdown_table(["threshold", "mean ± SE (trials)", "expectation", "quadrature error", "z",
                                  "paper", "paper's z"], rows) + "\n")


def _percentile(values, v):
    values = np.asarray(values, dtype=float)
    return 100.0 * (np.sum(values < v) + 0.5 * np.sum(values == v)) / len(values)


def _nudge_text(name, res, paper, out_dir):
    cfg = CONFIGS[f"{name}_nudge"]
    thresholds = paper["thresholds"]
    rows, csv_rows = [], []
    for r in res["rows"]:
        p = next((q for q in paper["rows"] if q["method"] == r["method"] and q["h"] == r["h"]), None)
        for prec in cfg["scale"]:
            cells = []
            hits = r[prec]["hits"]
            for j in range(len(thresholds)):
                vals = [h[j] for h in hits if h[j] is not None]
                if len(vals) < len(hits):
                    cells.append(f"{len(hits) - len(vals)} not reached")
                    continue
                lo, med, hi = np.percentile(vals, [5, 50, 95])
                pct = _percentile(vals, p["steps"][j]) if p and p["steps"][j] is not None else None
                cells.append(f"{med:g} [{lo:g}, {hi:g}]" + (f", paper {p['steps'][j]} at {pct:.0f}%" if pct is not None
                                                             else ""))
                csv_rows.append([_label(r["method"], r["h"]), prec, thresholds[j], med, lo, hi,
                                 r[prec]["unperturbed"][j], None if p is None else p["steps"][j], pct])
            rows.append([_label(r["method"], r["h"]), prec] + cells
                        + [" ".join(rep.fmt(v) for v in r[prec]["unperturbed"])])
    rep.write_csv(f"{out_dir}/{name}_nudge.csv", ["row", "precision", "threshold", "median", "p5", "p95",
                  "unperturbed", "paper", "paper_percentile"], csv_rows)
    scales = ", ".join(f"{s:g} in {prec}" for prec, s in cfg["scale"].items())
    n = len(res["rows"][0][next(iter(cfg["scale"]))]["hits"])
    return (f"\nDistributions over {n} nudged starting points x0 · (1 + s·u), u ~ U(-1, 1) per "
            f"coordinate (s = {scales}; a 1e-12 nudge is below float32's resolution): median [5%, 95%] of the "
            "steps to each threshold and the percentile of the paper's count among them; last column: the "
            f"unperturbed run ([CSV]({rep.link(out_dir, name + '_nudge.csv')})). SGD is not sensitive to the "
            "nudges; NaSGD is.\n\n"
            + rep.markdown_table(["row", "precision"] + [f"≤ {t:g}" for t in thresholds] + ["unperturbed"], rows)
            + "\n")


def _timing_text(ours):
    """The paper's timing claims (a NaSGD step costs 50-65% more; runs are 10-70% faster), in both loops."""
    base = ours[0]
    out = []
    for loop in ("python", "compiled"):
        ms0 = base["time"][f"{loop}_ms"]
        if ms0 is None:
            continue
        us0 = ms0 / base["time"]["steps"]
        step, run = [], []
        for r in ours:
            t = r["time"]
            if r["method"] != "nagd" or t[f"{loop}_ms"] is None or r["float64"]["status"] != 0:
                continue
            step.append(100 * (t[f"{loop}_ms"] / t["steps"] / us0 - 1))
            run.append(100 * (1 - t[f"{loop}_ms"] / ms0))
        if step:
            out.append(f"{loop} loop: a NaSGD step costs {min(step):+.0f}% to {max(step):+.0f}% against the best "
                       f"SGD run's, and NaSGD's runs take {min(run):.0f}% to {max(run):.0f}% less time")
    if not out:
        return ""
    loads = [r["time"].get("load") for r in ours if r["time"].get("load") is not None]
    load = (f" (1-minute load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores while timing: "
            "on a loaded machine these ratios are noisy)") if loads else ""
    return ("\nThe paper's timing claims (a NaSGD step takes 50-65% longer than an SGD step; runs take 10-70% "
            "less time), measured with both methods in the same loop (the Python loop calls `nagd.optim.SGD` "
            "or `nagd.optim.NaGD` step by step; the compiled loop is `descend`), float64, this machine" + load + ": "
            + "; ".join(out) + ".\n")


def report(runs, out_dir):
    """Write Tables 1-2 (Markdown, CSV) and Figures 1-3 (PNG) into out_dir; return the Markdown.

    Parameters
    ----------
    runs : dict
        ``{config_name: [result, ...]}`` of stored runs (any subset of `CONFIGS`).
    out_dir : str
        Folder for the files.

    Returns
    -------
    str
    """
    parts = [_table("table1", runs, out_dir), _table("table2", runs, out_dir)]
    if runs.get("fields"):
        parts.append(_figures(runs["fields"][0], out_dir))
    return "\n".join(p for p in parts if p)


def _figures(res, out_dir):
    from . import plotting

    def field(X, Y):
        return -16.0 * X, -Y

    figs = PUBLISHED["figures"]
    md = ["### Figures 1-3: vector fields\n"]
    for number, pair in zip((1, 2), res["trajectories"]):
        n = len(pair["nagd"][0])
        plotting.vector_field_trajectories(
            field, [(pair["sgd"][0], pair["sgd"][1], plotting.SGD_COLOR, f"SGD(η = {pair['lr']:g})"),
                    (pair["nagd"][0], pair["nagd"][1], plotting.NASGD_COLOR, f"NaSGD(α = {pair['alpha']:g})")],
            f"{out_dir}/fig{number}.png", extent=(-0.15, 1.1, -0.15, 1.1),
            marker_alpha=0.05 if number == 1 else 0.3,      # Figure 2's iterates are sparse: darker circles
            title=f"Figure {number}: -grad q and the first {n} iterates from (1, 1)")
        md.append(f"Figure {number}: the field -grad q with the first {n} iterates of NaSGD(α = {pair['alpha']:g}) "
                  f"(blue) and SGD(η = {pair['lr']:g}) (red) from (1, 1) (paper: α = {figs[f'fig{number}']['alpha']:g}, "
                  f"η = {figs[f'fig{number}']['lr']:g}).\n\n![Figure {number}]({rep.link(out_dir, f'fig{number}.png')})\n")
    r = res["ratio"]
    X, Y = np.array(r["x"]), np.array(r["y"])
    ratio = np.array([[np.nan if v is None else v for v in row] for row in r["ratio"]])
    plotting.speed_ratio_map(X, Y, ratio, f"{out_dir}/fig3.png",
                             title="Figure 3: speed advantage (area ~ ratio of field lengths × α*/η*)")
    a, lr = figs["fig3"]["alpha"], figs["fig3"]["lr"]
    on_x = float(_speed_ratio(np.array(1.0), np.array(0.0), a, lr))
    on_y = float(_speed_ratio(np.array(0.0), np.array(1.0), a, lr))
    md.append(f"Figure 3: ratio of the lengths of the NaSGD field (q/|grad q|) and the SGD field (|grad q|), "
              f"times α*/η* = {a:g}/{lr:g} (Table 1's best). On the x-axis the ratio is {on_x:.2f} "
              f"(SGD {1 / on_x:.1f}× faster; paper: \"about twice as fast\"), on the y-axis {on_y:.2f} "
              f"(NaSGD {on_y:.1f}× faster; paper: \"about eight times\").\n\n"
              f"![Figure 3]({rep.link(out_dir, 'fig3.png')})\n")
    return "\n".join(md)
