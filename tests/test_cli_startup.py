"""`tfls --help` and every `tfls <command> --help` answer without importing TensorFlow."""

import subprocess
import sys

import pytest

from tests.conftest import REPO

HELP_ARGS = ("--help", "train --help", "eval --help", "bench --help", "bench attacks --help")


@pytest.mark.parametrize("args", HELP_ARGS)
def test_help_leaves_tensorflow_and_keras_unimported(args):
    code = (
        "import sys\n"
        "from tfls.cli.main import main\n"
        "try:\n"
        f"    main({args.split()!r})\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "else:\n"
        "    raise AssertionError('--help did not exit')\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'textual') if m in sys.modules)\n"
        "print('heavy:', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage: tfls" in result.stdout
    assert "heavy: []" in result.stderr


def test_module_entry_point_prints_help():
    result = subprocess.run(
        [sys.executable, "-m", "tfls.cli.main", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage: tfls" in result.stdout
    for command in ("train", "eval", "bench"):
        assert command in result.stdout


def _stderr(*args, level: str | None = None):
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    result = subprocess.run(
        [sys.executable, "-m", "tfls.cli.main", *args],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, result.stderr


def test_tensorflow_start_up_lines_are_silent_unless_verbose():
    """A command that imports TensorFlow prints only its own line; --verbose shows TF's."""
    bad = ("eval", "--model", "m.keras", "--dataset", "fashion_mnist", "--attacks", "nosuch")
    code, err = _stderr(*bad, "--eps", "0.1", "--out", "never")
    assert code == 2, err
    assert (
        err.strip().splitlines()
        == [line for line in err.strip().splitlines() if line.startswith("tfls eval: error: ")]
        and len(err.strip().splitlines()) == 1
    ), err
    code, err = _stderr("--verbose", *bad, "--eps", "0.1", "--out", "never")
    assert code == 2 and len(err.strip().splitlines()) > 1, err  # TensorFlow's own lines too


@pytest.mark.parametrize("level, lines", [("3", "one"), ("2", "one"), ("0", "more")])
def test_the_users_log_level_is_respected(level, lines):
    """TF_CPP_MIN_LOG_LEVEL=2 or 3 asks for less (still one line); 0 asks for TensorFlow's lines."""
    bad = ("eval", "--model", "m.keras", "--dataset", "fashion_mnist", "--attacks", "nosuch")
    code, err = _stderr(*bad, "--eps", "0.1", "--out", "never", level=level)
    assert code == 2, err
    n = len(err.strip().splitlines())
    assert (n == 1) if lines == "one" else (n > 1), err
