"""Table 5: Carlini-Wagner L2 from a black image (x0=0) vs from the input (x0=x).

Run: `python -m tfls.recipes.table5 --scale smoke|cpu|paper --out DIR`
Spec: `recipes/table5.toml`.
"""

from __future__ import annotations

import sys

from tfls.recipes.cli import main as _main

RECIPE = "table5"


def main(argv=None) -> int:
    return _main(RECIPE, argv)


if __name__ == "__main__":
    sys.exit(main())
