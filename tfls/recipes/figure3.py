"""Figure 3: the tanh L∞ attack (Algorithm 1) against step size and number of steps.

Run: `python -m tfls.recipes.figure3 --scale smoke|cpu|paper --out DIR`
Spec: `recipes/figure3.toml`.
"""

from __future__ import annotations

import sys

from tfls.recipes.cli import main as _main

RECIPE = "figure3"


def main(argv=None) -> int:
    return _main(RECIPE, argv)


if __name__ == "__main__":
    sys.exit(main())
