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
