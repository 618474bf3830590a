"""Core benchmarks, run by hand: ``python benchmarks/bench_core.py [--repeats R] [--quick]``.

Prints Markdown tables (medians over repeats, every figure measured side by side with
its reference in the same run) and writes nothing:

(a) overhead per iteration of ``scipy.optimize.minimize(rosen, x0, jac=rosen_der, method=nagd)``
    beyond the cost of its ``fun``/``jac`` calls, against scipy's BFGS, CG and L-BFGS-B,
    on 2-D and 100-D Rosenbrock;
(b) nanoseconds per step of the compiled whole loop on 2-D Rosenbrock against a plain
    Python/NumPy loop;
(c) one NaGD step (``nagd.optim.NaGD.step``) on 1e6 and 1e7 float32/float64 parameters
    against NumPy's ``p -= lr*g``, a one-pass compiled ``p -= lr*g`` (the floor) and the two-pass
    floor (a compiled pass that only reads g, then the one pass): the step needs ``||g||^2``
    before it can update, so it reads g twice. ``--baseline REV`` adds the step with
    ``nagd.kernels.sq_norm`` as it was at git revision REV, side by side.
"""
import argparse
import os
import platform
import statistics
import time
import timeit

# One BLAS thread: on 2 shared cores a multithreaded BLAS makes BFGS's 100x100 updates spin
# (tens of times slower under load), which would flatter nagd.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import scipy.optimize as so  # noqa: E402
from numba import njit  # noqa: E402

import nagd  # noqa: E402
from nagd._minimize._loops import _compiled_loop, _new_state  # noqa: E402


def median_time(func, repeats, number=1):
    """Median over repeats of the time of `number` calls of func, divided by number."""
    return statistics.median(timeit.repeat(func, repeat=repeats, number=number)) / number


# ---------------------------------------------------------------- (a) per-iteration overhead

def rosen_np(x):
    """Rosenbrock in bare NumPy (scipy's rosen adds array-API dispatch, about 10 us a call)."""
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def rosen_der_np(x):
    d = np.zeros_like(x)
    t = x[1:] - x[:-1] ** 2
    d[:-1] = -400.0 * x[:-1] * t - 2.0 * (1.0 - x[:-1])
    d[1:] += 200.0 * t
    return d


def rosen_py(x):
    """2-D Rosenbrock on Python floats: about a microsecond, so the replay subtracts little noise."""
    a, b = x.tolist()
    return 100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2


def rosen_der_py(x):
    a, b = x.tolist()
    t = b - a * a
    return np.array([-400.0 * a * t - 2.0 * (1.0 - a), 200.0 * t])


def recorded_calls(method, x0, options, fun, jac):
    """The calls a run makes, in order: a list of (fun or jac, point)."""
    calls = []

    def f(x):
        calls.append((fun, np.array(x)))
        return fun(x)

    def g(x):
        calls.append((jac, np.array(x)))
        return jac(x)

    so.minimize(f, x0, jac=g, method=method, options=options)
    return calls


def replay(calls):
    for func, x in calls:
        func(x)


def overhead(method, n, repeats, fun=so.rosen, jac=so.rosen_der):
    """Median over repeats of (run time - time of the same fun/jac calls replayed) / nit, and nit.

    The replay makes the recorded calls (same functions, same points, same order) in a bare
    Python loop, timed right before or after each run (alternately), so both see the same
    machine load.
    """
    x0 = np.array([-3.0, -4.0]) if n == 2 else np.tile([-1.2, 1.0], n // 2)
    if method is nagd.nagd:
        options = {"alpha": 1.0, "tol": 0.0, "gtol": 0.0, "maxiter": 2000}
    elif method == "L-BFGS-B":
        options = {"maxiter": 10_000, "ftol": 0.0, "gtol": 1e-12}
    else:
        options = {"maxiter": 10_000, "gtol": 1e-12}
    calls = recorded_calls(method, x0, options, fun, jac)
    figures = []
    for r in range(repeats):
        for order in ((0, 1) if r % 2 else (1, 0)):     # alternate which goes first
            start = time.perf_counter()
            if order:
                res = so.minimize(fun, x0, jac=jac, method=method, options=options)
                t_run = time.perf_counter() - start
            else:
                replay(calls)
                t_calls = time.perf_counter() - start
        assert res.nfev + res.njev == len(calls)
        figures.append(((t_run - t_calls) / res.nit, res.nit))
    return statistics.median(f for f, _ in figures), statistics.median(k for _, k in figures)


# ---------------------------------------------------------------- (b) compiled whole loop

@njit
def rosen2(x):
    return 100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2


@njit
def rosen2_der(x):
    return np.array([-400.0 * x[0] * (x[1] - x[0] ** 2) - 2.0 * (1.0 - x[0]), 200.0 * (x[1] - x[0] ** 2)])


def python_loop(x, steps, alpha=0.7):
    """The NaGD iteration written as a user would, with scipy's rosen/rosen_der and NumPy."""
    for _ in range(steps):
        f = so.rosen(x)
        g = so.rosen_der(x)
        lr = min(1.0, alpha * f / (g @ g))
        x = x - lr * g
    return x


def compiled_per_step(steps, repeats):
    x0 = np.array([-3.0, -4.0])
    none = np.empty(0)
    args = (rosen2, rosen2_der, x0, (), none, none, _new_state(-1.0, False), 0.7, 1.0, 0.0, 0.0, steps, none)
    status, nit = _compiled_loop(*args)[:2]          # compile; L = -1 keeps it stepping
    assert status == 1 and nit == steps, (status, nit)
    return median_time(lambda: _compiled_loop(*args), repeats) / steps


# ---------------------------------------------------------------- (c) one step on large arrays

@njit(cache=True)
def one_pass(p, g, lr):
    """The floor: p <- p - lr*g in one compiled pass."""
    for i in range(p.shape[0]):
        p[i] -= lr * g[i]


@njit(cache=True, fastmath=True)
def read_pass(g):
    """sum(g**2) in whatever order LLVM likes (fast-math): a pass that only reads g, at memory speed."""
    total = 0.0
    for i in range(g.shape[0]):
        v = np.float64(g[i])
        total += v * v
    return total


def two_pass(p, g, lr):
    """The two-pass floor: read g (`read_pass`), then `one_pass`."""
    one_pass(p, g, lr + 0.0 * read_pass(g))


def baseline_kernels(rev):
    """nagd/kernels.py at git revision rev, imported as a module of its own (from a new temporary directory,
    so compiled afresh)."""
    import importlib.util
    import subprocess
    import tempfile
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(["git", "-C", root, "show", f"{rev}:nagd/kernels.py"], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"--baseline {rev}: {out.stderr.strip()}")
    path = os.path.join(tempfile.mkdtemp(prefix="nagd-baseline-"), "nagd_baseline_kernels.py")
    with open(path, "w") as fh:
        fh.write(out.stdout)
    spec = importlib.util.spec_from_file_location("nagd_baseline_kernels", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def large_step(n, dtype, repeats, base=None):
    """Medians over repeats of each way of taking the step (3 calls each), in turn, the order rotating.

    With base (a kernels module), also NaGD.step with base.sq_norm in place of nagd.kernels.sq_norm.
    """
    rng = np.random.default_rng(0)
    p, g = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    opt, lr = nagd.optim.NaGD(alpha=1e-9), dtype(1e-9)
    own = nagd.kernels.sq_norm

    def numpy_step():
        nonlocal p
        p -= lr * g

    def base_step():
        nagd.kernels.sq_norm = base.sq_norm            # what NaGD.step calls for ||g||^2
        try:
            opt.step(p, g, 1.0)
        finally:
            nagd.kernels.sq_norm = own

    ways = {"nagd": lambda: opt.step(p, g, 1.0), "numpy": numpy_step, "floor": lambda: one_pass(p, g, 1e-9),
            "two_pass": lambda: two_pass(p, g, 1e-9)}
    if base is not None:
        ways["base"] = base_step
        assert base.sq_norm(g) == own(g), "the baseline's sq_norm gives other bits"
    for way in ways.values():
        way()
    results = {k: [] for k in ways}
    names = list(ways)
    for r in range(repeats):                          # interleaved: side by side under the same load
        for k in names[r % len(names):] + names[:r % len(names)]:
            results[k].append(median_time(ways[k], 1, 3))
    return {k: statistics.median(v) for k, v in results.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="few repeats, to check the script runs")
    parser.add_argument("--sections", nargs="+", choices=("a", "b", "c"), default=["a", "b", "c"])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e6, 1e7], help="array sizes of (c)")
    parser.add_argument("--baseline", metavar="REV",
                        help="(c): also the step with nagd.kernels.sq_norm as it was at git revision REV")
    ns = parser.parse_args(argv)
    repeats = 3 if ns.quick else ns.repeats
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {cpu}, {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, SciPy {__import__('scipy').__version__}, "
          f"Numba {__import__('numba').__version__}; medians of {repeats} repeats\n")

    if "a" in ns.sections:
        print("(a) overhead per iteration beyond the fun/jac calls, Rosenbrock, analytic gradient\n")
        print("Overhead per iteration (us) with three implementations of the same function: scipy's "
              "`rosen`/`rosen_der` (about 15 us a call, so the subtraction is noisy), bare NumPy, and "
              "(2-D only) Python floats (about 1 us a call: the most precise figure).\n")
        print("| method | n | iterations | scipy's rosen | bare-NumPy rosen | Python-float rosen |")
        print("| --- | --- | --- | --- | --- | --- |")
        nagd.minimize(so.rosen, [-3.0, -4.0], jac=so.rosen_der, maxiter=10)   # compile the step helper
        for n in (2, 100):
            for name, method in (("nagd", nagd.nagd), ("BFGS", "BFGS"), ("CG", "CG"), ("L-BFGS-B", "L-BFGS-B")):
                per_it, nit = overhead(method, n, repeats)
                per_it_np, _ = overhead(method, n, repeats, rosen_np, rosen_der_np)
                py = f"{overhead(method, n, repeats, rosen_py, rosen_der_py)[0] * 1e6:.2f}" if n == 2 else "-"
                print(f"| {name} | {n} | {nit:.0f} | {per_it * 1e6:.2f} | {per_it_np * 1e6:.2f} | {py} |")

    if "b" in ns.sections:
        steps = 100_000 if ns.quick else 1_000_000
        print("\n(b) one NaGD step on 2-D Rosenbrock (fun, jac and step)\n")
        print("| loop | ns per step | ratio |")
        print("| --- | --- | --- |")
        compiled = compiled_per_step(steps, repeats)
        x0 = np.array([-3.0, -4.0])
        plain = median_time(lambda: python_loop(x0, 2000), repeats) / 2000
        print(f"| compiled whole loop (`_compiled_loop`, jitted rosen) | {compiled * 1e9:.1f} | 1 |")
        print(f"| Python loop, scipy rosen/rosen_der, NumPy | {plain * 1e9:.0f} | {plain / compiled:.0f} |")

    if "c" in ns.sections:
        base = baseline_kernels(ns.baseline) if ns.baseline else None
        print("\n(c) one step on large arrays (ms), and ratios to the one-pass compiled floor\n")
        head = "| n | dtype | NaGD.step | "
        head += f"NaGD.step, sq_norm at {ns.baseline} | " if base else ""
        head += "NumPy `p -= lr*g` | one-pass floor | two-pass floor | NaGD / floor | "
        head += f"at {ns.baseline} / floor | " if base else ""
        head += "two-pass / floor | NumPy / floor |"
        print(head)
        print("|" + " --- |" * (head.count("|") - 1))
        for n in (int(x) for x in ns.sizes):
            for dtype in (np.float32, np.float64):
                r = large_step(n, dtype, repeats, base)
                row = f"| {n:.0e} | {np.dtype(dtype).name} | {r['nagd'] * 1e3:.2f} | "
                row += f"{r['base'] * 1e3:.2f} | " if base else ""
                row += f"{r['numpy'] * 1e3:.2f} | {r['floor'] * 1e3:.2f} | {r['two_pass'] * 1e3:.2f} | "
                row += f"{r['nagd'] / r['floor']:.2f} | "
                row += f"{r['base'] / r['floor']:.2f} | " if base else ""
                row += f"{r['two_pass'] / r['floor']:.2f} | {r['numpy'] / r['floor']:.2f} |"
                print(row)


if __name__ == "__main__":
    main()
