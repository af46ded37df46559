"""Figure 2: PGD-20 robust accuracy against the smoothing factor α.

`python -m tfls.recipes.figure2`; the spec is `recipes/figure2.toml`.
"""

from tfls.recipes.cli import run_as_main

main = run_as_main(__spec__)
