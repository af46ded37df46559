"""Table 4: PGD-like attacks on label smoothing vs Madry vs TRADES.

Run: `python -m tfls.recipes.table4 --scale smoke|cpu|paper --out DIR`
Spec: `recipes/table4.toml`.
"""

from __future__ import annotations

import sys

from tfls.recipes.cli import main as _main

RECIPE = "table4"


def main(argv=None) -> int:
    return _main(RECIPE, argv)


if __name__ == "__main__":
    sys.exit(main())
