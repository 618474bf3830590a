"""Nonsmooth convex problems with published optimal values: nagd's bundle method against scipy.

Run by hand: ``python benchmarks/bench_nonsmooth.py [--budget 10000] [--large 100 1000] [--overhead]``.

For every problem of `nagd.nonsmooth.LUKSAN_VLCEK` (Lukšan & Vlček 2000, the 16 convex
unconstrained problems, standard starts), and optionally the large-scale convex problems of
Haarala, Miettinen & Mäkelä (2004) at the given n, each method gets ``--budget`` evaluations of f
(a gradient evaluation comes with each f evaluation for the gradient methods). Columns: the
relative accuracy ``r = (f - f*)/(f(x0) - f*)`` of the point the method RETURNS, and the number
of evaluations after which the best value seen reached ``r <= 1e-6`` (``-`` for never). A status
after the ``|`` says how the run ended: ``ok`` success, ``it`` the iteration/evaluation limit,
``nc`` any other non-success. Printed as Markdown tables (docs/when.md quotes them).

``--overhead`` times the bundle method's work per iteration beyond fun/jac (a jitted function
whose cost is measured apart and subtracted), the figures the issue's budget names: n = 100 with
memory 20, n = 1000 with memory 100.
"""
import argparse
import math
import os
import platform
import sys
import time
import warnings

import numpy as np
import scipy.optimize as so

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import nagd  # noqa: E402
from nagd import nonsmooth as ns  # noqa: E402


class _Budget(Exception):
    pass


class Counted:
    """f with a trace of every value and a hard evaluation budget."""

    def __init__(self, problem, budget):
        self.p, self.budget, self.trace = problem, budget, []

    def f(self, x):
        if len(self.trace) >= self.budget:
            raise _Budget
        v = float(self.p.fun(np.ascontiguousarray(x, dtype=np.float64)))
        self.trace.append(v)
        return v

    def g(self, x):
        return self.p.jac(np.ascontiguousarray(x, dtype=np.float64))

    def first_below(self, f0, r):
        target = self.p.fstar + r * (f0 - self.p.fstar)
        hits = np.nonzero(np.asarray(self.trace) <= target)[0]
        return int(hits[0]) + 1 if hits.size else None


def run(method, problem, budget):
    c = Counted(problem, budget)
    x0 = problem.x0.copy()
    ok, fx = None, None
    try:
        if method == "bundle f*":
            res = nagd.minimize(c.f, x0, jac=c.g, method="bundle", lower_bound=problem.fstar, maxiter=budget - 1)
        elif method == "bundle auto":
            res = nagd.minimize(c.f, x0, jac=c.g, method="bundle", lower_bound="auto", maxiter=budget - 1)
        elif method == "nagd f*":
            res = nagd.minimize(c.f, x0, jac=c.g, lower_bound=problem.fstar, maxiter=budget - 1, max_lr=None)
        elif method == "BFGS":
            res = so.minimize(c.f, x0, jac=c.g, method="BFGS", options={"maxiter": budget})
        elif method == "L-BFGS-B":
            res = so.minimize(c.f, x0, jac=c.g, method="L-BFGS-B", options={"maxfun": budget, "maxiter": budget})
        elif method == "Nelder-Mead":
            res = so.minimize(c.f, x0, method="Nelder-Mead", options={"maxfev": budget, "maxiter": budget})
        elif method == "Powell":
            res = so.minimize(c.f, x0, method="Powell", options={"maxfev": budget, "maxiter": budget})
        else:
            raise ValueError(method)
        fx = float(problem.fun(np.asarray(res.x, dtype=np.float64)))
        ok = "ok" if res.success else ("it" if res.status in (1,) else "nc")
    except _Budget:                # the method would have gone on: it returns nothing we can read
        fx, ok = math.nan, "bud"
    f0 = float(problem.fun(problem.x0))
    r = (fx - problem.fstar) / (f0 - problem.fstar) if math.isfinite(fx) else math.nan
    return r, c.first_below(f0, 1e-6), ok


METHODS = ("bundle f*", "bundle auto", "nagd f*", "BFGS", "L-BFGS-B", "Nelder-Mead", "Powell")


def table(problems, budget, methods=METHODS):
    METHODS = methods
    head = "| problem | n | " + " | ".join(METHODS) + " |"
    print(head)
    print("|" + " --- |" * (2 + len(METHODS)))
    counts = {m: [] for m in METHODS}
    solved = {m: 0 for m in METHODS}
    false_success = {m: 0 for m in METHODS}
    for p in problems:
        cells = []
        for m in METHODS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r, ev, ok = run(m, p, budget)
            cells.append(f"{r:.0e} / {ev if ev is not None else '-'} {ok}" if math.isfinite(r) else f"- / "
                         f"{ev if ev is not None else '-'} {ok}")
            if ev is not None:
                counts[m].append(ev)
            if math.isfinite(r) and r <= 1e-6:
                solved[m] += 1
            if ok == "ok" and not (r <= 1e-4):
                false_success[m] += 1
        print(f"| {p.name} | {p.n} | " + " | ".join(cells) + " |", flush=True)
    print()
    print("| | " + " | ".join(METHODS) + " |")
    print("|" + " --- |" * (1 + len(METHODS)))
    print("| returned r <= 1e-6 | " + " | ".join(f"{solved[m]}/{len(problems)}" for m in METHODS) + " |")
    print("| median evaluations to r <= 1e-6 (problems reached) | " + " | ".join(
        f"{int(np.median(counts[m]))} ({len(counts[m])})" if counts[m] else "-" for m in METHODS) + " |")
    print("| 'success' at r > 1e-4 | " + " | ".join(str(false_success[m]) for m in METHODS) + " |")
    print()


def overhead(repeats=5):
    """Seconds per iteration of the bundle method beyond fun/jac, compiled loop, lower_bound=f*."""
    from numba import njit

    @njit
    def f(x):
        return np.max(np.abs(x)) * x.shape[0] - np.sum(np.abs(x)) + np.sum(np.abs(x))

    @njit
    def g(x):
        out = np.zeros_like(x)
        i = np.argmax(np.abs(x))
        out[i] = x.shape[0] * (1.0 if x[i] > 0 else -1.0)
        return out

    print("| n | memory | iterations | total per iteration | fun+jac per call | overhead per iteration |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n, memory in ((100, 20), (1000, 100)):
        x0 = np.linspace(1.0, 2.0, n)
        iters = 300
        nagd.minimize(f, x0, jac=g, method="bundle", memory=memory, maxiter=5, tol=0.0)   # compile
        t_total, t_fg = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            res = nagd.minimize(f, x0, jac=g, method="bundle", memory=memory, maxiter=iters, tol=0.0, gtol=0.0)
            t_total.append((time.perf_counter() - t) / max(res.nit, 1))
            t = time.perf_counter()
            for _ in range(res.nfev):
                f(x0)
                g(x0)
            t_fg.append((time.perf_counter() - t) / res.nfev)
        tot, fg = float(np.median(t_total)), float(np.median(t_fg))
        print(f"| {n} | {memory} | {res.nit} | {tot * 1e6:.1f} us | {fg * 1e6:.1f} us | {(tot - fg) * 1e6:.1f} us |")
    print()


def tune(budget):
    """Solved problems and median evaluations to r <= 1e-6 for alpha and memory choices (docs/when.md)."""
    problems = [_Named(name, p) for name, p in ns.LUKSAN_VLCEK.items()]
    rows = [("nagd", f"alpha={a}", {"alpha": a, "max_lr": None}) for a in (1.0, 1.5, 1.9)]
    for mode in ("f*", "auto"):
        rows += [(f"bundle {mode}", f"alpha={a}", {"alpha": a}) for a in (1.0, 1.5)]
        rows += [(f"bundle {mode}", f"memory={m}", {"memory": m}) for m in (3, 5, 10)]
        rows += [(f"bundle {mode}", "memory=min(2n+2, 50)", {"memory": "2n"})]
    print("| method | setting | returned r <= 1e-6 | median evaluations to r <= 1e-6 (reached) |")
    print("| --- | --- | --- | --- |")
    for method, label, opts in rows:
        solved, counts = 0, []
        for p in problems:
            o = dict(opts)
            if o.get("memory") == "2n":
                o["memory"] = min(2 * p.n + 2, 50)
            c = Counted(p, budget)
            lb = "auto" if method.endswith("auto") else p.fstar
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    res = nagd.minimize(c.f, p.x0.copy(), jac=c.g, method=method.split()[0], lower_bound=lb,
                                        maxiter=budget - 1, **o)
                    fx = float(p.fun(res.x))
                except _Budget:
                    fx = math.nan
            f0 = float(p.fun(p.x0))
            if (fx - p.fstar) / (f0 - p.fstar) <= 1e-6:
                solved += 1
            ev = c.first_below(f0, 1e-6)
            if ev is not None:
                counts.append(ev)
        med = f"{int(np.median(counts))} ({len(counts)})" if counts else "-"
        print(f"| {method} | {label} | {solved}/{len(problems)} | {med} |", flush=True)
    print()


def _cpu():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=int, default=10_000)
    ap.add_argument("--large", type=int, nargs="*", default=[])
    ap.add_argument("--overhead", action="store_true")
    ap.add_argument("--skip-set", action="store_true", help="skip the Lukšan-Vlček table")
    ap.add_argument("--tune", action="store_true", help="alpha and memory choices on the set")
    ap.add_argument("--generated", action="store_true",
                    help="random L1 regressions and maxima of affine functions, f* from linprog")
    ap.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS, metavar="METHOD",
                    help=f"columns to run (default all: {', '.join(METHODS)})")
    a = ap.parse_args(argv)
    import scipy
    print(f"CPU: {_cpu()}; {os.cpu_count()} cores; numpy {np.__version__}; scipy {scipy.__version__}; "
          f"nagd {nagd.__version__}; date {time.strftime('%Y-%m-%d')}; load {os.getloadavg()[0]:.2f}\n")
    if not a.skip_set:
        problems = []
        for name, p in ns.LUKSAN_VLCEK.items():
            problems.append(_Named(name, p))
        print(f"Lukšan-Vlček convex set, budget {a.budget} evaluations; cells: r of the returned point / "
              f"evaluations to r <= 1e-6, and how the run ended\n")
        table(problems, a.budget, a.methods)
    for n in a.large:
        print(f"Large-scale convex problems, n = {n}, budget {a.budget}\n")
        table([_Named(name, ns.large_scale(name, n)) for name in ns.LARGE_SCALE], a.budget, a.methods)
    if a.generated:
        print(f"Random convex piecewise-linear problems (f* from linprog), budget {a.budget}\n")
        table(generated(), a.budget, a.methods)
    if a.tune:
        tune(a.budget)
    if a.overhead:
        overhead()


def generated(seed=1):
    """Convex piecewise-linear problems drawn at random, their f* from `scipy.optimize.linprog`."""
    rng = np.random.default_rng(seed)
    out = []
    for m, n in ((100, 20), (300, 50)):
        A, b = rng.standard_normal((m, n)), rng.standard_normal(m)
        lp = so.linprog(np.r_[np.zeros(n), np.ones(m)], A_ub=np.block([[A, -np.eye(m)], [-A, -np.eye(m)]]),
                        b_ub=np.r_[b, -b], bounds=[(None, None)] * n + [(0, None)] * m)
        out.append(_Generated(f"L1 regression {m}x{n}", n, lp.fun,
                              lambda x, A=A, b=b: float(np.sum(np.abs(A @ x - b))),
                              lambda x, A=A, b=b: A.T @ np.sign(A @ x - b)))
    for m, n in ((200, 30), (500, 100)):
        A, c = rng.standard_normal((m, n)), rng.standard_normal(m)
        lp = so.linprog(np.r_[np.zeros(n), 1.0], A_ub=np.c_[A, -np.ones(m)], b_ub=-c, bounds=[(None, None)] * (n + 1))
        out.append(_Generated(f"max of {m} affine, n={n}", n, lp.fun, lambda x, A=A, c=c: float(np.max(A @ x + c)),
                              lambda x, A=A, c=c: A[int(np.argmax(A @ x + c))].copy()))
    return out


class _Generated:
    def __init__(self, name, n, fstar, fun, jac):
        self.name, self.n, self.fstar, self.fun, self.jac = name, n, float(fstar), fun, jac
        self.x0 = np.zeros(n)


class _Named:
    def __init__(self, name, p):
        self.name, self.p = name, p
        self.n, self.x0, self.fstar, self.fun, self.jac = p.n, p.x0, p.fstar, p.fun, p.jac


if __name__ == "__main__":
    main()
