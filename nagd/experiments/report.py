"""Write ``REPORT.md``: every section's tables and figures from stored runs, beside the paper.

`write_report` reads the stored runs of each section (see `runner.load_runs`), picks for each
config the runs that match the module's current ``CONFIGS`` (full size) or, when there are
none, its ``QUICK`` configs, and calls ``module.report(runs, OUT/<section>)`` with those runs
as `runner.Run` records (the config that ran, the seed, the result). Full and quick
runs are never mixed: each config's runs come from one mode and one base seed, and the
report states which ("Runs used" table). Sections with no stored runs are left out.

The helpers `markdown_table`, `write_csv`, `link` and `vs_paper` are shared by the section
modules so that every table looks the same.
"""
import csv
import errno
import io
import math
import os
import traceback

from . import published, runner

__all__ = ["select_runs", "write_report", "markdown_table", "write_csv", "write_text", "link", "vs_paper", "fmt"]

_DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
                          errno.EIO})
"""A section's report failing with one of these could not write its files: the report stops (one line)."""


def fmt(value, digits=4):
    """Format a table cell: ints as is, floats to ``digits`` significant digits, None as an em dash.

    Parameters
    ----------
    value : int, float, None or any
        NaN is shown as an em dash, +inf (diverged) as an up arrow; other types through ``str``.
    digits : int, default 4
        Significant digits of a float; beyond ``10**digits`` or below ``10**-(digits-1)``
        in scientific notation.

    Returns
    -------
    str
    """
    if value is None:
        return "—"
    if isinstance(value, int):          # bool too
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if math.isinf(value):
            return "↑" if value > 0 else "-inf"
        if value != 0 and (abs(value) >= 10 ** digits or abs(value) < 10 ** -(digits - 1)):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}"
    return str(value)


def vs_paper(ours, paper, digits=4):
    """One cell ``ours (paper, +d%)`` comparing our value to the paper's.

    Parameters
    ----------
    ours, paper : int, float or None
        ``None`` means not available; ``math.inf`` means diverged (shown as an up arrow).
    digits : int, default 4
        As in `fmt`.

    Returns
    -------
    str
    """
    if paper is None:
        return fmt(ours, digits)
    if ours is None:
        return f"— (paper {fmt(paper, digits)})"
    if isinstance(ours, float) and math.isinf(ours) or isinstance(paper, float) and math.isinf(paper):
        same = ours == paper
        return f"{fmt(ours, digits)} (paper {fmt(paper, digits)}{'' if same else ', differs'})"
    if paper == 0:
        diff = "=" if ours == 0 else f"{ours - paper:+.3g}"
    elif ours == paper:
        diff = "="
    else:
        diff = f"{100.0 * (ours - paper) / abs(paper):+.2f}%"
    return f"{fmt(ours, digits)} (paper {fmt(paper, digits)}, {diff})"


def markdown_table(header, rows):
    """Return a GitHub-flavoured Markdown table (cells formatted with `fmt` unless already str).

    Parameters
    ----------
    header : sequence
        The column titles.
    rows : sequence of sequence
        The cells, one sequence per row; ``|`` in a cell is escaped.

    Returns
    -------
    str
    """
    def cell(v):
        return (v if isinstance(v, str) else fmt(v)).replace("|", "\\|")
    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_csv(path, header, rows):
    """Write a CSV table (raw values: floats in full precision, None as empty), atomically.

    Parameters
    ----------
    path : str
        The file; its folder is created if missing. See `write_text` for how it is written.
    header : sequence of str
    rows : sequence of sequence

    Returns
    -------
    str
        ``path``.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in row])
    return write_text(path, buf.getvalue())


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically and return ``path``.

    The text goes to a temporary file in the same folder (created if missing), flushed to disk
    and renamed over ``path``: a reader sees the old file or the new one, never a partial one,
    and a symbolic link at ``path`` is replaced, not written through (a link in the results
    folder cannot make a report overwrite a file elsewhere).

    Parameters
    ----------
    path : str or path-like
    text : str

    Returns
    -------
    str or path-like
        ``path``.

    Raises
    ------
    OSError
        Naming ``path`` (its ``filename``) when the file cannot be written (a full disk, a
        read-only folder); ``path`` keeps its old content.
    """
    runner.write_atomic(path, text.encode("utf-8"), prefix=".tmp-", suffix=".part")
    return path


def link(out_dir, filename):
    """Path of ``out_dir/filename`` relative to ``REPORT.md`` (which lives in ``out_dir``'s parent).

    Parameters
    ----------
    out_dir : str
        A section's folder.
    filename : str

    Returns
    -------
    str
    """
    return f"{os.path.basename(os.path.normpath(out_dir))}/{filename}"


def select_runs(records, module, overrides=None):
    """Pick, per config, one consistent set of stored runs.

    A record qualifies for config ``name`` when its config equals the module's current
    ``CONFIGS[name]`` (full) or ``QUICK[name]`` (quick), with overrides applied when the
    module lists their keys in ``SCALABLE``: only fields the record's key and seed cover
    are used (`runner.load_runs` checks them), never its stored ``name``. Full runs win over quick ones; among base
    seeds the one with the most runs wins (then the smallest seed).

    Parameters
    ----------
    records : list of dict
        Stored run records, as returned by `nagd.experiments.runner.load_runs`.
    module : module
        The section module (for ``CONFIGS`` and ``QUICK``).
    overrides : dict, optional
        ``{config_key: value}`` as given to ``nagd reproduce --runs/--epochs``.

    Returns
    -------
    runs : dict
        ``{config_name: [Run, ...]}`` (`runner.Run`: the stored config, seed and result)
        ordered by run index.
    provenance : dict
        ``{config_name: {"quick": bool, "base_seed": int, "runs": int, "expected": int,
        "dataset": str or None, "overrides": dict}}``.
    """
    runs, provenance = {}, {}
    scalable = getattr(module, "SCALABLE", ())
    overrides = {k: v for k, v in (overrides or {}).items() if k in scalable}
    for name in list(module.CONFIGS) + [n for n in getattr(module, "QUICK", {}) if n not in module.CONFIGS]:
        for quick, source in ((False, module.CONFIGS), (True, getattr(module, "QUICK", {}))):
            if name not in source:
                continue
            config = runner.scaled(source[name], overrides)
            wanted = runner.canonical(config)       # compare as JSON: tuples are stored as lists
            groups = {}
            for r in records:     # matched on fields the key covers (config, mode), not on the stored name
                if r["quick"] is quick and runner.canonical(r["config"]) == wanted:
                    groups.setdefault(r["base_seed"], {})[r["index"]] = runner.Run.from_record(r)
            if not groups:
                continue
            seed = min(groups, key=lambda s: (-len(groups[s]), s))
            chosen = groups[seed]
            runs[name] = [chosen[i] for i in sorted(chosen)]
            provenance[name] = {"quick": quick, "base_seed": seed, "runs": len(chosen),
                                "expected": int(config.get("runs", 1)),
                                "dataset": config.get("dataset"), "overrides": dict(overrides)}
            break
    return runs, provenance


def _provenance_table(provenance):
    rows = []
    for name, p in provenance.items():
        mode = "quick" if p["quick"] else "full"
        if p.get("overrides"):
            mode += ", " + " ".join(f"--{k} {v}" for k, v in sorted(p["overrides"].items()))
        rows.append([name, mode, p["base_seed"],
                     f"{p['runs']}/{p['expected']}", p["dataset"] or "—"])
    return markdown_table(["config", "mode", "seed", "runs stored", "data set"], rows)


def write_report(out, sections=None, overrides=None):
    """Write ``OUT/REPORT.md`` and each section's files under ``OUT/<section>/``.

    Parameters
    ----------
    out : str or path-like
        The results folder used by ``nagd reproduce``.
    sections : dict, optional
        ``{short_name: module}``; default `runner.load_sections()`.
    overrides : dict, optional
        ``{config_key: value}`` (``--runs``, ``--epochs``): report the runs made with them, in
        the sections that take them.

    Returns
    -------
    path : str
        Path of ``REPORT.md``.
    errors : list of str
        One line per section whose ``report`` raised (its traceback goes into REPORT.md).

    Raises
    ------
    OSError
        Naming the file, when a file cannot be written: a full disk, a read-only folder.
        Every file is written atomically (`write_text`), so each keeps its old content or
        gets all of its new one.
    """
    out = os.fspath(out)
    if sections is None:
        sections = runner.load_sections()
    parts = ["# Reproduction report\n",
             "Our numbers beside the paper's (D. Sprunger, *Reparametrizing gradient descent*, 2020). "
             "Each section lists the stored runs it used: *full* runs use the paper's settings, "
             "*quick* runs are cut down and not comparable to the paper.\n"]
    errors = []
    for sname, module in sections.items():
        records = runner.load_runs(out, sname)
        runs, provenance = select_runs(records, module, overrides)
        if not runs:
            continue
        title = (module.__doc__ or sname).strip().splitlines()[0].rstrip(".")
        parts.append(f"\n## {title}\n")
        parts.append("\nRuns used:\n\n" + _provenance_table(provenance))
        if any(p["quick"] for p in provenance.values()):
            parts.append("\n**Quick mode**: some of these numbers come from cut-down runs.\n")
        if any(p.get("overrides") for p in provenance.values()):
            parts.append("\n**Scaled**: these runs were made with the options shown under *mode*, not the "
                         "paper's settings.\n")
        section_dir = os.path.join(out, sname)
        os.makedirs(section_dir, exist_ok=True)
        try:
            text = module.report(runs, section_dir)
        except OSError as exc:
            if exc.errno not in _DISK_ERRORS:
                errors.append(f"section {sname!r}: report failed: {type(exc).__name__}: {exc}")
                text = f"\n**The report of this section failed:**\n\n```\n{traceback.format_exc()}```\n"
            else:     # its files cannot be written (a full disk, a read-only folder): so neither can REPORT.md
                raise
        except Exception as exc:
            errors.append(f"section {sname!r}: report failed: {type(exc).__name__}: {exc}")
            text = f"\n**The report of this section failed:**\n\n```\n{traceback.format_exc()}```\n"
        parts.append("\n" + (text or "").strip() + "\n")
        inferred = published.INFERRED.get(sname)
        if inferred:
            parts.append("\n### Settings the paper does not state: our readings and their evidence\n\n"
                         + markdown_table(["setting", "our reading", "evidence"], [list(r) for r in inferred]))
    if len(parts) == 2:
        parts.append("\nNo stored runs found. Run `nagd reproduce TARGET --out DIR` first.\n")
    path = os.path.join(out, "REPORT.md")
    runner.write_atomic(path, "".join(parts))
    return path, errors
