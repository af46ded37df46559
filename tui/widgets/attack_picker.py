"""Attack presets to run (multi-select) and the editable parameters of the highlighted one."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, SelectionList
from textual.widgets.selection_list import Selection

from tui.request import DEFAULT_ATTACKS, PARAMS, AttackChoice, parse_overrides

LABELS = {
    "steps": "steps",
    "step_size": "step",
    "restarts": "restarts",
    "loss": "loss",
    "eot": "EOT draws",
    "source": "source",
}


class AttackPicker(Vertical):
    """Space toggles a preset; the fields below edit the highlighted preset's parameters.

    A blank field keeps the preset's value (shown as the placeholder). Parameters a preset's
    attack does not take are disabled.
    """

    DEFAULT_CSS = """
    AttackPicker {
        width: 38;
        height: 1fr;
        border: round $primary 50%;
    }
    AttackPicker:focus-within { border: round $primary; }
    AttackPicker SelectionList { height: 1fr; border: none; padding: 0; }
    AttackPicker .param-row { height: 1; }
    AttackPicker .param-row Label { width: 9; }
    AttackPicker .param-row Input { width: 1fr; }
    AttackPicker #param-title { height: 1; color: $text-muted; }
    AttackPicker #param-error { height: auto; color: $error; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "Attacks"
        self.library = None
        self.edits: dict[str, dict[str, str]] = {}
        self.current: str | None = None
        self.sources: tuple[str, ...] = ()  # run names a transfer attack may take as its source
        # Parameters set by a recipe (the demo's AutoAttack budget), not editable in the fields.
        self.fixed: dict[str, dict] = {}

    def compose(self) -> ComposeResult:
        yield SelectionList[str](id="attack-list")
        yield Label("loading tfls…", id="param-title")
        for param in PARAMS:
            with Horizontal(classes="param-row"):
                yield Label(LABELS[param])
                yield Input(id=f"param-{param}", compact=True, disabled=True)
        yield Label("", id="param-error")

    def set_library(self, library) -> None:
        self.library = library
        presets = self.query_one("#attack-list", SelectionList)
        presets.clear_options()
        presets.add_options(
            [Selection(self._prompt(name, spec), name) for name, spec in library.presets.items()]
        )
        for name in DEFAULT_ATTACKS:  # a small suite to start from: one weak, two strong
            if name in library.presets:
                presets.select(name)
        if library.presets:
            presets.highlighted = 0
            self._show(next(iter(library.presets)))

    @staticmethod
    def _prompt(name: str, spec: dict) -> str:
        norm = spec.get("norm")
        return f"{name} ({'L2' if norm == 'l2' else 'L∞'})" if norm else name

    @property
    def selected_names(self) -> list[str]:
        return list(self.query_one("#attack-list", SelectionList).selected)

    def choices(self) -> list[AttackChoice]:
        """The selected presets with their parsed overrides; raises `ValueError` on a bad field."""
        chosen = []
        for name in self.selected_names:
            try:
                overrides = parse_overrides(
                    self.edits.get(name, {}),
                    allowed=self.library.params[name],
                    losses=self.library.losses,
                    sources=self.sources,
                )
            except ValueError as e:
                raise ValueError(f"{name}: {e}") from None
            if "source" in self.library.params[name] and "source" not in overrides:
                raise ValueError(
                    f"{name} crafts its examples on a source model: type a run name in its source "
                    f"field (one of: {', '.join(self.sources) or 'none found'}). "
                    "Received: source=''"
                )
            chosen.append(AttackChoice(name, {**self.fixed.get(name, {}), **overrides}))
        return chosen

    def choose(self, attacks: dict[str, dict]) -> None:
        """Selects exactly `attacks` (preset -> the recipe's parameters) and clears the edits."""
        presets = self.query_one("#attack-list", SelectionList)
        missing = [name for name in attacks if name not in self.library.presets]
        if missing:
            raise ValueError(f"These presets are not offered here. Received: {missing}")
        presets.deselect_all()
        for name in attacks:
            presets.select(name)
            self.edits.pop(name, None)
        self.fixed = {name: dict(params) for name, params in attacks.items() if params}
        if self.current is not None:
            self._show(self.current)

    def set_edit(self, name: str, param: str, text: str) -> None:
        """Sets one parameter field of preset `name` (used by the form and by tests)."""
        self.edits.setdefault(name, {})[param] = text
        if name == self.current:
            field = self.query_one(f"#param-{param}", Input)
            with field.prevent(Input.Changed):
                field.value = text
            self._check(name)

    @on(SelectionList.SelectionHighlighted, "#attack-list")
    def _highlighted(self, event: SelectionList.SelectionHighlighted) -> None:
        self._show(event.selection.value)

    def _show(self, name: str) -> None:
        allowed = self.library.params.get(name, ())
        defaults = self.library.defaults.get(name, {})
        fixed = "  ".join(f"{k}={v}" for k, v in self.fixed.get(name, {}).items())
        self.query_one("#param-title", Label).update(
            f"{name}: {fixed}" if fixed else f"{name} parameters (blank = preset)"
        )
        for param in PARAMS:
            field = self.query_one(f"#param-{param}", Input)
            field.disabled = param not in allowed
            if param == "source" and param in allowed:
                field.placeholder = "a run name, e.g. " + (
                    self.sources[0] if self.sources else "nat"
                )
            else:
                field.placeholder = str(defaults.get(param, "")) if param in allowed else "n/a"
            with field.prevent(Input.Changed):  # refilling is not an edit
                field.value = self.edits.get(name, {}).get(param, "")
        self.current = name
        self._check(name)

    @on(Input.Changed, ".param-row Input")
    def _edited(self, event: Input.Changed) -> None:
        if self.current is None or event.input.id is None:
            return
        param = event.input.id.removeprefix("param-")
        self.edits.setdefault(self.current, {})[param] = event.value
        self._check(self.current)

    def _check(self, name: str) -> None:
        """Shows a bad field's problem inline as soon as it is typed."""
        error = self.query_one("#param-error", Label)
        try:
            parse_overrides(
                self.edits.get(name, {}),
                allowed=self.library.params.get(name, ()),
                losses=self.library.losses,
                sources=self.sources,
            )
        except ValueError as e:
            error.update(str(e))
        else:
            error.update("")
