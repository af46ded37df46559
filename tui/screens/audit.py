"""The audit screen: `tfls.audit.audit` on one defense, its checks filling in live, then the verdict."""

from __future__ import annotations

import asyncio
import dataclasses

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Label
from textual.worker import Worker, WorkerState, get_current_worker

from tui.audit_store import AuditRequest
from tui.messages import AuditCheck, AuditFinished
from tui.notes import warnings_as_notices
from tui.runs import RESULTS
from tui.widgets.audit_verdict import AuditVerdict
from tui.widgets.check_list import CheckList


class AuditCancelled(Exception):
    """Raised from the audit's `on_check` callback when the screen cancels the worker."""


class AuditScreen(Screen[str | None]):
    """Runs (or resumes) one audit in a thread worker; dismisses with the verdict, if any.

    Open it only once `tfls` is loaded: it reads the check titles from `tfls.audit`.
    """

    BINDINGS = [
        Binding("escape", "cancel_or_back", "Cancel / back"),
        Binding("r", "run", "Run / resume"),
        Binding("b", "next_budget", "Budget"),
    ]

    DEFAULT_CSS = """
    AuditScreen #audit-info { height: auto; padding: 0 1; color: $text-muted; }
    AuditScreen #audit-message { height: auto; padding: 0 1; }
    AuditScreen #audit-message.error { color: $error; }
    """

    def __init__(self, request: AuditRequest, backend) -> None:
        super().__init__()
        from tfls.audit import BUDGETS, TITLES  # tfls is already loaded when the screen opens

        self.request = request
        self.backend = backend
        self.titles = dict(TITLES)
        self.budget_names = tuple(BUDGETS)  # quick, standard, thorough
        self.running = False
        self.report = None
        self.finished = asyncio.Event()  # set when an audit run ends (tests wait on it)
        self._worker: Worker | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(self._info(), id="audit-info")
        yield CheckList(self.titles, id="checks")
        yield AuditVerdict(id="verdict")
        yield Label("", id="audit-message")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"audit of {self.request.run.name}"
        self.action_run()

    def _info(self) -> str:
        r = self.request
        return f"{r.run.name} · ε {r.eps_label} {r.norm} · {r.n} images · budget {r.budget_name}"

    def message(self, text: str, *, error: bool = False) -> None:
        label = self.query_one("#audit-message", Label)
        label.update(text)
        label.set_class(error, "error")

    # --- actions -------------------------------------------------------------------------

    def action_run(self) -> None:
        if self.running:
            return
        self.running = True
        self.report = None
        self.finished.clear()
        self.query_one(CheckList).reset()
        self.query_one(AuditVerdict).waiting(0, len(self.titles))
        self.message("Auditing… Esc cancels after the current check (finished checks are kept).")
        self._worker = self.run_audit()

    def action_cancel_or_back(self) -> None:
        if self.running:
            if self._worker is not None:
                self._worker.cancel()
            self.message("Cancelling after the current check…")
        else:
            self.dismiss(self.report.verdict if self.report is not None else None)

    def action_next_budget(self) -> None:
        """Switches to the next budget (quick → standard → thorough); r then runs it."""
        if self.running:
            self.message("Esc first: the budget changes between audits.", error=True)
            return
        names = list(self.budget_names)
        current = self.request.budget_name
        following = names[(names.index(current) + 1) % len(names)] if current in names else names[0]
        self.request = dataclasses.replace(self.request, budget=following)
        self.report = None
        self.query_one("#audit-info", Label).update(self._info())
        self.query_one(CheckList).reset()
        self.query_one(AuditVerdict).waiting(0, len(self.titles))
        self.message(f"Budget {following}: r runs it (saved in {self.request.out}).")

    # --- the worker ----------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="audit")
    def run_audit(self) -> None:
        """Loads the run and its data, then `backend.audit`; each check is posted as it ends."""
        worker = get_current_worker()
        r = self.request
        with warnings_as_notices(self, r.run.name):
            model, run = self.backend.load_run(r.run.path)
            data = self.backend.load_data(run, r.n, min(r.n, 100))

        def on_check(result) -> None:
            self.post_message(AuditCheck(result))
            if worker.is_cancelled:  # the check is saved in `out` already: a rerun reads it back
                raise AuditCancelled

        try:
            if worker.is_cancelled:
                raise AuditCancelled
            report = self.backend.audit(
                model,
                data,
                eps=r.eps,
                norm=r.norm,
                n=r.n,
                budget=r.budget,
                out=r.out,
                on_check=on_check,
                evaluations=(r.run.path, r.run.path / RESULTS),  # the app's saved evaluations
            )
        except AuditCancelled:
            self.post_message(AuditFinished(None, cancelled=True))
            return
        self.post_message(AuditFinished(report))

    # --- messages from the worker ----------------------------------------------------------

    @on(AuditCheck)
    def _check(self, event: AuditCheck) -> None:
        checks = self.query_one(CheckList)
        checks.show(event.result)
        self.query_one(AuditVerdict).waiting(len(checks.results), len(self.titles))

    @on(AuditFinished)
    def _finished(self, event: AuditFinished) -> None:
        if event.cancelled or event.report is None:
            done = len(self.query_one(CheckList).results)
            self.query_one(AuditVerdict).note(
                f"Cancelled after {done} checks: no verdict. r resumes (finished checks are kept)."
            )
            self._stopped("Cancelled: finished checks are saved; r resumes, Esc goes back.")
            return
        self.report = event.report
        for result in event.report.checks:  # the report is the final word on every check
            self.query_one(CheckList).show(result)
        self.query_one(AuditVerdict).show(event.report)
        self._stopped(f"Done: audit.json and audit.md saved in {self.request.out}; Esc goes back.")

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        if event.worker is self._worker and event.state == WorkerState.ERROR:
            error = event.worker.error
            self.query_one(AuditVerdict).note("The audit stopped with an error: no verdict.")
            self._stopped(f"Audit failed: {type(error).__name__}: {error}", error=True)

    def _stopped(self, text: str, *, error: bool = False) -> None:
        self.running = False
        self.message(text, error=error)
        self.finished.set()
