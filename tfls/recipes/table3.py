"""Table 3: the PGD-like attacks' settings, beside tfls' presets (no training).

Run: `python -m tfls.recipes.table3 --scale smoke|cpu|paper --out DIR`
Spec: `recipes/table3.toml`.
"""

from __future__ import annotations

import sys

from tfls.recipes.cli import main as _main

RECIPE = "table3"


def main(argv=None) -> int:
    return _main(RECIPE, argv)


if __name__ == "__main__":
    sys.exit(main())
