"""The recipe command line: `--help` answers without starting TensorFlow."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import contextlib, io, sys
from tfls.recipes import table4
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        table4.main(["--help"])
    except SystemExit as e:
        assert e.code == 0, e.code
assert "--scale" in out.getvalue() and "PGD" in out.getvalue(), out.getvalue()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
print("HEAVY", heavy)
"""


def test_help_does_not_import_tensorflow():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout, result.stdout
