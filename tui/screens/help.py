"""The `?` help screen: what each key does and what the numbers mean."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# tfls-tui

**Setup screen**
- `Tab` / `Shift+Tab` move between the defenses, attacks and threat-model fields.
- `Space` selects a defense (several to compare) or an attack preset.
- The fields under the attacks edit the *highlighted* preset: steps, step size (`2/255` works),
  restarts, loss. Blank keeps the preset's value.
- `ε` takes `8/255` or `0.031`; *sweep ε* takes a list (`2/255, 4/255`) to plot accuracy vs ε.
- `r` (or `Enter` in a field) runs · `d` the demo pair · `a` audits one defense ·
  `t` trains a quick model · `o` reopens saved results and recipe outputs · `F5` rescans ·
  `s` (any screen) saves the screen as SVG next to its results.

**Demo pair** (`d`, or F2 in the train dialog)
- A natural and an LS α = 0.9 cnn4 with the recipes' cpu-scale training, from the recipes' model
  cache (`$TFLS_RECIPES_DIR`) or trained there once (live epochs; `Esc` stops after the current
  epoch and keeps what finished; `d` resumes). Then both are evaluated at ε = 0.03 with FGSM,
  PGD-20, APGD-CE, ODI and AutoAttack: watch PGD-20 vs AutoAttack on the α = 0.9 model.

**Audit screen** (`a`)
- Runs the gradient-masking audit (`tfls.audit`, budget *quick*) on the selected defense (or, with
  none or several selected, the highlighted one) at the form's ε, norm and image count.
- The 18 checks fill in as they finish: ok (green), warn (yellow), fail (red), skipped (dim), with
  their numbers and advice; then the verdict (*overestimated*, *suspicious*, *inconclusive* or
  *no masking found*) with the gap and its p-value, the number to report and the attacks to report
  it over. The verdict shows as a badge in the list.
- `Esc` cancels after the current check; finished checks are saved in `<run>/audits/<key>/` and
  `r` (or `a` again) resumes. `b` switches to the next budget (*standard*, *thorough*); `r` runs it.

**Run screen**
- One table per defense: clean accuracy, each attack's robust accuracy with its Wilson 95%
  interval, Δ vs the first attack, images/s and a bar; the lowest attack is marked `◀`; the
  **worst case** (images that survive every attack: the number to report), updated after every
  batch. An ε sweep adds a plot of accuracy vs ε per attack.
- `Esc` cancels after the current batch; finished batches stay on disk and `r` resumes them.

Results are written by `tfls.eval.evaluate` to `<run>/results/<attacks>_<norm>_eps…_n…/`.

`?`, `q` or `Esc` closes this help; `q` on the setup screen quits.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen VerticalScroll {
        width: 90%; max-width: 100; height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-scroll"):
            yield Markdown(HELP)

    def on_mount(self) -> None:
        # Focused, the scroll view takes the arrow keys, PageUp/PageDown, Home and End.
        self.query_one("#help-scroll", VerticalScroll).focus()

    def action_dismiss(self) -> None:
        self.dismiss(None)
