"""Messages posted by the app's worker threads to the screens (dataclasses, handled with `@on`).

Workers never touch widgets: they post one of these and the screen updates itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.message import Message


@dataclass
class LibraryLoaded(Message):
    """`tfls` is imported; the form can offer its presets."""

    library: Any  # tui.backend.Library


@dataclass
class EvalStarted(Message):
    """Evaluation of one (defense, ε) began; results go to `out`."""

    defense: int
    eps_index: int
    out: Path


@dataclass
class BatchDone(Message):
    """One batch finished: the evaluator's `Progress` snapshot."""

    defense: int
    eps_index: int
    progress: Any  # tfls.eval.progress.Progress


@dataclass
class EvalFinished(Message):
    """One (defense, ε) ended; `complete` is False when it was cancelled (results kept)."""

    defense: int
    eps_index: int
    complete: bool
    report: dict | None = None


@dataclass
class EvalFailed(Message):
    """One (defense, ε) could not be evaluated; the message names the problem."""

    defense: int
    eps_index: int
    error: str


@dataclass
class PlanFinished(Message):
    cancelled: bool


@dataclass
class TrainEpoch(Message):
    name: str
    epoch: int
    epochs: int
    logs: dict


@dataclass
class TrainFinished(Message):
    name: str
    path: Path


@dataclass
class TrainFailed(Message):
    name: str
    error: str


@dataclass
class AuditCheck(Message):
    """One audit check finished (or was read back from the audit's folder)."""

    result: Any  # tfls.audit.CheckResult


@dataclass
class AuditFinished(Message):
    """The audit ended: `report` is the `tfls.audit.AuditReport`, None when it was cancelled."""

    report: Any = None
    cancelled: bool = False


@dataclass
class DemoStep(Message):
    """The demo worker moved on to one model of the pair (`cached`: it loads, no training)."""

    name: str
    label: str
    index: int
    cached: bool
    epochs: int


@dataclass
class DemoReady(Message):
    """Both models of the demo pair are in the runs folder; `threat` is the demo's threat model."""

    names: tuple[str, ...]
    threat: Any  # tfls.recipes.demo.DemoThreat


@dataclass
class DemoCancelled(Message):
    """The demo stopped during training; `kept` names the models that finished (they stay)."""

    kept: tuple[str, ...]
