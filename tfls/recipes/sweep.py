"""Sweeps a recipe over a grid of `--set` overrides; tabulates every point's claims and measures.

Run: `python -m tfls.recipes.sweep table1 --scale cpu --grid train.epochs=[4,8,16]
--grid eps=[0.03,0.1] --out results/sweeps/table1`. Points run one after another (models are
cached by configuration, so points sharing a model train it once); a point whose `results.json`
exists is read, not rerun, so an interrupted sweep continues where it stopped.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from pathlib import Path

from tfls import io
from tfls.exits import run_command
from tfls.recipes.overrides import parse_override
from tfls.recipes.schema import RECIPES, SCALES
from tfls.recipes.write_results import claim_name


def parse_grid(items) -> list[tuple[str, list]]:
    """`["train.epochs=[4, 8]", "eps=0.1"]` → `[("train.epochs", [4, 8]), ("eps", [0.1])]`."""
    grid = []
    for item in items:
        path, value = parse_override(item)
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ValueError(f"A grid axis needs at least one value. Received: {item!r}")
        grid.append((".".join(path), values))
    return grid


def points(grid) -> list[list[str]]:
    """Every combination of the grid as a list of `key=value` overrides."""
    keys = [k for k, _ in grid]
    combos = itertools.product(*[vals for _, vals in grid]) if grid else [()]
    return [[f"{k}={_toml(v)}" for k, v in zip(keys, combo, strict=True)] for combo in combos]


def _toml(value) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def slug(overrides: list[str]) -> str:
    text = "_".join(overrides) or "base"
    return re.sub(r"[^A-Za-z0-9._=@-]+", "-", text).strip("-")[:120]


def run_sweep(
    recipe, *, scale, grid, out, base_overrides=(), rerun=False, log=print, **kwargs
) -> list[dict]:
    """Runs `recipe` at every grid point; writes `out/sweep.json` and `out/sweep.md`."""
    from tfls.recipes.pipeline import run_recipe

    out = Path(out)
    rows = []
    all_points = points(grid)
    for i, overrides in enumerate(all_points, 1):
        folder = out / slug(overrides)
        log(f"[{i}/{len(all_points)}] {recipe} {' '.join(overrides)}")
        done = folder / "results.json"
        if done.is_file() and not rerun and not kwargs.get("plan_only"):
            results = json.loads(done.read_text(encoding="utf-8"))
        else:
            results = run_recipe(
                recipe,
                scale=scale,
                out=folder,
                overrides=[*base_overrides, *overrides],
                log=log,
                **kwargs,
            )
        if "plan" in results:  # --plan: each point's plan, nothing trained or written
            rows.append({"overrides": overrides, "folder": str(folder), "plan": results["plan"]})
            continue
        rows.append(
            {
                "overrides": overrides,
                "folder": str(folder),
                "claims": {claim_name(c): c["verdict"] for c in results["claims"]},
                "measures": results["measures"],
                "wall_time_s": results.get("wall_time_s"),
            }
        )
        _write(out, recipe, scale, rows, base_overrides)
    return rows


def _write(out: Path, recipe, scale, rows, base_overrides) -> None:
    io.atomic_write_json(
        out / "sweep.json",
        {"recipe": recipe, "scale": scale, "base_overrides": list(base_overrides), "points": rows},
    )
    claim_ids = sorted({c for r in rows for c in r["claims"]})
    measure_keys = sorted({(m, k) for r in rows for m, ms in r["measures"].items() for k in ms})
    head = ["point", *claim_ids, *[f"{m}/{k}" for m, k in measure_keys], "time (s)"]
    lines = [
        f"# Sweep of {recipe} at scale {scale}",
        "",
        f"Base overrides: {list(base_overrides)}",
        "",
    ]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [" ".join(r["overrides"]) or "base"]
        cells += [r["claims"].get(c, "–") for c in claim_ids]
        for m, k in measure_keys:
            val = r["measures"].get(m, {}).get(k)
            cells.append(
                "–"
                if val is None
                else (
                    f"{val:.2f}" if k.startswith(("logit", "mean_margin")) else f"{100 * val:.1f}"
                )
            )
        cells.append(str(r.get("wall_time_s", "")))
        lines.append("| " + " | ".join(cells) + " |")
    io.atomic_write_text(out / "sweep.md", "\n".join(lines) + "\n")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tfls.recipes.sweep", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("recipe", choices=RECIPES)
    p.add_argument("--scale", choices=SCALES, default="cpu")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=[V1,V2,...]",
        help="one axis of the grid (values as a TOML array); repeat for more axes",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override applied at every point",
    )
    p.add_argument("--out", required=True)
    p.add_argument("--cache", default=None)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--rerun", action="store_true", help="rerun points that already have results")
    p.add_argument(
        "--plan",
        action="store_true",
        help="print every point's plan (models to train, attacks, output); train and write nothing",
    )
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(
        "python -m tfls.recipes.sweep",
        lambda: run_sweep(
            args.recipe,
            scale=args.scale,
            grid=parse_grid(args.grid),
            out=args.out,
            base_overrides=args.overrides,
            rerun=args.rerun,
            cache_dir=args.cache,
            data_dir=args.data_dir,
            plan_only=args.plan,
            log=lambda line: print(line, flush=True),
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
