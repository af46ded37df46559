"""The setup screen: defenses, attacks with their parameters, the threat model; r runs."""

from __future__ import annotations

import time
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label
from textual.worker import Worker, WorkerState, get_current_worker

from tfls.recipes.demo import DURATION  # light: no TensorFlow import
from tui import training_jobs as jobs
from tui.audit_store import DEFAULT_BUDGET, make_audit_request
from tui.messages import (
    DemoCancelled,
    DemoReady,
    DemoStep,
    LibraryLoaded,
    TrainEpoch,
    TrainFinished,
)
from tui.outputs import RecipeOutput, recipe_outputs
from tui.request import EvalPlan, make_plan, saved_plan
from tui.runs import SavedResult, discover_runs, saved_results
from tui.screens.audit import AuditScreen
from tui.screens.recipe import RecipeScreen
from tui.screens.run import RunScreen
from tui.screens.saved import SavedResultsScreen
from tui.screens.train import TrainScreen
from tui.widgets.attack_picker import AttackPicker
from tui.widgets.defense_list import DefenseList
from tui.widgets.eps_input import ThreatModelForm
from tui.widgets.training_progress import TrainingProgress


class MainScreen(Screen):
    """Choose what to evaluate. Loading `tfls` and training run in workers, never here."""

    BINDINGS = [
        Binding("r", "run", "Run"),
        Binding("d", "demo", "Demo"),
        Binding("a", "audit", "Audit"),
        Binding("t", "train", "Train"),
        Binding("o", "open_saved", "Results"),
        Binding("f5", "rescan", "Rescan"),
        Binding("q", "app.quit", "Quit"),
        Binding("escape", "cancel_training", "Cancel training", show=False),
    ]

    # Shown on the empty state and in the train dialog.
    DEMO_HINT = "d: the demo pair (natural vs LS α=0.9, the recipes' cpu scale)"

    DEFAULT_CSS = """
    MainScreen #top { height: 1fr; }
    MainScreen #message { height: auto; width: 1fr; padding: 0 1; }
    MainScreen #message.error { color: $error; }
    """

    def __init__(self, runs_dir: Path, backend, *, results_dir: Path | None = None) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.results_dir = results_dir
        self.backend = backend
        self.library = None
        self._training: Worker | None = None
        self.demo_started: float | None = None  # time.perf_counter() of the demo keypress
        self.demo_run = None  # the demo's RunScreen, once its evaluation starts
        self.demo_active = False  # the demo worker is training or loading the pair
        self._demo_step = ""
        self.audit_budget = DEFAULT_BUDGET  # a name or a `tfls.audit.Budget` (tests: a tiny one)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="top"):
            yield DefenseList(id="defenses")
            yield AttackPicker(id="attacks")
        yield ThreatModelForm(id="threat")
        yield Label("Loading tfls (TensorFlow)…", id="message")
        yield TrainingProgress(id="training")
        yield Footer()

    def on_screen_resume(self) -> None:
        """Back from a run (the demo's included): the message says where things stand now."""
        run, self.demo_run = self.demo_run, None
        if run is not None and run.finished.is_set():
            self.message(
                "Demo pair evaluated: its numbers are saved (o reopens them); space selects, "
                "r runs your own."
            )
        elif run is not None:
            self.message(
                "Demo evaluation stopped: r on the run screen resumes it (d starts again)."
            )

    def on_mount(self) -> None:
        self.sub_title = str(self.runs_dir)
        self.query_one(DefenseList).border_title = f"Defenses ({self.runs_dir})"
        self.action_rescan()
        self.load_library()

    def screenshot_dir(self) -> Path:
        return self.runs_dir

    def message(self, text: str, *, error: bool = False) -> None:
        label = self.query_one("#message", Label)
        label.update(text)
        label.set_class(error, "error")

    # --- loading -------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def load_library(self) -> None:
        """Imports tfls (seconds: TensorFlow) off the UI thread."""
        self.post_message(LibraryLoaded(self.backend.load_library()))

    @on(LibraryLoaded)
    def _library_loaded(self, event: LibraryLoaded) -> None:
        self.library = event.library
        self.query_one(AttackPicker).set_library(event.library)
        if self.query_one(DefenseList).runs:
            self.message("Ready: space selects, r runs, ? shows help.")

    def action_rescan(self) -> None:
        """Re-reads the runs folder (fast: a few small JSON files)."""
        defenses = self.query_one(DefenseList)
        keep = {r.name for r in defenses.selected_runs}
        try:
            runs = discover_runs(self.runs_dir)
        except FileNotFoundError:
            runs = []  # a first start: the folder is made when something is trained into it
        defenses.set_runs(runs, keep=keep)
        self.query_one(AttackPicker).sources = tuple(r.name for r in runs if not r.error)
        if not runs:
            self.message(self.welcome())
        elif self.library is not None:
            self.message(f"{len(runs)} runs found: space selects, r runs.")

    def welcome(self) -> str:
        """What a first start says: no models yet, and the three ways to get one."""
        return (
            f"Welcome: no models in {self.runs_dir} yet. {self.DEMO_HINT}: {DURATION} · "
            "t: train a quick model · start with --model PATH to add your own."
        )

    # --- run -----------------------------------------------------------------------------

    def plan(self) -> EvalPlan:
        """The form as an `EvalPlan`; raises `ValueError` naming the first bad field."""
        if self.library is None:
            raise ValueError("tfls is still loading; try again in a moment.")
        attacks = self.query_one(AttackPicker).choices()
        plan = make_plan(
            self.query_one(DefenseList).selected_runs,
            attacks,
            **self.query_one(ThreatModelForm).texts(),
        )
        self.backend.plan_attacks(plan.attacks, eps=plan.eps_values[0], norm=plan.norm)
        return plan

    def action_run(self) -> None:
        try:
            plan = self.plan()
        except ValueError as e:
            self.message(str(e), error=True)
            return
        self.message(f"Running {len(plan.defenses)} defense(s) × {len(plan.attacks)} attack(s).")
        self.app.push_screen(RunScreen(plan, self.backend))

    @on(Input.Submitted, "ThreatModelForm Input, AttackPicker Input")
    def _submitted(self) -> None:
        self.action_run()

    # --- audit ---------------------------------------------------------------------------

    def action_audit(self) -> None:
        """Audits the defense to evaluate: the one selected, else the highlighted one."""
        if self.library is None:
            self.message("tfls is still loading; try again in a moment.", error=True)
            return
        defenses = self.query_one(DefenseList)
        selected = defenses.selected_runs
        run = selected[0] if len(selected) == 1 else defenses.highlighted_run
        texts = self.query_one(ThreatModelForm).texts()
        try:
            request = make_audit_request(
                run,
                eps_text=texts["eps_text"],
                norm=texts["norm"],
                n_text=texts["n_text"],
                budget=self.audit_budget,
            )
        except ValueError as e:
            self.message(str(e), error=True)
            return
        index = defenses.runs.index(run)
        self.message(f"Auditing {run.name} ({request.budget_name} budget).")

        def closed(verdict: str | None) -> None:
            defenses.refresh_run(index)  # the badge: the newest audit.json of the run
            self.message(
                f"Audit of {run.name}: {verdict}."
                if verdict
                else f"Audit of {run.name} unfinished: a resumes it."
            )

        self.app.push_screen(AuditScreen(request, self.backend), closed)

    # --- saved results -------------------------------------------------------------------

    def action_open_saved(self) -> None:
        results = [
            r
            for run in self.query_one(DefenseList).runs
            if not run.error
            for r in saved_results(run.path)
        ]
        outputs = recipe_outputs(self.results_dir)
        self.app.push_screen(SavedResultsScreen(results, outputs), self._open_result)

    def _open_result(self, result: SavedResult | RecipeOutput | None) -> None:
        if result is None:
            return
        if isinstance(result, RecipeOutput):
            self.app.push_screen(RecipeScreen(result))
            return
        try:
            plan = saved_plan(result)
        except (KeyError, TypeError, ValueError) as e:
            self.message(f"Cannot reopen {result.folder}: {type(e).__name__}: {e}", error=True)
            return
        saved = {(0, 0): result.report} if result.report else {}
        self.app.push_screen(RunScreen(plan, self.backend, saved=saved, autostart=False))

    # --- training ------------------------------------------------------------------------

    def action_train(self) -> None:
        if self.library is None:
            self.message("tfls is still loading; try again in a moment.", error=True)
            return
        if self._training is not None and self._training.state == WorkerState.RUNNING:
            self.message("A model is already training.", error=True)
            return
        existing = {r.name for r in self.query_one(DefenseList).runs}
        self.app.push_screen(TrainScreen(self.library, existing), self._start_training)

    def _start_training(self, request) -> None:
        if request is None:
            return
        if request == "demo":  # the train dialog's demo button
            self.action_demo()
            return
        self.query_one(TrainingProgress).begin(
            f"Training {request.name}: loading data…", request.epochs
        )
        self._training = self.train_model(request)

    @work(thread=True, exclusive=True, exit_on_error=False, group="train")
    def train_model(self, request) -> None:
        jobs.train_model(
            self.post_message, self.backend, self.runs_dir, request, get_current_worker()
        )

    @on(TrainEpoch)
    def _epoch(self, event: TrainEpoch) -> None:
        head = self._demo_step if self.demo_active else f"Training {event.name}"
        self.query_one(TrainingProgress).show_epoch(head, event.epoch, event.epochs, event.logs)

    @on(TrainFinished)
    def _trained(self, event: TrainFinished) -> None:
        if self.demo_active:
            self.action_rescan()  # the demo goes on with the next model
            return
        self.query_one(TrainingProgress).end()
        self.action_rescan()
        self.message(f"Trained {event.name}: added to the defenses.")

    def action_cancel_training(self) -> None:
        """Esc: stops the training after the current epoch (finished epochs are checkpointed)."""
        if self._training is not None and self._training.state == WorkerState.RUNNING:
            self._training.cancel()
            self.query_one(TrainingProgress).say("Cancelling after the current epoch…")

    # --- the demo pair -------------------------------------------------------------------

    def action_demo(self) -> None:
        """One key: the demo pair trained (or loaded from the recipes' cache), then evaluated."""
        if self.library is None:
            self.message("tfls is still loading; try again in a moment.", error=True)
            return
        if self._training is not None and self._training.state == WorkerState.RUNNING:
            self.message("A model is already training.", error=True)
            return
        self.demo_started = time.perf_counter()
        self.demo_active = True
        self.query_one(TrainingProgress).begin("Demo pair: reading the recipes…", None)
        self.message(
            f"Demo pair: {DURATION}. Esc stops after the current epoch (finished epochs are kept)."
        )
        self._training = self.train_demo()

    @work(thread=True, exclusive=True, exit_on_error=False, group="train")
    def train_demo(self) -> None:
        """Trains or loads each model of the pair, links it into the runs folder, then says so."""
        jobs.train_demo(self.post_message, self.backend, self.runs_dir, get_current_worker())

    @on(DemoStep)
    def _demo_step(self, event: DemoStep) -> None:
        what = "loading from the recipes' cache" if event.cached else "training"
        self._demo_step = f"Demo pair {event.index + 1}/2: {event.label} ({event.name})"
        self.query_one(TrainingProgress).show_step(
            f"{self._demo_step}: {what}…", event.epochs, event.epochs if event.cached else 0
        )

    @on(DemoCancelled)
    def _demo_cancelled(self, event: DemoCancelled) -> None:
        self.demo_active = False
        self.query_one(TrainingProgress).end()
        self.action_rescan()
        kept = ", ".join(event.kept) or "nothing finished"
        self.message(
            f"Demo stopped: kept {kept}. d resumes (training continues from its last epoch)."
        )

    @on(DemoReady)
    def _demo_ready(self, event: DemoReady) -> None:
        """Sets the form to the demo's threat model and starts the evaluation."""
        self.demo_active = False
        self.query_one(TrainingProgress).end()
        self.action_rescan()
        threat = event.threat
        self.query_one(DefenseList).select_only(event.names)
        self.query_one(AttackPicker).choose({a.preset: a.params for a in threat.attacks})
        form = self.query_one(ThreatModelForm)
        form.set_texts(
            eps=f"{threat.eps:g}",
            norm=threat.norm,
            sweep="",
            images=str(threat.n),
            batch=str(threat.batch_size),
        )
        try:
            plan = self.plan()
        except ValueError as e:
            self.message(f"Demo: {e}", error=True)
            return
        from tfls.recipes.demo import LOOK_FOR

        self.message("Demo pair ready: evaluating (Esc cancels; finished batches are kept).")
        self.demo_run = RunScreen(plan, self.backend, look_for=LOOK_FOR, started=self.demo_started)
        self.app.push_screen(self.demo_run)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        what = {"train": "Training failed", "load": "Could not load tfls"}.get(
            event.worker.group, "Failed"
        )
        if event.worker.group == "train":
            self.demo_active = False
            self.query_one(TrainingProgress).end()
        self.message(f"{what}: {type(error).__name__}: {error}", error=True)
