"""Every attack of the paper as a Keras layer, and `get(name, model, eps=...)` for named presets."""

from __future__ import annotations

from tfls.attacks import losses
from tfls.attacks.adaptive import adapt, find_nondifferentiable, straight_through
from tfls.attacks.apgd import APGD, apgd
from tfls.attacks.autoattack import AutoAttack, autoattack
from tfls.attacks.autoattack_fast import FastAutoAttack, autoattack_fast
from tfls.attacks.base import Attack
from tfls.attacks.cw import CarliniWagnerL2, carlini_wagner_l2
from tfls.attacks.fab import FAB, fab
from tfls.attacks.fgsm import FGSM, fgsm
from tfls.attacks.multitargeted import MultiTargeted, multitargeted
from tfls.attacks.noise import RandomNoise, random_noise
from tfls.attacks.odi import ODI, odi
from tfls.attacks.pgd import PGD, pgd
from tfls.attacks.presets import PRESETS
from tfls.attacks.registry import get
from tfls.attacks.square import Square, square
from tfls.attacks.suites import TRANSFER_PREFIX, SuitePlan, plan_suite, suite
from tfls.attacks.table import ATTACKS, register
from tfls.attacks.tanh_linf import TanhLinf, tanh_linf
from tfls.attacks.transfer import TransferAttack

__all__ = ["ATTACKS", "Attack", "FGSM", "PGD", "PRESETS", "fgsm", "get", "losses", "pgd"]
__all__ += ["MultiTargeted", "ODI", "CarliniWagnerL2", "TanhLinf", "TransferAttack"]
__all__ += ["multitargeted", "odi", "carlini_wagner_l2", "tanh_linf"]
__all__ += ["APGD", "FAB", "Square", "AutoAttack", "apgd", "fab", "square", "autoattack"]
__all__ += ["SuitePlan", "TRANSFER_PREFIX", "plan_suite", "suite"]
__all__ += ["FastAutoAttack", "autoattack_fast"]
__all__ += ["RandomNoise", "random_noise"]
__all__ += ["adapt", "find_nondifferentiable", "straight_through"]
__all__ += ["register"]
