"""Named attack presets: the paper's Table 3, plus AutoAttack's parts, CW-L2 and the tanh attack.

A preset is plain data: the attack class name and its keyword arguments. `eps`-relative step sizes
are written as multiples of ε (`step_size_eps`) and resolved by `tfls.attacks.get`.
"""

from __future__ import annotations

PRESETS: dict[str, dict] = {
    "fgsm": {"attack": "FGSM", "loss": "ce"},
    "pgd10": {"attack": "PGD", "steps": 10, "step_size_eps": 1 / 5, "loss": "ce", "init": "random"},
    "pgd20": {"attack": "PGD", "steps": 20, "step_size_eps": 1 / 10, "loss": "ce", "init": "random"},
    "pgd40": {"attack": "PGD", "steps": 40, "step_size_eps": 1 / 20, "loss": "ce", "init": "random"},
    "pgd-cw": {"attack": "PGD", "steps": 20, "step_size_eps": 1 / 10, "loss": "margin", "init": "random"},
}
# Other attack modules add their presets here (one line each), e.g. "mt", "odi", "apgd-ce",
# "apgd-t", "fab-t", "square", "autoattack", "cw-l2", "tanh-linf".
