"""Figure 3: the tanh L∞ attack (Algorithm 1) against step size and number of steps.

`python -m tfls.recipes.figure3`; the spec is `recipes/figure3.toml`.
"""

from tfls.recipes.cli import run_as_main

main = run_as_main(__spec__)
