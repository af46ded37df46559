"""One home, one name: every module says what it is for, stays short, and has a name of its own.

A basename may repeat only where it names the same role in parallel packages (`SHARED`), e.g. the
CLI's `train` command and the app's `train` screen; anywhere else two modules of one name are two
things a reader confuses.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted([*ROOT.glob("tfls/**/*.py"), *ROOT.glob("tui/**/*.py")])
MAX_LINES = 400

# Basename → the modules that share it, and the role they share.
SHARED = {
    "audit.py": (
        {"tfls/audit/audit.py", "tfls/cli/audit.py", "tui/screens/audit.py"},
        "the audit; its CLI command; its screen",
    ),
    "train.py": ({"tfls/cli/train.py", "tui/screens/train.py"}, "a CLI command and its screen"),
    "main.py": (
        {"tfls/cli/main.py", "tui/screens/main.py"},
        "the CLI's entry, the app's first screen",
    ),
    "registry.py": (
        {"tfls/data/registry.py", "tfls/attacks/registry.py"},
        "names → datasets, names → attack classes",
    ),
    "autoattack.py": (
        {"tfls/attacks/autoattack.py", "tfls/bench/autoattack.py"},
        "the attack; its benchmark (as tfls/bench/<what>.py benches <what>)",
    ),
}


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_no_module_is_over_400_lines():
    long = {
        _rel(p): n
        for p in MODULES
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split them by concept): {long}"


def test_every_module_opens_with_what_it_is_for():
    missing = [
        _rel(p)
        for p in MODULES
        if p.read_text(encoding="utf-8").strip()
        and not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))
    ]
    assert not missing, f"modules without a first-line docstring: {missing}"


def test_a_module_name_repeats_only_for_one_role_in_parallel_packages():
    by_name = defaultdict(set)
    for p in MODULES:
        if p.name not in ("__init__.py", "__main__.py"):
            by_name[p.name].add(_rel(p))
    repeated = {name: paths for name, paths in by_name.items() if len(paths) > 1}
    unexplained = {n: sorted(p) for n, p in repeated.items() if p != SHARED.get(n, (set(),))[0]}
    assert not unexplained, (
        f"two modules of one name (rename one, or say why in SHARED): {unexplained}"
    )
    stale = sorted(set(SHARED) - set(repeated))
    assert not stale, f"SHARED names no longer shared (remove them): {stale}"
