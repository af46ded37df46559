"""Writes `pgd_pipeline.keras` (+ its model's logits and PGD's output) for test_declarations.

Run with the code whose format the fixture records, from that checkout's root:
`python tests/attacks/data/make_pgd_pipeline.py tests/attacks/data/pgd_pipeline.keras`.
The committed files were written by the hand-written PGD layer (commit d5b2778, before #9).
"""

import os
import sys

sys.path.insert(0, os.getcwd())

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tfls.attacks as attacks  # noqa: E402

out = sys.argv[1]
keras.utils.set_random_seed(0)
model = keras.Sequential(
    [keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(3)], name="tiny"
)
x_in = keras.Input((4, 4, 1))
y_in = keras.Input((), dtype="int32")
attack = attacks.PGD(
    model,
    eps=0.1,
    steps=3,
    step_size=0.05,
    restarts=2,
    loss="margin",
    seed=7,
    jit_compile=False,
    name="pgd",
)
keras.Model([x_in, y_in], attack(x_in, y_in), name="pgd_pipeline").save(out)
x = np.random.default_rng(0).random((5, 4, 4, 1), dtype=np.float32)
y = np.array([0, 1, 2, 0, 1], np.int32)
np.save(out.removesuffix(".keras") + "_out.npy", np.asarray(attack(x, y)))
np.save(out.removesuffix(".keras") + "_logits.npy", np.asarray(model(x)))
