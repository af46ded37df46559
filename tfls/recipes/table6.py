"""Table 6: attacks transferred from a naturally trained model.

Run: `python -m tfls.recipes.table6 --scale smoke|cpu|paper --out DIR`
Spec: `recipes/table6.toml`.
"""

from __future__ import annotations

import sys

from tfls.recipes.cli import main as _main

RECIPE = "table6"


def main(argv=None) -> int:
    return _main(RECIPE, argv)


if __name__ == "__main__":
    sys.exit(main())
