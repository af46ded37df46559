"""Table 1: natural vs label-smoothed models on MNIST-like data, CIFAR-10 and CIFAR-100.

Run: `python -m tfls.recipes.table1 --scale smoke|cpu|paper --out DIR`
Spec: `recipes/table1.toml`.
"""

from __future__ import annotations

import sys

from tfls.recipes.cli import main as _main

RECIPE = "table1"


def main(argv=None) -> int:
    return _main(RECIPE, argv)


if __name__ == "__main__":
    sys.exit(main())
