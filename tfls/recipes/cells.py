"""A recipe as independent jobs: its cells (one trained model, measured), their commands, and
running them as local processes (`--jobs N`).

A cell trains one model configuration (and the transfer sources its attacks craft on) into the
model cache, then runs that model's evaluations and audit into the recipe's output folder. Both
are keyed by content and safe to share: the cache trains each configuration once under a lock
and writes it atomically (`tfls.training.model_cache`), and every evaluation and audit folder is
named by what it holds and resumable. The recipe run after the cells only assembles: it finds
every model trained and every evaluation finished, and writes the tables, plots and claims.

`--plan` writes `cells.json` (each cell's id, models, seed, `config_hash`, cache folder and
command) and `cells.txt` (one command a line, as GNU parallel, a Slurm job array or a Kubernetes
indexed job takes it: line `i + 1` is cell `i`).
"""

from __future__ import annotations

import dataclasses
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tfls import io
from tfls.recipes import seeds as seeds_mod
from tfls.recipes.configs import train_config
from tfls.recipes.measure import attacks_for
from tfls.recipes.plan import Plan


@dataclasses.dataclass(frozen=True)
class Cell:
    """One job: the rows of one model configuration at one seed, and the models they need."""

    index: int
    seed: int
    models: tuple[str, ...]  # the rows measured (rows of one configuration share the cell)
    needs: tuple[str, ...]  # every model id trained or loaded: the rows and their sources
    config_hash: str
    cache: str


def cells(plan: Plan, seed_list: list[int], *, cache_dir=None, data_dir=None) -> list[Cell]:
    """The recipe's independent cells, in the order the sequential run trains them."""
    from tfls.training.model_cache import config_hash, run_dir_of

    out: list[Cell] = []
    for seed in seed_list:
        splan = seeds_mod.with_seed(plan, seed) if len(seed_list) > 1 else plan
        by_group = {m.group: m.id for m in splan.models}
        rows: dict[str, list] = {}
        for m in splan.models:
            if m.evaluate or splan.kind == "logits":
                config = train_config(m, data_dir=data_dir)
                rows.setdefault(config_hash(config), [config, []])[1].append(m)
        for digest, (config, members) in rows.items():
            sources = [
                by_group[a.source] for m in members for a in attacks_for(splan, m) if a.source
            ]
            ids = [m.id for m in members]
            out.append(
                Cell(
                    index=len(out),
                    seed=seed,
                    models=tuple(ids),
                    needs=tuple(dict.fromkeys(ids + sources)),
                    config_hash=digest,
                    cache=str(run_dir_of(config, cache_dir=cache_dir)),
                )
            )
    return out


def sub_plan(plan: Plan, seed_list: list[int], cell: Cell) -> Plan:
    """The plan at `cell`'s seed, cut to the models it needs (only its own rows evaluated)."""
    splan = seeds_mod.with_seed(plan, cell.seed) if len(seed_list) > 1 else plan
    models = tuple(
        m if m.id in cell.models else dataclasses.replace(m, evaluate=False)
        for m in splan.models
        if m.id in cell.needs
    )
    return dataclasses.replace(splan, models=models)


def command(recipe: str, argv: list[str], index: int) -> str:
    """The shell command that runs cell `index`: the recipe's own arguments plus `--cell`."""
    return shlex.join(["python", "-m", f"tfls.recipes.{recipe}", *cell_args(argv, index)])


def cell_args(argv: list[str], index: int) -> list[str]:
    """The recipe's arguments for cell `index`: `--plan`, `--jobs N` and any `--cell` dropped."""
    kept = _without(_without([a for a in argv if a != "--plan"], "--jobs"), "--cell")
    return [*kept, "--cell", str(index)]


def write_cells(all_cells: list[Cell], *, recipe: str, argv: list[str], out: Path, log) -> None:
    """`out/cells.json` and `out/cells.txt` (atomic), for a scheduler to run as they are."""
    out.mkdir(parents=True, exist_ok=True)
    entries = [
        {**dataclasses.asdict(c), "command": command(recipe, argv, c.index)} for c in all_cells
    ]
    # Relative paths in the commands are the caller's: run them from `cwd`.
    io.atomic_write_json(
        out / "cells.json", {"recipe": recipe, "cwd": str(Path.cwd()), "cells": entries}
    )
    io.atomic_write_text(out / "cells.txt", "".join(e["command"] + "\n" for e in entries))
    log(
        f"  {len(entries)} independent cells: wrote {out / 'cells.json'} and {out / 'cells.txt'} "
        "(one command a line; run them in any order or all at once, then the same command "
        "without --plan assembles)"
    )


def run_local(all_cells: list[Cell], *, recipe: str, argv: list[str], jobs: int, out: Path, log):
    """Runs every cell's command as a local process, `jobs` at a time; raises if one fails."""
    logs = out / "cells"
    logs.mkdir(parents=True, exist_ok=True)

    def run(cell: Cell) -> tuple[Cell, int]:
        cmd = [sys.executable, "-m", f"tfls.recipes.{recipe}", *cell_args(argv, cell.index)]
        with open(logs / f"{cell.index}.log", "w", encoding="utf-8") as f:
            return cell, subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for cell, code in pool.map(run, all_cells):
            log(f"  cell {cell.index} ({', '.join(cell.models)}, seed {cell.seed}): exit {code}")
            if code != 0:
                raise RuntimeError(
                    f"Cell {cell.index} ({', '.join(cell.models)}) failed with exit code {code}: "
                    f"see {logs / f'{cell.index}.log'}"
                )


def _without(argv: list[str], flag: str) -> list[str]:
    """`argv` without `flag` and its value (`--jobs 2` or `--jobs=2`)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == flag:
            skip = True
        elif not a.startswith(flag + "="):
            out.append(a)
    return out
