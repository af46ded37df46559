"""Honest robustness evaluation: per-example worst case over attacks, streamed and resumable."""

from tfls.eval.evaluate import ThreatModelViolation, evaluate
from tfls.eval.progress import Cancelled, Progress
from tfls.eval.report import AttackResult, Report
from tfls.stats import wilson_interval

__all__ = [
    "AttackResult",
    "Cancelled",
    "Progress",
    "Report",
    "ThreatModelViolation",
    "evaluate",
    "wilson_interval",
]
