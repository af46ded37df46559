"""Table 1: natural vs label-smoothed models on MNIST-like data, CIFAR-10 and CIFAR-100.

`python -m tfls.recipes.table1`; the spec is `recipes/table1.toml`.
"""

from tfls.recipes.cli import run_as_main

main = run_as_main(__spec__)
