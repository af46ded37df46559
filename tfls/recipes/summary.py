"""Gathers the claims checks of several recipe runs into one table.

Run: `python -m tfls.recipes.summary results/*-cpu --out results/CLAIMS.md`. Reads each folder's
`results.json` (as written by a recipe runner) and lists every claim verdict, ours and on the
paper's own numbers, ordered by claim id, with the numbers behind it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tfls import io
from tfls.recipes.write_results import claim_name, claims_with_paper


def load_runs(folders) -> list[dict]:
    """The `results.json` of each folder; a folder without one is an error naming it."""
    runs = []
    for folder in folders:
        path = Path(folder) / "results.json"
        if not path.is_file():
            raise FileNotFoundError(
                f"{folder} has no results.json: is it the --out folder of a recipe run?"
            )
        try:
            runs.append(json.loads(path.read_text(encoding="utf-8")))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON ({e}); rerun the recipe.") from None
    return runs


def rows(runs) -> list[dict]:
    """One row per claim verdict, sorted by claim id then recipe."""
    out = []
    for run in runs:
        for c, p in claims_with_paper(run):
            out.append(
                {
                    "name": claim_name(c),
                    "claim": c["id"],
                    "variant": c["variant"],
                    "recipe": run["recipe"],
                    "scale": run["scale"],
                    "verdict": c["verdict"],
                    "paper_verdict": p["verdict"] if p else "n/a",
                    "statement": c["statement"],
                    "criterion": c["criterion"],
                    "detail": c["detail"],
                    "per_seed": c.get("per_seed"),
                    "seeds": run.get("seeds", {}).get("values"),
                }
            )
    return sorted(out, key=lambda r: (r["claim"], r["recipe"], r["variant"]))


def markdown(table: list[dict], sources) -> str:
    lines = [
        "# The paper's claims, checked",
        "",
        "Gathered by `python -m tfls.recipes.summary` from "
        + ", ".join(f"`{s}`" for s in sources)
        + ". *paper* is the same criterion judged on the paper's own numbers (n/a where the paper"
        " gives only a plot). Criteria and thresholds: `recipes/README.md`.",
        "",
        "| claim | recipe | scale | ours | paper | numbers |",
        "|---|---|---|---|---|---|",
    ]
    for r in table:
        detail = r["detail"].replace("|", "/")
        if r.get("per_seed"):
            detail = f"mean over seeds {r['seeds']}: {detail}"
        seeds = f" (per seed: {', '.join(r['per_seed'])})" if r.get("per_seed") else ""
        lines.append(
            f"| {r['name']} | {r['recipe']} | {r['scale']} | **{r['verdict']}**{seeds} | "
            f"{r['paper_verdict']} | {detail} |"
        )
    statements = {r["claim"]: r["statement"] for r in table}
    lines += ["", "## Claims", ""] + [f"- **{k}** {v}" for k, v in sorted(statements.items())]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tfls.recipes.summary", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("folders", nargs="+", help="recipe output folders (each with results.json)")
    p.add_argument("--out", default=None, help="write the Markdown here (and .json beside it)")
    args = p.parse_args(argv)
    try:
        table = rows(load_runs(args.folders))
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = markdown(table, args.folders)
    if args.out:
        out = Path(args.out)
        io.atomic_write_text(out, text)
        io.atomic_write_json(out.with_suffix(".json"), {"claims": table})
        print(f"wrote {out}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
