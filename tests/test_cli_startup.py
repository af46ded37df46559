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
