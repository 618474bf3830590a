"""The ``nagd`` command line: errors, list, report, and section 2 end to end."""
import os
import subprocess
import sys

import pytest

import nagd.experiments
from nagd.experiments import cli, runner


def test_unknown_target_is_a_one_line_error(tmp_path, capsys):
    rc = cli.main(["reproduce", "no_such_table", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1
    assert "unknown target 'no_such_table'; valid targets:" in err and "all" in err
    for target in runner.targets(runner.load_sections()):
        assert target in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_out_is_a_one_line_error(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        rc = cli.main(["reproduce", "all", "--quick", "--out", str(locked / "sub")])
    finally:
        locked.chmod(0o700)
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "is not a writable folder" in err


def test_out_that_is_a_file_is_a_one_line_error(tmp_path, capsys):
    # works as root too: a regular file cannot be used as a folder
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    rc = cli.main(["reproduce", "all", "--quick", "--out", str(blocker)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert f"--out {str(blocker)!r} is not a writable folder" in err


def test_report_of_missing_out_is_a_one_line_error(tmp_path, capsys):
    rc = cli.main(["report", "--out", str(tmp_path / "nothing")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "does not exist" in err


@pytest.mark.parametrize("argv", [["reproduce"], ["reproduce", "all", "--jobs", "0"], ["frobnicate"]])
def test_argparse_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2


def test_list_shows_every_target(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for target in runner.targets(runner.load_sections()):
        assert target in out
    assert "all" in out


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "nagd.experiments.cli", "list"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.skipif("simple" not in nagd.experiments.SECTIONS, reason="section 2 not registered")
def test_reproduce_section2_quick_end_to_end(tmp_path, capsys):
    out = tmp_path / "res"
    rc = cli.main(["reproduce", "table1", "table2", "fields", "--quick", "--jobs", "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    text = (out / "REPORT.md").read_text()
    assert "Table 1" in text and "Table 2" in text and "quick" in text
    for name in ("table1.csv", "table2.csv", "table1.md", "table2.md", "fig1.png", "fig2.png", "fig3.png"):
        assert (out / "simple" / name).stat().st_size > 0, name
    assert "simple/fig1.png" in text
    # a second call finds everything stored and recomputes nothing
    rc = cli.main(["reproduce", "table1", "table2", "fields", "--quick", "--jobs", "1", "--out", str(out)])
    assert rc == 0 and " 0 runs done, 13 already stored" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------
# Progress, --version, list estimates, help texts


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"nagd {nagd.__version__}"


@pytest.mark.parametrize("option", ["--runs", "--epochs"])
@pytest.mark.parametrize("command", ["reproduce", "report"])
def test_scale_help_names_every_target_it_applies_to(command, option, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())      # undo argparse's line wrapping
    sections = runner.load_sections()
    applies = [t for t, (s, _) in runner.targets(sections).items()
               if option[2:] in getattr(sections[s], "SCALABLE", ())]
    assert applies
    help_text = text.split(f"{option} N ", 1)[1].split(" --", 1)[0]
    for target in applies:
        assert target in help_text.replace(",", " ").split(), (target, help_text)
    assert "<targets of" not in text


def test_plural_and_durations():
    from nagd.experiments.progress import format_duration, plural
    assert plural(1, "run") == "1 run" and plural(0, "run") == "0 runs" and plural(2, "run") == "2 runs"
    assert [format_duration(s) for s in (0.4, 59, 99, 100, 3599, 5900, 6000, 7 * 3600 + 5 * 60, 3 * 86400)] == \
        ["0 s", "59 s", "99 s", "2 min", "60 min", "98 min", "1 h 40 min", "7 h 05 min", "3 d 0 h"]


def test_list_grammar_and_no_estimate_without_stored_runs(tmp_path, capsys):
    assert cli.main(["list", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "(1 runs" not in out and "1 run;" in out          # the target 'fields' has one run
    assert "~" not in out.split("\n--")[0] and "no time estimates" in out
    total = len(runner.plan(runner.load_sections(), ["all"]))
    assert f"every target above  ({total} runs;" in out


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_line_progress_counts_and_estimates_time_left():
    import io

    from nagd.experiments.progress import LineProgress
    clock, stream = FakeClock(), io.StringIO()
    bar = LineProgress(10, "table1", stream, initial=2, every=30.0, clock=clock)
    bar.close()                                  # no heartbeat thread in this test: lines from updates only
    clock.t += 20
    bar.update()                                 # the first finished run: always a line
    clock.t += 20
    bar.update()                                 # 20 s after the last line < 30 s: none
    clock.t += 20
    bar.update()                                 # 40 s after: a line
    for _ in range(5):
        bar.update()                             # the last one: always a line
    lines = stream.getvalue().splitlines()
    assert lines == ["nagd: table1: 8 runs to do, 2 of 10 already stored",
                     "nagd: table1: 3/10 runs done, 20 s elapsed, about 2 min left",   # 20 s a run, 7 left
                     "nagd: table1: 5/10 runs done, 60 s elapsed, about 2 min left",   # 20 s a run, 5 left
                     "nagd: table1: 10/10 runs done, 60 s elapsed, none left"]


def test_line_progress_every_zero_writes_a_line_per_run():
    import io

    from nagd.experiments.progress import LineProgress
    stream = io.StringIO()
    bar = LineProgress(3, "x", stream, every=0)
    for _ in range(3):
        bar.update()
    bar.close()
    assert [line.split(" runs done")[0] for line in stream.getvalue().splitlines()[1:]] == \
        ["nagd: x: 1/3", "nagd: x: 2/3", "nagd: x: 3/3"]


def test_line_progress_heartbeat_while_no_run_finishes():
    import io
    import time

    from nagd.experiments.progress import LineProgress
    stream = io.StringIO()
    bar = LineProgress(2, "slow", stream, every=0.05)
    time.sleep(0.5)
    bar.close()
    beats = stream.getvalue().splitlines()[1:]
    assert len(beats) >= 3
    assert all(b.startswith("nagd: slow: 0/2 runs done") and b.endswith("time left unknown until a run finishes")
               for b in beats)


def _tty(columns):
    """A pseudo-terminal (master, slave file) whose window is `columns` wide."""
    import fcntl
    import pty
    import struct
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    return master, os.fdopen(slave, "w")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pseudo-terminals as on Linux")
@pytest.mark.parametrize("columns", [80, 0])
def test_a_terminal_gets_a_bar_unless_it_reports_0_columns(columns):
    import io

    from nagd.experiments.progress import LineProgress, open_progress
    master, term = _tty(columns)
    try:
        piped = io.StringIO()
        # stdout and stderr on the terminal: a bar, or lines on a terminal of 0 columns
        shown = open_progress(3, "t", out=term, err=term, every=0)
        shown.update(3)
        shown.close()
        if columns:
            assert type(shown).__name__ == "tqdm"
        else:
            assert isinstance(shown, LineProgress)
        # stdout to a file (nagd reproduce ... > log): lines there, and the bar on the terminal if it has one
        shown = open_progress(3, "t", out=piped, err=term, every=0)
        shown.update(3)
        shown.close()
        assert "nagd: t: 3/3 runs done" in piped.getvalue()
        assert (type(shown).__name__ == "_Both") == bool(columns)
    finally:
        term.close()
        os.close(master)


def test_piped_reproduce_prints_progress_lines(tmp_path):
    out = tmp_path / "res"
    proc = subprocess.run([sys.executable, "-m", "nagd.experiments.cli", "reproduce", "table1", "--quick",
                           "--jobs", "1", "--progress-every", "0", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "nagd: table1: 6 runs to do"
    progress = [line for line in lines if " runs done, " in line and "elapsed" in line]
    assert [line.split(" runs done")[0] for line in progress] == [f"nagd: table1: {i}/6" for i in range(1, 7)]
    assert "left" in progress[0] and progress[-1].endswith("none left")
    assert "nagd: 6 runs done, 0 already stored, 0 failed" in proc.stdout
    # With runs stored, `nagd list` estimates the target's time from them
    listed = subprocess.run([sys.executable, "-m", "nagd.experiments.cli", "list", "--out", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("table1 "))
    assert "(24 runs; with --quick 6 runs ~" in row
    assert "computing time on this machine" in listed.stdout


def test_progress_every_must_be_non_negative(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["reproduce", "table1", "--progress-every", "-1"])
    assert exc.value.code == 2 and "--progress-every must be a non-negative number" in capsys.readouterr().err
