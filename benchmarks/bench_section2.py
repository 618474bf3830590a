"""Time `nagd reproduce table1 table2 fields` (all of section 2, full size) end to end.

Run by hand::

    python benchmarks/bench_section2.py [--repeats 3] [--jobs 2]

Each repeat runs the command into a fresh folder, in a fresh process, so it includes
start-up, the runs, and writing REPORT.md with its figures. The first ("cold") repeat
uses an empty Numba cache folder (``NUMBA_CACHE_DIR``), so it also compiles every
kernel, as a first run after installation does; the others reuse that cache. Then it
times single runs of both loops side by side in this process (median of repeats).
Prints a Markdown section for docs/benchmarks.md.
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def reproduce_once(out, jobs, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    cmd = [sys.executable, "-m", "nagd.experiments.cli", "reproduce", "table1", "table2", "fields",
           "--out", out, "--jobs", str(jobs)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"reproduce failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed


def loops_side_by_side(repeats=7):
    """us/step of the compiled and Python loops for SGD and NaSGD on q and r (float64), one process."""
    from nagd import problems
    from nagd.experiments import simple
    rows = []
    for pname, x0, thr, cases in (
            ("quadratic", [1.0, 1.0], [1e-2, 1e-4, 1e-6, 1e-8, 1e-10], [("sgd", 0.1156), ("nagd", 1.9)]),
            ("rosenbrock", [-3.0, -4.0], [1e2, 1e0, 1e-2, 1e-4, 1e-6], [("sgd", 0.0003945), ("nagd", 1.6)])):
        p = problems.get(pname)
        for method, h in cases:
            m = simple._method(method)
            simple._compiled(p, x0, m, h, thr, 10, "float64")
            simple.python_descend(p, x0, m, h, thr, 10)
            c, py = [], []
            for _ in range(repeats):
                t0 = time.perf_counter()
                _, _, steps = simple._compiled(p, x0, m, h, thr, 1_000_000, "float64")
                c.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                simple.python_descend(p, x0, m, h, thr, 1_000_000)
                py.append(time.perf_counter() - t0)
            rows.append((pname, f"{'SGD' if method == 'sgd' else 'NaSGD'}({h:g})", steps,
                         1e6 * statistics.median(c) / steps, 1e6 * statistics.median(py) / steps))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "numba-cache")
        for i in range(args.repeats):
            t = reproduce_once(os.path.join(tmp, f"out{i}"), args.jobs, cache)
            times.append(t)
            print(f"repeat {i} ({'cold' if i == 0 else 'warm'} Numba cache): {t:.1f} s", file=sys.stderr)
    warm = times[1:] or times
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    print(f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, NumPy {np.__version__}; load average at the end "
          f"{load[0]:.1f} (the machine is shared)")
    print(f"- `nagd reproduce table1 table2 fields --jobs {args.jobs}` (45 runs, REPORT.md, 3 figures): "
          f"cold cache {times[0]:.1f} s; warm cache median {statistics.median(warm):.1f} s over {len(warm)} "
          f"(all: {', '.join(f'{t:.1f}' for t in times)} s)")
    print("\n| problem | method | steps | compiled µs/step | Python µs/step | Python / compiled |")
    print("| --- | --- | --- | --- | --- | --- |")
    for pname, label, steps, c, py in loops_side_by_side():
        print(f"| {pname} | {label} | {steps} | {c:.3f} | {py:.2f} | {py / c:.0f} |")


if __name__ == "__main__":
    main()
