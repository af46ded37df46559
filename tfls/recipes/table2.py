"""Table 2: the range of the logits against the smoothing factor α.

`python -m tfls.recipes.table2`; the spec is `recipes/table2.toml`.
"""

from tfls.recipes.cli import run_as_main

main = run_as_main(__spec__)
