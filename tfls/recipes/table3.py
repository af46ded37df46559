"""Table 3: the PGD-like attacks' settings, beside tfls' presets (no training).

`python -m tfls.recipes.table3`; the spec is `recipes/table3.toml`.
"""

from tfls.recipes.cli import run_as_main

main = run_as_main(__spec__)
