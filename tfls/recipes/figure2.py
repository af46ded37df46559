"""Figure 2: PGD-20 robust accuracy against the smoothing factor α.

Run: `python -m tfls.recipes.figure2 --scale smoke|cpu|paper --out DIR`
Spec: `recipes/figure2.toml`.
"""

from __future__ import annotations

import sys

from tfls.recipes.cli import main as _main

RECIPE = "figure2"


def main(argv=None) -> int:
    return _main(RECIPE, argv)


if __name__ == "__main__":
    sys.exit(main())
