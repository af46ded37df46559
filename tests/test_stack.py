"""The stack, enforced: every import in `tfls/` and `tui/` points down `STACK`, and no modules
import each other in a loop. Imports inside functions count: a lazy import is still an arrow.

`docs/design.md` ("The stack") draws the same floors, one line a package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A module may import its own floor's modules and any floor below, never above.
STACK = (
    # the foundation: argument checks, atomic files, hashes, names, exits, statistics
    (
        "tfls",
        "tfls._validation",
        "tfls.io",
        "tfls.hashing",
        "tfls.names",
        "tfls.startup",
        "tfls.analysis",
        "tfls.exits",
        "tfls.provenance",
        "tfls.distribute",
        "tfls.stats",
    ),
    ("tfls.data",),
    ("tfls.models",),  # the zoo, loading, wrapping, defences, and the run folder's format
    ("tfls.attacks",),
    ("tfls.model_options",),  # an outside model and its data, checked (the CLIs' and app's)
    ("tfls.checks",),  # the cheap model checks `evaluate` runs and the audit builds on
    ("tfls.eval",),
    ("tfls.training",),  # Madry and TRADES need attacks; the trainer's bench needs eval
    ("tfls.audit",),
    ("tfls.external",),
    ("tfls.recipes",),
    ("tfls.bench",),  # every benchmark, the audit's fixture bench included
    ("tfls.cli",),
    ("tui",),
)
FLOOR = {unit: i for i, floor in enumerate(STACK) for unit in floor}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def unit_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "tui":
        return "tui"
    return ".".join(parts[:2]) if len(parts) > 1 else "tfls"


MODULES = {
    module_name(p): p for p in sorted([*ROOT.glob("tfls/**/*.py"), *ROOT.glob("tui/**/*.py")])
}


def imports(module: str) -> list[tuple[str, int]]:
    """`(imported module, line)` for every tfls/tui import in `module`, at any depth."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for a in node.names:  # `from pkg import submodule` names the submodule
                sub = f"{source}.{a.name}"
                found.append((sub if sub in MODULES else source, node.lineno))
    return [(m, line) for m, line in found if m.split(".")[0] in ("tfls", "tui")]


def resolve(name: str) -> str:
    """The module a dotted name lives in (`tfls.models.wrap.ThreatModel` → `tfls.models.wrap`)."""
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    return name


EDGES = {m: sorted({(resolve(t), line) for t, line in imports(m)} - {(m, 0)}) for m in MODULES}


def test_every_unit_has_a_floor():
    missing = sorted({unit_of(m) for m in MODULES} - set(FLOOR))
    assert not missing, f"modules outside STACK (give them a floor): {missing}"


def test_every_import_points_down_the_stack():
    up = [
        f"{MODULES[m].relative_to(ROOT)}:{line} imports {t} "
        f"({unit_of(m)} is floor {FLOOR[unit_of(m)]}, {unit_of(t)} floor {FLOOR[unit_of(t)]})"
        for m, edges in EDGES.items()
        for t, line in edges
        if FLOOR.get(unit_of(t), -1) > FLOOR[unit_of(m)]
    ]
    assert not up, "imports that run up the stack:\n" + "\n".join(up)


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), edges from a package's
    `__init__` to its own submodules included."""
    graph = {m: sorted({t for t, _ in EDGES[m] if t != m}) for m in MODULES}
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_modules_import_each_other_in_a_loop():
    cycles = _cycles()
    assert not cycles, "import loops:\n" + "\n".join(" ↔ ".join(c) for c in cycles)


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import tfls.cli.main\n", "up"),
        ("def f():\n    from tfls.audit import audit\n", "up"),
        ("from tfls.io import atomic_write_json\n", "down"),
    ],
)
def test_the_check_sees_lazy_imports(tmp_path, monkeypatch, source, expected):
    """The checker itself: an import inside a function is found, and its direction judged."""
    fake = ROOT / "tfls" / "data" / "_stack_probe.py"
    monkeypatch.setitem(MODULES, "tfls.data._stack_probe", fake)
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: source)
    (target,) = {t for t, _ in imports("tfls.data._stack_probe")}
    direction = "up" if FLOOR[unit_of(resolve(target))] > FLOOR["tfls.data"] else "down"
    assert direction == expected
