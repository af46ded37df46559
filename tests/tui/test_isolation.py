"""The library never imports the UI."""

import subprocess
import sys


def test_import_tfls_leaves_textual_out():
    code = (
        "import sys, tfls, tfls.attacks, tfls.eval, tfls.training, tfls.data\n"
        "ui = ('textual', 'textual.', 'tui')\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith(ui[1:]))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
