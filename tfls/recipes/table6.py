"""Table 6: attacks transferred from a naturally trained model.

`python -m tfls.recipes.table6`; the spec is `recipes/table6.toml`.
"""

from tfls.recipes.cli import run_as_main

main = run_as_main(__spec__)
