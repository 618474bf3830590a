"""The ``nagd`` command line.

::

    nagd reproduce TARGET... [--quick] [--out DIR] [--jobs N] [--scheduler ADDRESS] [--seed S]
                   [--runs N] [--epochs N]
    nagd report [--out DIR] [--runs N] [--epochs N]
    nagd list [--out DIR]
    nagd --version

``TARGET`` is a table or figure of the paper (``nagd list`` shows them) or ``all``.
``reproduce`` runs what is not stored yet under ``--out`` (default ``./results``), then writes
``REPORT.md`` there. Exit status: 0 on success, 1 if a run or a report failed or a result could not
be read or stored (one line naming the file; nothing stored is deleted), 2 on a usage error,
128 + N after signal N (Ctrl-C: 130; SIGTERM: 143, the worker processes are shut down first).
"""
import argparse
import os
import sys
import tempfile
import time

from .._validation import positive_int, seconds
from . import report as _report
from . import runner
from .progress import estimate, format_duration, plural, run_times

__all__ = ["main", "build_parser"]


class UsageError(Exception):
    """A one-line command-line error (exit status 2)."""


def _checked(option, check, convert=None, **options):
    """The argparse type of ``option``: ``check(option, value, **options)``, a check of `nagd._validation`.

    ``value`` is ``convert(text)``, or the text itself when there is no ``convert`` or it cannot
    read the text (the check then refuses it, naming it); what the check refuses is argparse's
    error, in the check's words.
    """
    def parse(text):
        value = text
        if convert is not None:
            try:
                value = convert(text)
            except ValueError:
                pass
        try:
            return check(option, value, **options)
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def _positive(option):
    return _checked(option, positive_int, int)


def _seconds(option, zero=False):
    return _checked(option, seconds, zero=zero)


_jobs = _positive("--jobs")
_progress_seconds = _seconds("--progress-every", zero=True)


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"--seed must be a non-negative integer, got {text!r}")
    return value


def _scalable(key):
    """The targets whose section takes ``--KEY N``, comma-separated."""
    sections = runner.load_sections()
    table = runner.targets(sections)
    return ", ".join(t for t, (sname, _) in table.items() if key in getattr(sections[sname], "SCALABLE", ()))


class _HelpFormatter(argparse.HelpFormatter):
    """Fills in the targets of --runs/--epochs only when help is shown (loading the sections takes a second)."""

    def _get_help_string(self, action):
        text = super()._get_help_string(action)
        for key in ("runs", "epochs"):
            marker = f"<targets of --{key}>"
            if marker in text:
                text = text.replace(marker, _scalable(key) or "no target")
        return text


def _add_scale(p):
    p.add_argument("--runs", type=_positive("--runs"), default=None, metavar="N",
                   help="runs (seeds) per configuration instead of the paper's, for the targets: "
                        "<targets of --runs>")
    p.add_argument("--epochs", type=_positive("--epochs"), default=None, metavar="N",
                   help="training epochs instead of the paper's, for the targets: <targets of --epochs>")


def _overrides(args):
    return {k: v for k, v in (("runs", args.runs), ("epochs", args.epochs)) if v is not None}


def _add_out(p):
    p.add_argument("--out", default="results", metavar="DIR",
                   help="results folder: stored runs, tables, figures and REPORT.md (default: ./results)")


def build_parser():
    """Return the argparse parser (one subparser per command)."""
    from .. import __version__
    parser = argparse.ArgumentParser(prog="nagd", description="Reproduce the experiments of "
                                     "'Reparametrizing gradient descent' (norm-adapted gradient descent).")
    parser.add_argument("--version", action="version", version=f"nagd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("reproduce", help="run the experiments of TARGETs (resumable) and write REPORT.md",
                       formatter_class=_HelpFormatter)
    p.add_argument("targets", nargs="+", metavar="TARGET", help="a table or figure (see `nagd list`) or 'all'")
    p.add_argument("--quick", action="store_true", help="cut-down runs that finish in seconds to minutes")
    _add_out(p)
    p.add_argument("--jobs", type=_jobs, default=None, metavar="N",
                   help="local worker processes (default: all cores)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on a Dask cluster, e.g. tcp://HOST:8786 (needs dask.distributed)")
    p.add_argument("--seed", type=_seed, default=0, metavar="S", help="base seed of the suite (default 0)")
    _add_scale(p)
    p.add_argument("--progress-every", type=_progress_seconds, default=30.0, metavar="S",
                   help="where no bar can be shown (output to a pipe or a file, a terminal of 0 columns): "
                        "a progress line when a run finishes at most every S seconds, and every S seconds "
                        "while none does; 0: one line per finished run (default 30)")
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser("report", help="write REPORT.md, tables (Markdown, CSV) and figures from stored runs",
                       formatter_class=_HelpFormatter)
    _add_out(p)
    _add_scale(p)
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("list", help="list the targets (tables and figures), their runs and, from the runs "
                       "stored under --out, an estimate of their time on this machine")
    p.add_argument("--out", default="results", metavar="DIR",
                   help="results folder whose stored run times give the estimates (default: ./results)")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("data", help="data sets: `nagd data fetch mnist` downloads MNIST (sha256-verified)")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    q = dsub.add_parser("fetch", help="download a data set from its mirrors into the data folder, verified")
    q.add_argument("name", choices=("mnist", "fashion-mnist"), help="the data set")
    q.add_argument("--data-home", default=None, metavar="DIR",
                   help="root data folder (default: $NAGD_DATA, else ~/.local/share/nagd)")
    q.add_argument("--timeout", type=_seconds("--timeout"), default=60.0, metavar="S",
                   help="seconds allowed for each network operation: connect, each read (default 60)")
    q.add_argument("--deadline", type=_seconds("--deadline"), default=600.0, metavar="S",
                   help="seconds allowed for one file from one mirror in all, then the next mirror is "
                        "tried (default 600)")
    q.set_defaults(func=_cmd_data_fetch)
    return parser


def _cmd_data_fetch(args):
    from ..datasets import fetch          # the network code, only for this command
    try:
        folder = fetch.fetch(args.name, data_home=args.data_home, timeout=args.timeout, deadline=args.deadline,
                             log=lambda line: print(f"nagd: {line}"))
    except (fetch.FetchError, ValueError) as exc:    # one line on stderr, exit status 1
        print(f"nagd data fetch: error: {exc}", file=sys.stderr)
        return 1
    print(f"nagd: {args.name} is in {folder}")
    return 0


def _writable_out(out):
    """Create ``out`` if needed and check that files can be written there."""
    try:
        os.makedirs(out, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"--out {out!r} is not a writable folder ({exc.strerror or exc})") from None


def _write_report(out, sections=None, overrides=None):
    try:
        return _report.write_report(out, sections, overrides=overrides)
    except runner.StoreError:
        raise
    except OSError as exc:      # disk full, read-only folder: the stored runs are intact
        name = exc.filename or os.path.join(out, "REPORT.md")
        raise runner.StoreError(f"cannot write {name}: {exc.strerror or exc}; the stored runs are intact") from None


def _cmd_reproduce(args):
    sections = runner.load_sections()
    try:
        tasks = runner.plan(sections, args.targets, quick=args.quick, base_seed=args.seed,
                            overrides=_overrides(args))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _writable_out(args.out)
    t0 = time.perf_counter()
    try:
        res = runner.run_suite(tasks, args.out, jobs=args.jobs, scheduler=args.scheduler,
                               desc=" ".join(args.targets), progress_every=args.progress_every)
    except (ImportError, ConnectionError) as exc:      # --scheduler without dask, or unreachable
        raise UsageError(str(exc)) from None
    elapsed = time.perf_counter() - t0
    print(f"nagd: {plural(len(res.done), 'run')} done, {len(res.skipped)} already stored, "
          f"{len(res.failures)} failed in {elapsed:.1f} s; results in {args.out}")
    path, errors = _write_report(args.out, sections, overrides=_overrides(args))
    print(f"nagd: wrote {path}")
    for task, tb in res.failures:
        last = tb.strip().splitlines()[-1] if tb.strip() else "unknown error"
        print(f"nagd: FAILED run {task.section}/{task.name} #{task.index} (seed {task.seed}): {last}",
              file=sys.stderr)
        if "\n" in tb.strip():
            print("  " + tb.strip().replace("\n", "\n  "), file=sys.stderr)
    for line in errors:
        print(f"nagd: {line}", file=sys.stderr)
    if res.failures:
        print(f"nagd: {len(res.failures)} run(s) failed; rerun the same command to retry them "
              "(stored runs are kept)", file=sys.stderr)
    return 1 if res.failures or errors else 0


def _cmd_report(args):
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out!r} is not a folder (it holds the results of `nagd reproduce`)")
    if not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out!r} does not exist; run `nagd reproduce TARGET --out {args.out}` first")
    _writable_out(args.out)
    path, errors = _write_report(args.out, overrides=_overrides(args))
    print(f"nagd: wrote {path}")
    for line in errors:
        print(f"nagd: {line}", file=sys.stderr)
    return 1 if errors else 0


def _cmd_list(args):
    sections = runner.load_sections()
    table = runner.targets(sections)
    width = max([len(t) for t in table] + [3])
    times = run_times(args.out, sections)
    estimated = False

    def count(target, quick):
        nonlocal estimated
        tasks = runner.plan(sections, [target], quick=quick)
        seconds = estimate(tasks, times)
        estimated = estimated or seconds is not None
        return plural(len(tasks), "run") + (f" ~{format_duration(seconds)}" if seconds is not None else "")

    for target, (sname, names) in table.items():
        print(f"{target:<{width}}  {sname}: {', '.join(names)}  ({count(target, False)}; "
              f"with --quick {count(target, True)})")
    print(f"{'all':<{width}}  every target above  ({count('all', False)}; with --quick {count('all', True)})")
    scalable = {}
    for target, (sname, _) in table.items():
        for key in getattr(sections[sname], "SCALABLE", ()):
            scalable.setdefault(key, []).append(target)
    for key, names in scalable.items():
        print(f"--{key} N applies to: {', '.join(names)}")
    if estimated:
        print(f"~: computing time on this machine, from the median time of the runs stored in {args.out} "
              "(one worker; --jobs N divides it by up to N); none where a configuration has no stored run")
    else:
        print(f"no time estimates: no runs stored in {args.out} (`nagd reproduce TARGET --quick` stores some, "
              "or give --out DIR)")
    return 0


def main(argv=None):
    """Run the ``nagd`` command; return its exit status.

    Parameters
    ----------
    argv : list of str or None
        The arguments after ``nagd``; None reads ``sys.argv``.

    Returns
    -------
    int
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"nagd {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except runner.StoreError as exc:     # unreadable or foreign stored file, disk full, read-only folder
        print(f"nagd {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:     # Ctrl-C, or SIGTERM during a pool (runner.Terminated)
        signum = getattr(exc, "signum", 2)
        print(f"nagd {args.command}: interrupted (signal {signum}); finished runs are stored, rerun the same "
              "command to resume", file=sys.stderr)
        return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
