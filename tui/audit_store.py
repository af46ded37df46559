"""Where the app keeps audits inside a run folder, what one asks for, and reading verdicts back.

An audit of a run is written by `tfls.audit.audit` to `<run>/audits/<key>/`, where `key` names
the budget, norm, ε and image count: the same request made again resumes the same folder (its
finished checks are read back, not recomputed). The defense list shows the newest `audit.json`'s
verdict as a badge, so it survives restarts of the app.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AUDITS = "audits"
AUDIT_FILE = "audit.json"
DEFAULT_BUDGET = "quick"

# The verdict's badge colours (`tfls.audit.VERDICTS`); there is no "robust" verdict.
BADGE_STYLES = {
    "overestimated": "bold white on red",
    "suspicious": "bold black on yellow",
    "inconclusive": "bold black on white",
    "no masking found": "bold black on green",
}


@dataclass(frozen=True)
class AuditRequest:
    """One audit the user asked for: a run, the form's threat model, a budget.

    `budget` is a budget name (`"quick"`, `"standard"`, `"thorough"`) or a `tfls.audit.Budget`
    (tests pass a cheaper one); its `name` goes into the folder key.
    """

    run: Any  # tui.runs.RunInfo
    eps: float
    eps_label: str
    norm: str = "linf"
    n: int = 500
    budget: Any = DEFAULT_BUDGET

    @property
    def budget_name(self) -> str:
        return self.budget if isinstance(self.budget, str) else str(self.budget.name)

    @property
    def key(self) -> str:
        return f"{self.budget_name}_{self.norm}_eps{self.eps:.6g}_n{self.n}"

    @property
    def out(self) -> Path:
        return Path(self.run.path) / AUDITS / self.key


def make_audit_request(
    run, *, eps_text: str, norm: str = "linf", n_text: str = "500", budget: Any = DEFAULT_BUDGET
) -> AuditRequest:
    """The form's ε, norm and image count for `run`; a bad field raises `ValueError` naming it."""
    from tui.fields import parse_eps_list, parse_positive_int

    if run is None:
        raise ValueError("Highlight a defense to audit (the cursor in the defense list).")
    if run.error:
        raise ValueError(f"Cannot audit an unreadable run. Received: run={run.name!r}")
    eps = parse_eps_list(eps_text, norm=norm)
    if len(eps) != 1:
        raise ValueError(f"Give one ε in the ε field to audit. Received: eps={eps_text!r}")
    (label, value), n = eps[0], parse_positive_int(n_text, name="images")
    return AuditRequest(run, value, label, norm, n, budget)


def latest_verdict(run_path: str | os.PathLike) -> str | None:
    """The verdict of the newest `audit.json` under `<run>/audits/`, or None (none or unreadable)."""
    folder = Path(run_path) / AUDITS
    if not folder.is_dir():
        return None
    found = []
    for path in folder.glob(f"*/{AUDIT_FILE}"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append((path.stat().st_mtime, str(data["verdict"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged report gives no badge, never a crash
    return max(found)[1] if found else None
