"""Gradient-masking audit: can a robustness number measured with white-box attacks be trusted?

`audit(model, dataset, eps=...)` runs the 18 checks of `docs/audit.md` (AutoAttack's runtime
checks, ART's gradient check, Pintor et al.'s indicators of attack failure, Athalye et al.'s signs
of obfuscated gradients, Carlini et al.'s checklist, Jiang et al.'s imbalanced gradients) and
returns an `AuditReport` whose verdict is `overestimated`, `suspicious`, `inconclusive` or
`no masking found`.
"""

from tfls.audit.audit import TITLES, audit
from tfls.audit.audit_report import AuditReport
from tfls.audit.budgets import BUDGETS, Budget, get_budget
from tfls.audit.inputs import load_points
from tfls.audit.verdict import VERDICTS
from tfls.checks.result import STATUSES, CheckResult

__all__ = [
    "BUDGETS",
    "STATUSES",
    "TITLES",
    "VERDICTS",
    "AuditReport",
    "Budget",
    "CheckResult",
    "audit",
    "get_budget",
    "load_points",
]
