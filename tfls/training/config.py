"""`TrainConfig`: what to train and how, with the hyper-parameters of the papers as defaults.

A config names a dataset, a model and a method; every field left as `None` is filled by
`TrainConfig.resolved()` from `PAPER_DEFAULTS` for the dataset's family (MNIST-like or CIFAR-like)
and the method. Defaults, and where they come from:

* CIFAR natural: SGD(0.1, momentum 0.9), weight decay 5e-4, batch 128, 200 epochs, LR ×0.1 at 50%
  and 75% of training (the usual WideResNet recipe), pad-and-crop + flip augmentation.
* CIFAR madry: as natural but weight decay 2e-4 (Madry et al.'s CIFAR code, also TRADES' repo),
  PGD with random start, ε=8/255, 10 steps of 2/255 (TRADES' setting; Madry's CIFAR code used 7).
* CIFAR trades: SGD(0.1, 0.9), weight decay 2e-4, 100 epochs, LR ×0.1 at 75% and 90%, β=6,
  inner maximisation of KL from x + 0.001·N(0, 1), 10 steps of 2/255 at ε=8/255 (Zhang et al.).
* MNIST-like natural: Adam(1e-3), batch 128, 20 epochs, constant LR.
* MNIST-like madry: Adam(1e-4), batch 50, 84 epochs (Madry's 100k iterations), ε=0.3, 40 steps
  of 0.01, random start.
* MNIST-like trades: SGD(0.01, 0.9), batch 128, 100 epochs, LR ×0.1 at 55%, 75%, 90%, β=1,
  ε=0.3, 40 steps of 0.01 (TRADES' MNIST script).

Weight decay uses Keras' decoupled `weight_decay` of the optimizer (`w -= lr·wd·w`) rather than
PyTorch's coupled L2 term; with SGD the two differ only in how momentum accumulates it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from tfls import _validation as v

METHODS = ("natural", "madry", "trades")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("piecewise", "constant")

# dataset -> family. Kept here (not read from tfls.data) so a config validates without loading data.
DATASET_FAMILIES = {
    "mnist": "mnist",
    "fashion_mnist": "mnist",
    "cifar10": "cifar",
    "cifar100": "cifar",
}

_CIFAR_ATTACK = {"eps": 8 / 255, "attack_steps": 10, "attack_step_size": 2 / 255}
_MNIST_ATTACK = {"eps": 0.3, "attack_steps": 40, "attack_step_size": 0.01}

# (family, method) -> defaults for every field left as None.
PAPER_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("cifar", "natural"): {
        "optimizer": "sgd",
        "lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "batch_size": 128,
        "epochs": 200,
        "lr_schedule": "piecewise",
        "lr_milestones": (0.5, 0.75),
        "augment": True,
        **_CIFAR_ATTACK,
        "trades_beta": 6.0,
    },
    ("cifar", "madry"): {
        "optimizer": "sgd",
        "lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 2e-4,
        "batch_size": 128,
        "epochs": 200,
        "lr_schedule": "piecewise",
        "lr_milestones": (0.5, 0.75),
        "augment": True,
        **_CIFAR_ATTACK,
        "trades_beta": 6.0,
    },
    ("cifar", "trades"): {
        "optimizer": "sgd",
        "lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 2e-4,
        "batch_size": 128,
        "epochs": 100,
        "lr_schedule": "piecewise",
        "lr_milestones": (0.75, 0.9),
        "augment": True,
        **_CIFAR_ATTACK,
        "trades_beta": 6.0,
    },
    ("mnist", "natural"): {
        "optimizer": "adam",
        "lr": 1e-3,
        "momentum": 0.0,
        "weight_decay": 0.0,
        "batch_size": 128,
        "epochs": 20,
        "lr_schedule": "constant",
        "lr_milestones": (),
        "augment": False,
        **_MNIST_ATTACK,
        "trades_beta": 1.0,
    },
    ("mnist", "madry"): {
        "optimizer": "adam",
        "lr": 1e-4,
        "momentum": 0.0,
        "weight_decay": 0.0,
        "batch_size": 50,
        "epochs": 84,
        "lr_schedule": "constant",
        "lr_milestones": (),
        "augment": False,
        **_MNIST_ATTACK,
        "trades_beta": 1.0,
    },
    ("mnist", "trades"): {
        "optimizer": "sgd",
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 0.0,
        "batch_size": 128,
        "epochs": 100,
        "lr_schedule": "piecewise",
        "lr_milestones": (0.55, 0.75, 0.9),
        "augment": False,
        **_MNIST_ATTACK,
        "trades_beta": 1.0,
    },
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run; `None` means "the paper's default".

    Args:
        dataset: a name in `DATASET_FAMILIES` (`mnist`, `fashion_mnist`, `cifar10`, `cifar100`).
        model: a `tfls.models` name (`cnn4`, `wrn-34-10`, ...).
        method: `"natural"`, `"madry"` (PGD adversarial training) or `"trades"`.
        label_smoothing: α in [0, 1) applied to the (outer) cross-entropy of every method.
        epochs, batch_size: the global batch, split across replicas.
        eps, attack_steps, attack_step_size: the inner maximisation (madry / trades).
        trades_beta: weight of the TRADES KL term.
        optimizer: `"sgd"` or `"adam"`; lr, momentum, weight_decay: its settings.
        lr_schedule: `"piecewise"` (×`lr_decay` at each fraction of `lr_milestones`) or
            `"constant"`.
        augment: pad-and-crop + flip (CIFAR).
        limit: use only the first `limit` training (and test) examples; for quick runs.
        seed: fixes initialisation, data order and the attacks' random starts.
        data_dir: where offline data lives (`tfls.data.load`'s `data_dir`).

    Example:
        >>> config = TrainConfig("fashion_mnist", "cnn4", label_smoothing=0.9, epochs=1).resolved()
    """

    dataset: str
    model: str
    method: str = "natural"
    label_smoothing: float = 0.0
    epochs: int | None = None
    batch_size: int | None = None
    eps: float | None = None
    attack_steps: int | None = None
    attack_step_size: float | None = None
    trades_beta: float | None = None
    optimizer: str | None = None
    lr: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    lr_schedule: str | None = None
    lr_milestones: tuple[float, ...] | None = None
    lr_decay: float = 0.1
    augment: bool | None = None
    limit: int | None = None
    seed: int = 0
    data_dir: str | None = field(default=None, compare=False)

    @property
    def family(self) -> str:
        return DATASET_FAMILIES[self.dataset]

    def resolved(self) -> TrainConfig:
        """Validates every field and fills the `None`s with the paper's defaults."""
        v.check_choice(self.dataset, DATASET_FAMILIES, name="dataset")
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(
                f"`model` must be a model name such as 'cnn4'. Received: model={self.model!r}"
            )
        v.check_choice(self.method, METHODS, name="method")
        defaults = PAPER_DEFAULTS[(self.family, self.method)]
        filled = {
            f.name: defaults[f.name]
            if getattr(self, f.name) is None and f.name in defaults
            else getattr(self, f.name)
            for f in dataclasses.fields(self)
        }
        filled["label_smoothing"] = v.check_label_smoothing(filled["label_smoothing"])
        filled["epochs"] = v.check_positive_int(filled["epochs"], name="epochs")
        filled["batch_size"] = v.check_positive_int(filled["batch_size"], name="batch_size")
        filled["eps"] = v.check_eps(filled["eps"])
        filled["attack_steps"] = v.check_positive_int(filled["attack_steps"], name="attack_steps")
        filled["attack_step_size"] = v.check_nonnegative(
            filled["attack_step_size"], name="attack_step_size"
        )
        filled["trades_beta"] = v.check_nonnegative(filled["trades_beta"], name="trades_beta")
        v.check_choice(filled["optimizer"], OPTIMIZERS, name="optimizer")
        filled["lr"] = _check_positive(filled["lr"], "lr")
        filled["momentum"] = v.check_nonnegative(filled["momentum"], name="momentum")
        filled["weight_decay"] = v.check_nonnegative(filled["weight_decay"], name="weight_decay")
        v.check_choice(filled["lr_schedule"], SCHEDULES, name="lr_schedule")
        milestones = tuple(float(m) for m in filled["lr_milestones"])
        if any(not 0.0 < m < 1.0 for m in milestones) or list(milestones) != sorted(milestones):
            raise ValueError(
                "`lr_milestones` must be increasing fractions of training in (0, 1). "
                f"Received: lr_milestones={milestones}"
            )
        filled["lr_milestones"] = milestones
        filled["lr_decay"] = _check_positive(filled["lr_decay"], "lr_decay")
        filled["augment"] = bool(filled["augment"])
        if filled["limit"] is not None:
            filled["limit"] = v.check_positive_int(filled["limit"], name="limit")
        filled["seed"] = v.check_seed(filled["seed"])
        return TrainConfig(**filled)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["lr_milestones"] = None if self.lr_milestones is None else list(self.lr_milestones)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(
                f"Unknown TrainConfig fields {unknown}. Expected a subset of {sorted(names)}"
            )
        d = dict(d)
        if d.get("lr_milestones") is not None:
            d["lr_milestones"] = tuple(d["lr_milestones"])
        return cls(**d)

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def _check_positive(value, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"`{name}` must be a finite number > 0. Received: {name}={value!r}")
    return float(value)
