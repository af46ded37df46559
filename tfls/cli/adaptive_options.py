"""The options of adaptive attacks `tfls eval` and `tfls audit` share: `--eot`, `--bpda`, `--draws`.

`--eot K` averages every gradient and score of every attack over K forward draws (for a model
random at inference); `--bpda LAYER[,LAYER]` replaces those layers' backward pass with the
identity for the attacks' gradients (`auto`: the layers whose input gradient is zero or undefined
on most points of the first batch, printed); `--draws K` scores every point over K forward draws
(default: 20 when the model is found random, else 1). `tfls.attacks.adaptive` holds the engine.
"""

from __future__ import annotations

import sys


def add_adaptive_options(p) -> None:
    group = p.add_argument_group(
        "adaptive attacks", "for randomised (EOT) and non-differentiable (BPDA) defences"
    )
    group.add_argument(
        "--eot",
        type=int,
        default=1,
        metavar="K",
        help="average each attack's gradients and scores over K forward draws (default: 1)",
    )
    group.add_argument(
        "--bpda",
        default=None,
        metavar="LAYER[,LAYER]|auto",
        help="straight-through gradients at these layers (auto: those without a usable gradient)",
    )
    group.add_argument(
        "--draws",
        type=int,
        default=None,
        metavar="K",
        help="score every point over K forward draws (default: 20 if the model is random, else 1)",
    )


def check_adaptive(args) -> dict:
    """`{eot, bpda, draws}` from the flags, each checked before anything loads."""
    from tfls import _validation as v
    from tfls.attacks.adaptive import check_bpda, check_eot

    draws = None if args.draws is None else v.check_positive_int(args.draws, name="draws")
    return {"eot": check_eot(args.eot), "bpda": check_bpda(args.bpda), "draws": draws}


def resolve_bpda(plan, model, dataset, *, command: str):
    """`plan` with `bpda="auto"` resolved on the first batch of `dataset`; says what it picked."""
    import dataclasses

    import numpy as np

    from tfls.attacks.adaptive import AUTO, find_nondifferentiable

    if plan.bpda != AUTO:
        return plan
    first = next(iter(dataset))
    names = find_nondifferentiable(model, np.asarray(first[0]))
    picked = ", ".join(names) if names else "none (every layer passes gradients)"
    print(f"tfls {command}: --bpda auto: straight-through at {picked}", file=sys.stderr)
    return dataclasses.replace(plan, bpda=names or None)
