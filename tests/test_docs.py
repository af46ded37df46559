"""The docs are executable: every code block of the README, recipes/README.md and docs/ runs here.

Blocks run in document order in one workspace (`ws/repo`, with `ws/shared/data` linking the
offline data, so the README's relative `../shared/data` holds), each command in this process:
`tfls ...` through `tfls.cli.main.main`, `python -m tfls.recipes.X` through the recipe's `main`,
`python -c` by `exec`, `tfls-tui` headless (its first screen shown, then quit), Python blocks by
`exec`. Long runs get smaller flags, and the block names them in a comment starting
`# tests/test_docs.py runs` (the test fails if a block does not name what it is run with). The
set-up lines (`python3 -m venv`, `. .venv/bin/activate`, `pip install`) and the test command are
what `.ci/run` itself runs in a fresh clone; a command under a comment saying "not run by
tests/test_docs.py" (it needs a network, a GPU, or data this machine cannot have) has its command
line parsed but is not run. Every command and option named in the prose exists.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "recipes" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DATA = Path(os.environ.get("TFLS_DATA_DIR") or ROOT.parent / "shared" / "data")
MARK = "tests/test_docs.py runs"
NOT_RUN = "not run by tests/test_docs.py"
COMMAND_WORDS = ("tfls", "tfls-tui", "python", "python3", "pip", ".", "source", "export")


@dataclass
class Block:
    doc: Path
    line: int
    lang: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    @property
    def marks(self) -> str:
        """The block's own comments on how this test runs it, each comment's lines joined."""
        return " ".join(c for c in comment_groups(self.text) if MARK in c)

    @property
    def runnable(self) -> bool:
        if self.lang in ("bash", "sh", "shell", "python"):
            return True
        if self.lang:
            return False
        first = next((ln for ln in self.text.splitlines() if ln.strip()), "")
        return first.split()[0] in COMMAND_WORDS if first.split() else False


@dataclass
class Command:
    argv: list[str]
    env: dict = field(default_factory=dict)
    not_run: str | None = None  # the reason, from the comment above it


def comment_groups(text: str) -> list[str]:
    """Runs of whole-line `#` comments, each joined into one line without the `#`s."""
    groups, current = [], []
    for ln in [*text.splitlines(), ""]:
        if ln.strip().startswith("#"):
            current.append(ln.strip().lstrip("#").strip())
        elif current:
            groups.append(" ".join(current))
            current = []
    return groups


def blocks(doc: Path) -> list[Block]:
    out, lines = [], doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if m:
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            out.append(Block(doc, i + 1, m.group(1), "\n".join(lines[i + 1 : j])))
            i = j
        i += 1
    return out


ALL = [b for doc in DOCS for b in blocks(doc)]


def commands(text: str) -> list[Command]:
    """Shell lines → commands: comments dropped, `\\` continuations and open quotes joined,
    `&&` chains split, leading `VAR=value` kept as that command's environment."""
    out, pending, note, comment = [], "", None, []
    for raw in text.splitlines():
        if not pending and raw.strip().startswith("#"):
            comment.append(raw.strip().lstrip("#").strip())
            continue
        if comment:  # a comment above commands: it says whether they run, until a blank line
            joined = " ".join(comment)
            note, comment = (joined if NOT_RUN in joined else None), []
        if not pending and not raw.strip():
            note = None
            continue
        pending += raw
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        try:
            words = shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the command goes on over the next line
            pending += "\n"
            continue
        pending = ""
        if not words:
            continue
        chain = [[]]
        for w in words:
            if w == "&&":
                chain.append([])
            else:
                chain[-1].append(w)
        for argv in chain:
            env = {}
            while argv and re.match(r"^[A-Z_][A-Z0-9_]*=", argv[0]):
                key, value = argv.pop(0).split("=", 1)
                env[key] = value
            out.append(Command(argv, env, note))
    assert not pending, f"unterminated command: {pending!r}"
    return out


# -- what a command is, and the smaller flags this test runs it with ---------------------------


def kind(argv: list[str]) -> str:
    if argv[:1] in (["python3"], ["python"]) and argv[1:3] == ["-m", "venv"]:
        return "setup"
    if argv[:1] in (["."], ["source"]) or argv[:1] == ["pip"] or argv[1:3] == ["-m", "pip"]:
        return "setup"
    if argv[:1] == ["export"]:
        return "export"
    if argv[1:3] == ["-m", "pytest"]:
        return "tests"
    if argv[:1] == ["tfls"]:
        return f"tfls {argv[1]}"
    if argv[:1] == ["tfls-tui"]:
        return "tfls-tui"
    if argv[:2] == ["python", "-c"]:
        return "python -c"
    if argv[:2] == ["python", "-m"] and argv[2].startswith("tfls.recipes."):
        scale = argv[argv.index("--scale") + 1] if "--scale" in argv else "smoke"
        if scale != "smoke" or "--dry-run" in argv:
            return "recipe plan"
        return "recipe smoke"
    raise AssertionError(f"a command this test does not know how to run: {argv}")


# Appended (argparse: the last value wins); the block's own comment must name them.
SMALLER = {
    "tfls train": ["--epochs", "1", "--limit", "64", "--attack-steps", "1"],
    "tfls eval": ["--n", "8"],
    "tfls audit": ["--n", "24"],
    "recipe plan": ["--plan"],  # cpu and paper scale, dry runs: the plan resolved, checked, shown
}


# -- running ------------------------------------------------------------------------------------


@contextlib.contextmanager
def inside(ws: Path, env: dict):
    old_cwd, old_env = Path.cwd(), dict(os.environ)
    os.chdir(ws)
    os.environ.update(env)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)


def tfls_parser() -> argparse.ArgumentParser:
    from tfls.cli.main import build_parser

    return build_parser()


def parse_only(argv: list[str]) -> None:
    """The command line is valid: its command exists and argparse accepts every option."""
    if argv[0] == "tfls":
        tfls_parser().parse_args(argv[1:])
    elif argv[0] == "tfls-tui":
        from tui.app import build_parser

        build_parser().parse_args(argv[1:])
    elif argv[:2] == ["python", "-c"]:
        compile(argv[2], "<python -c>", "exec")
    elif argv[:2] == ["python", "-m"] and argv[2].startswith("tfls.recipes."):
        recipe_parser(argv[2]).parse_args(argv[3:])
    else:
        raise AssertionError(f"cannot parse {argv}")


def recipe_parser(module: str) -> argparse.ArgumentParser:
    name = module.removeprefix("tfls.recipes.")
    if name == "sweep":
        from tfls.recipes.sweep import build_parser

        return build_parser()
    from tfls.recipes.cli import parser

    return parser(name)


def run(cmd: Command, ws: Path, state: dict) -> str:
    """Runs one command in the workspace; returns what it printed. Fails on a non-zero exit."""
    argv, k = list(cmd.argv), kind(cmd.argv)
    if k in ("setup", "tests"):
        return ""
    if k == "export":
        for item in argv[1:]:
            key, value = item.split("=", 1)
            state[key] = value
        return ""
    argv += SMALLER.get(k, [])
    if cmd.not_run:
        parse_only(argv)
        return ""
    printed = io.StringIO()
    with inside(ws, {**state, **cmd.env}), contextlib.redirect_stdout(printed):
        if k.startswith("tfls "):
            from tfls.cli.main import main

            code = main(argv[1:])
        elif k == "tfls-tui":
            code = asyncio.run(_tui(argv[1:]))
        elif k == "python -c":
            exec(compile(argv[2], "<python -c>", "exec"), {"__name__": "__main__"})
            code = 0
        else:
            module = argv[2]
            if module == "tfls.recipes.sweep":
                from tfls.recipes.sweep import main as recipe_main

                code = recipe_main(argv[3:])
            else:
                from tfls.recipes.cli import main as cli_main

                code = cli_main(module.removeprefix("tfls.recipes."), argv[3:])
    assert code in (0, None), f"{shlex.join(argv)} exited {code}:\n{printed.getvalue()[-3000:]}"
    return printed.getvalue()


async def _tui(argv) -> int:
    from tui.app import TflsApp, parse_args
    from tui.backend import Backend

    args = parse_args(argv)
    backend = Backend(data_dir=args.data_dir, cache_dir=args.cache_dir)
    app = TflsApp(args.runs, backend=backend, results_dir=args.results)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.screen is not None
        await pilot.press("q")
    return 0


def shrink_python(block: Block) -> str:
    """`# tests/test_docs.py runs this with limit=64`: keyword values replaced, as named."""
    text = block.text
    m = re.search(re.escape(MARK) + r" this with ([^#\n]+)", text)
    if m:
        for name, value in re.findall(r"(\w+)=([\w./]+)", m.group(1)):
            text, count = re.subn(rf"\b{name}=[\w./]+", f"{name}={value}", text)
            assert count >= 2, f"{block.id}: no {name}= to replace"  # the comment counts once
    return text


# -- the tests ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A fresh clone's view: `ws/repo` (the working folder), `ws/shared/data` (the offline data)."""
    if not DATA.is_dir():
        pytest.skip(f"the offline data folder is missing: {DATA}")
    ws = tmp_path_factory.mktemp("ws")
    (ws / "shared").mkdir()
    (ws / "shared" / "data").symlink_to(DATA.resolve(), target_is_directory=True)
    repo = ws / "repo"
    repo.mkdir()
    # Recipes cache trained models under ./runs/recipes, as in a fresh clone.
    return {"path": repo, "env": {"TFLS_CACHE_DIR": str(ws / "cache")}}


RUNNABLE = [b for b in ALL if b.runnable]
TIMES: list[
    tuple[str, str, float]
] = []  # (block, command, seconds): `python -m pytest -s` prints them


@pytest.fixture(scope="module", autouse=True)
def _print_times():
    yield
    for where, command, seconds in TIMES:
        print(f"{seconds:7.1f} s  {where}  {command}", file=sys.__stderr__)


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.id)
def test_every_runnable_block_runs(block, workspace):
    ws, state = workspace["path"], workspace["env"]
    if block.lang == "python":
        text = shrink_python(block)
        with inside(ws, state):
            exec(compile(text, block.id, "exec"), {"__name__": "__main__"})
        return
    cmds = commands(block.text)
    assert cmds, f"{block.id}: no command in a shell block"
    for cmd in cmds:
        flags = SMALLER.get(kind(cmd.argv))
        if flags and not cmd.not_run:
            named = " ".join(flags)
            assert named in block.marks, (
                f"{block.id}: the test runs `{shlex.join(cmd.argv[:2])}` with {named}; "
                f"the block must say so in a comment `# {MARK} ... {named}`"
            )
        started = time.perf_counter()
        run(cmd, ws, state)
        TIMES.append((block.id, shlex.join(cmd.argv)[:90], time.perf_counter() - started))


@pytest.mark.parametrize("block", [b for b in ALL if b.lang == "toml"], ids=lambda b: b.id)
def test_every_toml_block_parses(block):
    tomllib.loads(block.text)


def test_only_diagrams_are_left_unrun():
    """A block is run, parsed (TOML) or a picture: no command hides in an untagged block."""
    for b in ALL:
        if b.runnable or b.lang == "toml":
            continue
        words = {ln.split()[0] for ln in b.text.splitlines() if ln.split()}
        assert not words & {"tfls", "tfls-tui", "python", "pip"}, f"{b.id} looks runnable"


# -- commands and options named in the prose --------------------------------------------------

PLACEHOLDERS = {"tableN": "table1", "<name>": "table1", "<recipe>": "table1"}


def named_commands() -> list[tuple[str, list[str]]]:
    """Every backticked `tfls …`, `tfls-tui …` or `python -m tfls.…` in the docs' prose."""
    found = []
    for doc in DOCS:
        text = re.sub(r"^```.*?^```", "", doc.read_text(encoding="utf-8"), flags=re.S | re.M)
        for span in re.findall(r"`([^`]+)`", text):
            words = span.split()
            if not words or words[0] not in ("tfls", "tfls-tui", "python"):
                continue
            if words[0] == "python" and words[1:2] != ["-m"]:
                continue
            if any(w.endswith(":") for w in words[:2]):  # a message the tool prints
                continue
            found.append((f"{doc.name}: `{span}`", words))
    return found


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}


def _subparsers(parser):
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            return a.choices
    return {}


@pytest.mark.parametrize(
    "where, words", named_commands(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_command_and_option_the_docs_name_exists(where, words):
    import importlib.util

    if words[0] == "python":
        module = words[2]
        for k, v in PLACEHOLDERS.items():
            module = module.replace(k, v)
        assert importlib.util.find_spec(module) is not None, f"{where}: no module {module}"
        parser = (
            recipe_parser(module)
            if module.startswith("tfls.recipes.") and module not in ("tfls.recipes.demo",)
            else None
        )
        rest = words[3:]
    elif words[0] == "tfls-tui":
        from tui.app import build_parser

        parser, rest = build_parser(), words[1:]
    else:
        parser, rest = tfls_parser(), words[1:]
        while rest and _subparsers(parser) and not rest[0].startswith(("-", "<")):
            choices = _subparsers(parser)
            assert rest[0] in choices, f"{where}: `{rest[0]}` is not a command of {parser.prog}"
            parser, rest = choices[rest[0]], rest[1:]
    if parser is None:
        return
    known = _options(parser)
    for w in rest:
        if w.startswith("--"):
            option = w.split("=")[0].strip("[]")
            assert option in known, f"{where}: {parser.prog} has no option {option}"


def test_smaller_flags_exist():
    """The flags this test appends are real options of the commands it appends them to."""
    assert {"--epochs", "--limit"} <= _options(_subparsers(tfls_parser())["train"])
    assert "--n" in _options(_subparsers(tfls_parser())["eval"])
    assert "--n" in _options(_subparsers(tfls_parser())["audit"])
    assert "--plan" in _options(recipe_parser("tfls.recipes.table4"))
    assert "--plan" in _options(recipe_parser("tfls.recipes.sweep"))


if __name__ == "__main__":  # list what would run
    for b in ALL:
        print(b.id, b.lang or "-", "run" if b.runnable else "not run", file=sys.stderr)
