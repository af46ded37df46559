"""Table 5: Carlini-Wagner L2 from a black image (x0=0) vs from the input (x0=x).

`python -m tfls.recipes.table5`; the spec is `recipes/table5.toml`.
"""

from tfls.recipes.cli import run_as_main

main = run_as_main(__spec__)
