"""Evaluate the Polyak family and the oscillation stopping rule; prints the tables of docs/polyak.md.

Run by hand (not part of the test suite)::

    python benchmarks/eval_polyak.py                      # every target
    python benchmarks/eval_polyak.py polyak_stop          # the stopping rule only
    python benchmarks/eval_polyak.py polyak_layer --quick --out /tmp/polyak --jobs 2

Targets (`nagd.experiments.polyak_eval.TARGETS`): ``polyak`` (every variant on the
section-2 functions, the layer-matching task and the MNIST sample), its parts
``polyak_simple``, ``polyak_layer``, ``polyak_mnist``, and ``polyak_stop`` (the
stopping rule, steps saved against final loss). Runs go through
`nagd.experiments.runner`: stored under ``--out`` as they finish, skipped when
already there, on ``--jobs`` worker processes.
"""
import argparse
import os
import sys
import time

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")            # one thread per run: small kernels thrash with more

from nagd.experiments import runner

MODULE = "nagd.experiments.polyak_eval"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("targets", nargs="*", default=["polyak", "polyak_stop"])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="results-polyak")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    sections = runner.load_sections([MODULE])
    module = sections["polyak_eval"]
    tasks = runner.plan(sections, args.targets, quick=args.quick, base_seed=args.seed)
    t0 = time.perf_counter()
    res = runner.run_suite(tasks, args.out, jobs=args.jobs, desc="polyak runs")
    for task, tb in res.failures:
        print(f"run {task.name} #{task.index} failed:\n{tb}", file=sys.stderr)
    wanted = {t.name for t in tasks}
    runs = {}
    for rec in runner.load_runs(args.out, "polyak_eval"):
        if rec["name"] in wanted and rec["quick"] == args.quick and rec.get("base_seed", 0) == args.seed:
            runs.setdefault(rec["name"], []).append(runner.Run.from_record(rec))
    print(module.report(runs, args.out))
    print(f"({len(res.done)} runs done, {len(res.skipped)} already stored, {time.perf_counter() - t0:.0f} s)")
    return 1 if res.failures else 0


if __name__ == "__main__":
    sys.exit(main())
