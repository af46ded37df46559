"""Honest robustness evaluation: per-example worst case over attacks, streamed and resumable."""

from tfls.eval.evaluate import evaluate
from tfls.eval.progress import Cancelled, Progress
from tfls.eval.report import AttackResult, Report
from tfls.eval.threat import ThreatModelViolation
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
