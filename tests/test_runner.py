"""The runner: seeds, storage, resume, corrupt files, failures, process pool and Dask."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nagd.experiments
from nagd.experiments import report, runner

FAKE = '''
"""A toy section: each run draws one number from its seed and logs the call."""
import os
import signal

import numpy as np

LOG = {log!r}
CONFIGS = {{"a": {{"runs": 3, "log": LOG, "shape": (2, 3)}}, "b": {{"runs": 2, "log": LOG, "scale": 10.0}}}}
QUICK = {{"a": {{"runs": 2, "log": LOG, "quick": True}}, "b": {{"runs": 1, "log": LOG, "scale": 10.0}}}}
TARGETS = {{"ta": ["a"], "tb": ["b"]}}
PUBLISHED = {{"a": 0.5}}


def _calls():
    with open(LOG) as fh:
        return sum(1 for _ in fh)


def run(config, seed):
    with open(LOG, "a") as fh:
        fh.write(f"{{seed}}\\n")
    flag = LOG + ".fail"
    if os.path.exists(flag):
        with open(flag) as fh:
            action, at = fh.read().split()
        if _calls() == int(at):
            if action == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("injected failure")
    rng = np.random.default_rng(seed)
    return {{"value": float(rng.random()) * config.get("scale", 1.0), "seed": seed}}


def report(runs, out_dir):
    from nagd.experiments.report import markdown_table, write_csv
    rows = [[name, len(rs), sum(r.result["value"] for r in rs)] for name, rs in sorted(runs.items())]
    write_csv(os.path.join(out_dir, "toy.csv"), ["config", "runs", "sum"], rows)
    return "### Toy\\n\\n" + markdown_table(["config", "runs", "sum"], rows)
'''


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A toy section module importable by workers; returns (sections, log path, module name)."""
    root = tmp_path / "site"
    pkgname = f"toypkg_{abs(hash(str(tmp_path))) % 10**8}"    # unique: no stale module in sys.modules
    (root / pkgname).mkdir(parents=True)
    (root / pkgname / "__init__.py").write_text("")
    log = tmp_path / "calls.log"
    log.write_text("")
    (root / pkgname / "toy.py").write_text(FAKE.format(log=str(log)))
    name = f"{pkgname}.toy"
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("PYTHONPATH", str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    sections = runner.load_sections([name])
    return sections, log, name


def _calls(log):
    return len(log.read_text().split())


def _results(out, section):
    return {r["key"]: r["result"] for r in runner.load_runs(out, section)}


def test_seeds_are_deterministic_and_distinct():
    cfg = {"runs": 3, "x": 1}
    seeds = [runner.run_seed(0, cfg, i) for i in range(3)]
    assert seeds == [runner.run_seed(0, dict(cfg), i) for i in range(3)]
    assert len(set(seeds)) == 3
    assert runner.run_seed(1, cfg, 0) != seeds[0]
    assert runner.run_seed(0, {"runs": 3, "x": 2}, 0) != seeds[0]
    assert all(0 <= s < 2**63 for s in seeds)


def test_quick_and_full_runs_get_different_keys():
    cfg = {"runs": 1}
    seed = runner.run_seed(0, cfg, 0)
    assert runner.run_key("s", cfg, False, seed) != runner.run_key("s", cfg, True, seed)


def test_plan_and_unknown_target(fake):
    sections, _, name = fake
    tasks = runner.plan(sections, ["ta", "tb"])
    assert [(t.name, t.index) for t in tasks] == [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)]
    assert len(runner.plan(sections, ["all", "ta"])) == 5
    assert len(runner.plan(sections, ["all"], quick=True)) == 3
    with pytest.raises(ValueError, match=r"unknown target 'nope'; valid targets: ta, tb, all"):
        runner.plan(sections, ["nope"])


def test_duplicate_target_across_sections_is_refused(fake):
    sections, _, name = fake
    with pytest.raises(ValueError, match="target 'ta' is defined by both"):
        runner.targets({"one": sections[name], "two": sections[name]})


def test_runs_are_stored_and_skipped(fake, tmp_path):
    sections, log, name = fake
    out = tmp_path / "out"
    tasks = runner.plan(sections, ["all"])
    res = runner.run_suite(tasks, out, jobs=1)
    assert res.ok and len(res.done) == 5 and not res.skipped
    assert _calls(log) == 5
    res2 = runner.run_suite(tasks, out, jobs=1)
    assert len(res2.skipped) == 5 and not res2.done
    assert _calls(log) == 5                       # nothing recomputed
    stored = runner.load_runs(out, name)
    assert sorted(r["seed"] for r in stored) == sorted(t.seed for t in tasks)
    assert not list((out / "runs" / name).glob(".tmp-*"))


def test_failed_run_does_not_lose_the_others_and_resumes(fake, tmp_path):
    sections, log, name = fake
    tasks = runner.plan(sections, ["all"])
    clean = tmp_path / "clean"
    runner.run_suite(tasks, clean, jobs=1)
    log.write_text("")
    (tmp_path / "calls.log.fail").write_text("raise 3")
    out = tmp_path / "out"
    res = runner.run_suite(tasks, out, jobs=1)
    assert len(res.done) == 4 and len(res.failures) == 1
    failed, tb = res.failures[0]
    assert failed == tasks[2] and "injected failure" in tb
    (tmp_path / "calls.log.fail").unlink()
    res2 = runner.run_suite(tasks, out, jobs=1)
    assert res2.done == [tasks[2].key] and len(res2.skipped) == 4
    assert _calls(log) == 6                       # 5 attempts + the one rerun
    assert _results(out, name) == _results(clean, name)


def test_killed_suite_resumes_without_recomputing(fake, tmp_path):
    sections, log, name = fake
    out = tmp_path / "out"
    code = textwrap.dedent(f"""
        import sys
        import nagd.experiments as e
        e.SECTIONS = ({name!r},)
        from nagd.experiments.cli import main
        sys.exit(main(["reproduce", "all", "--jobs", "1", "--out", {str(out)!r}]))
    """)
    (tmp_path / "calls.log.fail").write_text("kill 4")
    env = dict(os.environ)
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert first.returncode == -9, first.stderr            # killed by SIGKILL during the 4th run
    assert len(runner.load_runs(out, name)) == 3
    assert not (out / "REPORT.md").exists()
    (tmp_path / "calls.log.fail").unlink()
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert "2 runs done, 3 already stored" in second.stdout
    assert _calls(log) == 6                                  # 4 before the kill + 2 after
    clean = tmp_path / "clean"
    runner.run_suite(runner.plan(sections, ["all"]), clean, jobs=1)
    assert _results(out, name) == _results(clean, name)
    assert "| a | 3 |" in (out / "REPORT.md").read_text()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "tamper"])
def test_corrupt_result_is_detected_and_rerun(fake, tmp_path, damage):
    sections, log, name = fake
    out = tmp_path / "out"
    tasks = runner.plan(sections, ["ta"])
    runner.run_suite(tasks, out, jobs=1)
    good = _results(out, name)
    path = out / "runs" / name / f"{tasks[1].key}.json"
    text = path.read_text()
    if damage == "truncate":
        path.write_text(text[: len(text) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00\xff" * 10)
    else:
        record = json.loads(text)
        record["result"]["value"] += 1.0          # checksum no longer matches
        path.write_text(json.dumps(record))
    damaged = path.read_bytes()
    with pytest.warns(runner.CorruptResultWarning, match="corrupt"):
        res = runner.run_suite(tasks, out, jobs=1)
    assert res.done == [tasks[1].key] and len(res.skipped) == 2
    assert _calls(log) == 4
    assert _results(out, name) == good
    # moved aside with the reason, never deleted
    moved = out / "runs" / name / "quarantine" / path.name
    assert moved.read_bytes() == damaged
    assert path.name in (moved.parent / (path.name + ".reason")).read_text()


def test_process_pool_equals_in_process(fake, tmp_path):
    sections, log, name = fake
    tasks = runner.plan(sections, ["all"])
    runner.run_suite(tasks, tmp_path / "serial", jobs=1)
    res = runner.run_suite(tasks, tmp_path / "pool", jobs=2)
    assert res.ok and len(res.done) == 5
    assert _results(tmp_path / "pool", name) == _results(tmp_path / "serial", name)


def test_bad_jobs(fake, tmp_path):
    sections, _, _ = fake
    with pytest.raises(ValueError, match="jobs must be a positive integer, got 0"):
        runner.run_suite(runner.plan(sections, ["ta"]), tmp_path, jobs=0)


def test_dask_local_cluster_equals_local_pool(fake, tmp_path):
    distributed = pytest.importorskip("distributed")
    sections, log, name = fake
    tasks = runner.plan(sections, ["all"])
    runner.run_suite(tasks, tmp_path / "pool", jobs=2)
    # No dashboard (it would need bokeh), and the scheduler's HTTP server on a free port: its default,
    # 8787, may be taken on the user's machine (a running notebook), which warns, an error here.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"}) as cluster:
        res = runner.run_suite(tasks, tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert res.ok and len(res.done) == 5
    assert _results(tmp_path / "dask", name) == _results(tmp_path / "pool", name)


def test_report_prefers_full_runs_and_never_mixes_modes(fake, tmp_path):
    sections, _, name = fake
    out = tmp_path / "out"
    runner.run_suite(runner.plan(sections, ["all"], quick=True), out, jobs=1)
    path, errors = report.write_report(out, sections)
    text = Path(path).read_text()
    assert not errors and "| a | quick | 0 | 2/2 |" in text and "| a | 2 |" in text
    runner.run_suite(runner.plan(sections, ["ta"]), out, jobs=1)
    text = Path(report.write_report(out, sections)[0]).read_text()
    assert "| a | full | 0 | 3/3 |" in text and "| a | 3 |" in text
    assert "| b | quick | 0 | 1/1 |" in text                # b has quick runs only
    assert (out / name / "toy.csv").exists()


def test_vs_paper_cells():
    assert report.vs_paper(23, 23) == "23 (paper 23, =)"
    assert report.vs_paper(110, 100) == "110 (paper 100, +10.00%)"
    assert report.vs_paper(float("inf"), float("inf")) == "↑ (paper ↑)"
    assert report.vs_paper(None, 5) == "— (paper 5)"


def test_default_sections_load():
    sections = runner.load_sections()
    assert list(sections) == [n.rsplit(".", 1)[-1] for n in nagd.experiments.SECTIONS]


def test_cli_reports_a_failed_run_and_exits_1(fake, tmp_path, monkeypatch, capsys):
    from nagd.experiments import cli
    sections, log, name = fake
    monkeypatch.setattr(nagd.experiments, "SECTIONS", (name,))
    (tmp_path / "calls.log.fail").write_text("raise 2")
    out = tmp_path / "out"
    rc = cli.main(["reproduce", "ta", "--jobs", "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 1
    assert "2 runs done, 0 already stored, 1 failed" in captured.out
    assert f"FAILED run {name}/a #1" in captured.err and "RuntimeError: injected failure" in captured.err
    assert len(runner.load_runs(out, name)) == 2           # the others are kept
    (tmp_path / "calls.log.fail").unlink()
    assert cli.main(["reproduce", "ta", "--jobs", "1", "--out", str(out)]) == 0
    assert "1 run done, 2 already stored, 0 failed" in capsys.readouterr().out


def test_report_skips_a_corrupt_file_with_a_warning(fake, tmp_path):
    sections, _, name = fake
    out = tmp_path / "out"
    tasks = runner.plan(sections, ["ta"])
    runner.run_suite(tasks, out, jobs=1)
    (out / "runs" / name / f"{tasks[0].key}.json").write_text('{"format": 1, "truncated')
    with pytest.warns(runner.CorruptResultWarning, match="skipped"):
        path, errors = report.write_report(out, sections)
    assert not errors and "| a | full | 0 | 2/3 |" in Path(path).read_text()


def test_checkpoint_dir_is_given_to_runs_that_accept_it(fake, tmp_path, monkeypatch):
    sections, _, name = fake
    module = sections[name]
    seen = []

    def run(config, seed, *, checkpoint_dir):
        seen.append(checkpoint_dir)
        assert os.path.isdir(checkpoint_dir)
        return {"value": 1.0}

    monkeypatch.setattr(module, "run", run)
    out = tmp_path / "out"
    tasks = runner.plan(sections, ["tb"])
    assert runner.run_suite(tasks, out, jobs=1).ok
    assert seen == [str(out / "checkpoints" / name / t.key) for t in tasks]


def test_runs_override_is_planned_stored_and_reported_apart(fake, tmp_path, monkeypatch):
    sections, _, name = fake
    monkeypatch.setattr(sections[name], "SCALABLE", ("runs",), raising=False)
    tasks = runner.plan(sections, ["ta"], overrides={"runs": 5})
    assert len(tasks) == 5 and all(t.config["runs"] == 5 for t in tasks)
    assert not {t.key for t in tasks} & {t.key for t in runner.plan(sections, ["ta"])}
    out = tmp_path / "out"
    assert runner.run_suite(tasks, out, jobs=1).ok
    text = Path(report.write_report(out, sections, overrides={"runs": 5})[0]).read_text()
    assert "| a | full, --runs 5 | 0 | 5/5 |" in text and "**Scaled**" in text and "| a | 5 |" in text
    text = Path(report.write_report(out, sections)[0]).read_text()
    assert "| a |" not in text                          # the paper-size report does not take them


def test_a_report_receives_the_config_that_ran_its_seed_and_result(fake, tmp_path, monkeypatch):
    sections, _, name = fake
    monkeypatch.setattr(sections[name], "SCALABLE", ("runs",), raising=False)
    tasks = runner.plan(sections, ["ta"], quick=True, base_seed=7, overrides={"runs": 4})
    out = tmp_path / "out"
    assert runner.run_suite(tasks, out, jobs=1).ok
    runs, provenance = report.select_runs(runner.load_runs(out, name), sections[name], {"runs": 4})
    assert list(runs) == ["a"] and provenance["a"]["quick"]
    assert all(isinstance(r, runner.Run) for r in runs["a"])
    assert [r.seed for r in runs["a"]] == [t.seed for t in sorted(tasks, key=lambda t: t.index)]
    assert all(r.config == dict(sections[name].QUICK["a"], runs=4) for r in runs["a"])   # quick, scaled
    assert all(r.result["seed"] == r.seed for r in runs["a"])


def test_overrides_a_section_does_not_declare_are_refused(fake):
    sections, _, name = fake
    with pytest.raises(ValueError, match="--epochs does not apply to target 'ta'; it applies to: no target"):
        runner.plan(sections, ["ta"], overrides={"epochs": 3})
    real = runner.load_sections()
    scalable = sorted(t for t, (s, _) in runner.targets(real).items() if "runs" in getattr(real[s], "SCALABLE", ()))
    assert {"table3", "fig8", "mnist"} <= set(scalable)
    with pytest.raises(ValueError, match=f"--runs does not apply to target 'table1'; it applies to: {', '.join(scalable)}$"):
        runner.plan(real, ["all"], overrides={"runs": 2})
    assert len(runner.plan(real, ["table3"], overrides={"runs": 2, "epochs": 3})) == 12
    with pytest.raises(ValueError, match="--runs must be a positive integer, got 0"):
        runner.plan(real, ["mnist"], overrides={"runs": 0})


# ------------------------------------------------------------------------------------------------
# Faults: never delete what cannot be read, verify every field, files follow the umask


def _deny(monkeypatch, path, exc):
    """Make ``open(path)`` raise ``exc`` (root reads mode-000 files, so a permission error is simulated)."""
    import builtins
    real_open = builtins.open

    def fake_open(file, *args, **kwargs):
        if os.fspath(file) == os.fspath(path):
            raise exc
        return real_open(file, *args, **kwargs)
    monkeypatch.setattr(builtins, "open", fake_open)


@pytest.mark.parametrize("fault", ["permission", "eio", "directory"])
def test_unreadable_result_is_an_error_naming_the_file_and_is_never_deleted(fake, tmp_path, monkeypatch, fault):
    import errno
    sections, log, name = fake
    out = tmp_path / "out"
    tasks = runner.plan(sections, ["ta"])
    runner.run_suite(tasks, out, jobs=1)
    path = out / "runs" / name / f"{tasks[1].key}.json"
    text = path.read_text()
    if fault == "directory":
        path.unlink()
        path.mkdir()
    else:
        exc = (PermissionError(errno.EACCES, "Permission denied", str(path)) if fault == "permission"
               else OSError(errno.EIO, "Input/output error", str(path)))
        _deny(monkeypatch, path, exc)
    with pytest.raises(runner.StoreError, match="cannot read stored run .*" + tasks[1].key):
        runner.run_suite(tasks, out, jobs=1)
    assert _calls(log) == 3                              # nothing rerun
    if fault == "directory":
        assert path.is_dir()
    else:
        monkeypatch.undo()
        assert path.read_text() == text                  # not deleted, not rewritten
    with pytest.raises(runner.StoreError, match="cannot read stored run"):
        if fault != "directory":
            _deny(monkeypatch, path, OSError(errno.EIO, "Input/output error"))
        runner.load_runs(out, name)


def test_cli_unreadable_result_is_one_line_exit_1(fake, tmp_path, monkeypatch, capsys):
    from nagd.experiments import cli
    sections, log, name = fake
    monkeypatch.setattr(nagd.experiments, "SECTIONS", (name,))
    out = tmp_path / "out"
    assert cli.main(["reproduce", "ta", "--jobs", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    path = next((out / "runs" / name).glob("*.json"))
    path.unlink()
    path.mkdir()
    assert cli.main(["reproduce", "ta", "--jobs", "1", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read stored run" in err and str(path) in err


def test_other_format_version_is_refused_not_overwritten(fake, tmp_path):
    sections, log, name = fake
    out = tmp_path / "out"
    tasks = runner.plan(sections, ["ta"])
    runner.run_suite(tasks, out, jobs=1)
    path = out / "runs" / name / f"{tasks[0].key}.json"
    record = json.loads(path.read_text())
    record["format"] = runner.FORMAT + 1
    path.write_text(json.dumps(record))
    with pytest.raises(runner.StoreError, match=f"has format {runner.FORMAT + 1}; this nagd reads and writes format"):
        runner.run_suite(tasks, out, jobs=1)
    with pytest.raises(runner.StoreError, match="has format"):
        runner.load_runs(out, name)
    assert json.loads(path.read_text()) == record and _calls(log) == 3


@pytest.mark.parametrize("field, value", [("name", "b"), ("index", 0), ("base_seed", 7), ("section", "other"),
                                          ("quick", 1), ("index", "1")])
def test_fields_outside_the_key_are_verified(fake, tmp_path, field, value):
    sections, log, name = fake
    out = tmp_path / "out"
    tasks = runner.plan(sections, ["ta"])
    runner.run_suite(tasks, out, jobs=1)
    good = _results(out, name)
    path = out / "runs" / name / f"{tasks[1].key}.json"
    record = json.loads(path.read_text())
    record[field] = value
    path.write_text(json.dumps(record))
    if field != "name":          # the name is not covered by the key: reports never use it
        with pytest.warns(runner.CorruptResultWarning, match="skipped"):
            assert len(runner.load_runs(out, name)) == 2
    with pytest.warns(runner.CorruptResultWarning, match="moved to .*quarantine"):
        res = runner.run_suite(tasks, out, jobs=1)
    assert res.done == [tasks[1].key] and _calls(log) == 4
    assert _results(out, name) == good
    text = Path(report.write_report(out, sections)[0]).read_text()
    assert "| a | full | 0 | 3/3 |" in text


def test_report_matches_runs_by_key_fields_not_by_stored_name(fake, tmp_path):
    sections, log, name = fake
    out = tmp_path / "out"
    tasks = runner.plan(sections, ["ta"])
    runner.run_suite(tasks, out, jobs=1)
    for path in (out / "runs" / name).glob("*.json"):
        record = json.loads(path.read_text())
        record["name"] = "b"
        path.write_text(json.dumps(record))
    text = Path(report.write_report(out, sections)[0]).read_text()
    assert "| a | full | 0 | 3/3 |" in text and "| b |" not in text


def test_stored_files_and_report_follow_the_umask(fake, tmp_path):
    sections, log, name = fake
    out = tmp_path / "out"
    old = os.umask(0o027)
    try:
        tasks = runner.plan(sections, ["ta"])
        runner.run_suite(tasks, out, jobs=1)
        path = Path(report.write_report(out, sections)[0])
    finally:
        os.umask(old)
    for f in [path, *(out / "runs" / name).glob("*.json")]:
        assert f.stat().st_mode & 0o777 == 0o640, f


def test_disk_full_while_storing_is_one_line_and_keeps_stored_runs(fake, tmp_path, monkeypatch, capsys):
    import errno
    from nagd.experiments import cli
    sections, log, name = fake
    monkeypatch.setattr(nagd.experiments, "SECTIONS", (name,))
    out = tmp_path / "out"
    assert cli.main(["reproduce", "ta", "--jobs", "1", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in (out / "runs" / name).iterdir()}
    capsys.readouterr()

    def full(path, data, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    monkeypatch.setattr(runner.store, "write_atomic", full)
    rc = cli.main(["reproduce", "tb", "--jobs", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1
    assert "cannot store run" in err and "No space left on device" in err and "intact" in err
    assert {p.name: p.read_bytes() for p in (out / "runs" / name).iterdir()} == before
    monkeypatch.undo()
    monkeypatch.setattr(nagd.experiments, "SECTIONS", (name,))
    ro = OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(report.runner, "write_atomic", lambda *a, **k: (_ for _ in ()).throw(ro))
    assert cli.main(["report", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Read-only file system" in err


def test_negative_seed_names_the_option(fake, capsys):
    from nagd.experiments import cli
    with pytest.raises(SystemExit) as exc:
        cli.main(["reproduce", "all", "--seed", "-1"])
    assert exc.value.code == 2 and "--seed must be a non-negative integer, got '-1'" in capsys.readouterr().err
    sections, _, _ = fake
    with pytest.raises(ValueError, match="base_seed must be a non-negative integer"):
        runner.plan(sections, ["ta"], base_seed=-1)


# ------------------------------------------------------------------------------------------------
# Faults: no hang at something that is not a Dask scheduler, no orphaned pool workers (127.0.0.1 only)


@pytest.fixture
def not_a_scheduler():
    """A silent TCP listener and an HTTP server on 127.0.0.1: yields their tcp:// addresses."""
    import http.server
    import socket
    import threading
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(silent.accept()[0])
            except OSError:
                continue
    t1 = threading.Thread(target=accept, daemon=True)
    t1.start()

    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    t2 = threading.Thread(target=web.serve_forever, daemon=True)
    t2.start()
    try:
        yield [f"tcp://127.0.0.1:{silent.getsockname()[1]}", f"tcp://127.0.0.1:{web.server_address[1]}"]
    finally:
        stop.set()
        t1.join(5)
        for c in accepted:
            c.close()
        silent.close()
        web.shutdown()
        web.server_close()
        t2.join(5)


def test_scheduler_that_is_not_dask_fails_within_the_deadline(fake, tmp_path, not_a_scheduler):
    pytest.importorskip("distributed")
    import threading
    import time
    sections, log, name = fake
    tasks = runner.plan(sections, ["tb"])
    for address in not_a_scheduler:
        box = {}

        def go():
            try:
                runner.run_suite(tasks, tmp_path / "out", scheduler=address, scheduler_timeout=1.0)
            except BaseException as exc:
                box["exc"] = exc
        worker = threading.Thread(target=go, daemon=True)
        t0 = time.monotonic()
        worker.start()
        worker.join(30)
        assert not worker.is_alive(), f"still connecting to {address} after 30 s"
        assert time.monotonic() - t0 < 10
        assert isinstance(box.get("exc"), ConnectionError), box
        assert f"cannot reach the Dask scheduler at {address!r}" in str(box["exc"])
        assert "\n" not in str(box["exc"])
    assert _calls(log) == 0


def test_cli_unknown_scheduler_scheme_is_one_line_and_quick(tmp_path):
    pytest.importorskip("distributed")
    import time
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "nagd.experiments.cli", "reproduce", "table1", "--quick",
                           "--out", str(tmp_path), "--scheduler", "nosuchscheme://x"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "unknown address scheme 'nosuchscheme'" in proc.stderr
    assert time.monotonic() - t0 < 30


SLOW = '''
"""Runs that sleep, each writing its process id first."""
import os
import time

FOLDER = {folder!r}
CONFIGS = {{"slow": {{"runs": 4}}}}
QUICK = CONFIGS
TARGETS = {{"slow": ["slow"]}}


def run(config, seed):
    with open(os.path.join(FOLDER, f"{{os.getpid()}}.pid"), "w") as fh:
        fh.write("started")
    time.sleep(60)
    return {{"value": 1.0}}


def report(runs, out_dir):
    return ""
'''


def _alive(pid):
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig, start", [("SIGTERM", None), ("SIGINT", None), ("SIGKILL", None),
                                        ("SIGINT", "forkserver"), ("SIGKILL", "forkserver")])
def test_pool_workers_do_not_outlive_the_suite(tmp_path, sig, start):
    import signal
    import time
    root = tmp_path / "site"
    pkg = f"slowpkg_{abs(hash(str(tmp_path))) % 10**8}"
    (root / pkg).mkdir(parents=True)
    (root / pkg / "__init__.py").write_text("")
    pids = tmp_path / "pids"
    pids.mkdir()
    (root / pkg / "slow.py").write_text(SLOW.format(folder=str(pids)))
    code = textwrap.dedent(f"""
        import signal, sys
        signal.signal(signal.SIGINT, signal.default_int_handler)   # also when started with SIGINT ignored
        import multiprocessing
        import nagd.experiments as e
        from nagd.experiments.runner import worker
        start = {start!r}
        if start:        # workers started by a forkserver: the suite is not their parent
            worker.pool_context = lambda: multiprocessing.get_context(start)
        e.SECTIONS = ({pkg + '.slow'!r},)
        from nagd.experiments.cli import main
        sys.exit(main(["reproduce", "slow", "--jobs", "2", "--out", {str(tmp_path / 'out')!r}]))
    """)
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    workers = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            workers = [int(p.stem) for p in pids.glob("*.pid")]
        assert len(workers) == 2, proc.communicate(timeout=5)
        proc.send_signal(getattr(signal, sig))
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=60)
        print(f"{sig}: the suite exited {time.monotonic() - t0:.1f} s after the signal")
        if sig != "SIGKILL":
            assert proc.returncode == 128 + getattr(signal, sig), err
            assert err.count("\n") == 1 and "interrupted" in err and "resume" in err
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers), "pool workers outlived the suite"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in workers:        # only the workers this test started, by process id
            if _alive(p):
                os.kill(p, signal.SIGKILL)


@pytest.mark.parametrize("start", [None, "forkserver"])
def test_stop_pool_ends_the_running_workers(monkeypatch, start):
    import concurrent.futures
    import multiprocessing
    import time
    from nagd.experiments.runner import worker
    if start is not None:
        if start not in multiprocessing.get_all_start_methods():
            pytest.skip(f"no {start} start method here")
        monkeypatch.setattr(worker, "pool_context", lambda: multiprocessing.get_context(start))
    ex, workers = worker.open_pool(2)
    try:
        futures = [ex.submit(time.sleep, 60) for _ in range(6)]
        deadline = time.monotonic() + 30
        while not (len(workers) == 2 and all(p.is_alive() for p in workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers) == 2 and all(p.is_alive() for p in workers)
        t0 = time.monotonic()
        worker.stop_pool(ex, workers, grace=5.0)
        assert time.monotonic() - t0 < 10
        # the pool's own thread reaps the workers too: is_alive() may lag a moment behind
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not any(p.is_alive() for p in workers) and all(f.done() for f in futures):
                break
            time.sleep(0.05)
        assert not any(p.is_alive() for p in workers), "stop_pool left a worker running"
        assert all(f.cancelled() or isinstance(f.exception(), concurrent.futures.process.BrokenProcessPool)
                   for f in futures)                        # none runs on
        with pytest.raises(RuntimeError):
            ex.submit(time.sleep, 0)
    finally:
        for p in workers:        # only the workers this test started
            if p.is_alive():
                p.kill()
                p.join(5)


def test_a_pool_worker_killed_fails_the_unfinished_runs_and_a_rerun_completes_them(fake, tmp_path):
    sections, log, name = fake
    tasks = runner.plan(sections, ["all"])
    (tmp_path / "calls.log.fail").write_text("kill 2")    # as the OOM killer would
    res = runner.run_suite(tasks, tmp_path / "out", jobs=2)
    assert res.failures and len(res.done) + len(res.failures) == len(tasks)
    assert all("BrokenProcessPool" in tb for _, tb in res.failures)
    assert len(runner.load_runs(tmp_path / "out", name)) == len(res.done)
    (tmp_path / "calls.log.fail").unlink()
    again = runner.run_suite(tasks, tmp_path / "out", jobs=2)
    assert again.ok and sorted(again.done) == sorted(t.key for t, _ in res.failures)
    assert len(again.skipped) == len(res.done)


def test_a_checkpoint_that_cannot_be_read_fails_its_run_in_one_line(fake, tmp_path, monkeypatch, capsys):
    from nagd.experiments import cli
    sections, log, name = fake
    monkeypatch.setattr(nagd.experiments, "SECTIONS", (name,))

    def run(config, seed, *, checkpoint_dir):
        raise runner.StoreError(f"cannot read checkpoint {checkpoint_dir}/checkpoint.bin: Is a directory")
    monkeypatch.setattr(sections[name], "run", run)
    assert cli.main(["reproduce", "tb", "--jobs", "1", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("StoreError: cannot read checkpoint") == 2
    assert err.count("\n") == 3            # two failed runs, one line each, and the summary


def test_an_epochs_override_makes_a_continued_run_a_run_of_its_own():
    config = {"epochs": 200, "continues": 50, "runs": 5}
    assert runner.scaled(config, {"epochs": 3}) == {"epochs": 3, "runs": 5}
    assert runner.scaled(config, {"runs": 2}) == {"epochs": 200, "continues": 50, "runs": 2}
    assert runner.scaled(config) is config
