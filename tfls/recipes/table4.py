"""Table 4: PGD-like attacks on label smoothing vs Madry vs TRADES.

`python -m tfls.recipes.table4`; the spec is `recipes/table4.toml`.
"""

from tfls.recipes.cli import run_as_main

main = run_as_main(__spec__)
