"""Table 2: the range of the logits against the smoothing factor α.

Run: `python -m tfls.recipes.table2 --scale smoke|cpu|paper --out DIR`
Spec: `recipes/table2.toml`.
"""

from __future__ import annotations

import sys

from tfls.recipes.cli import main as _main

RECIPE = "table2"


def main(argv=None) -> int:
    return _main(RECIPE, argv)


if __name__ == "__main__":
    sys.exit(main())
