"""The evaluation report: counts, accuracies with Wilson intervals, timings and configuration.

`Report` is the finished result with JSON, Markdown and CSV writers (all written atomically);
`tfls.eval.tally` folds the batch records into one.
"""

from __future__ import annotations

import csv
import io as _io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tfls import io

REPORT_FILES = ("report.json", "report.md", "report.csv")


def _blank(count):
    return "" if count is None else count


@dataclass
class AttackResult:
    """One attack's numbers.

    Attributes:
        name: the attack's name in the evaluation.
        robust: images correctly classified both clean and after this attack.
        robust_accuracy: `robust / images`.
        interval: Wilson 95% interval of `robust_accuracy`.
        attacked: images this attack was run on.
        seconds: wall time spent in this attack (attack + prediction + checks).
        images_per_s: `attacked / seconds`.
        cumulative_robust: images robust to this attack and every earlier one (AutoAttack's
            running number); the last attack's value equals the worst case.
        exact: `False` when the attack skipped points already broken by earlier attacks
            (`individual=False`); `robust` is then an upper bound of its own robust accuracy.
        config: the attack's `get_config()` without serialized models.
        nonfinite: attacked images where the model's logits at the adversarial point were NaN
            or inf; they count as broken (the model's prediction there is garbage).
        forward_passes, backward_passes: images the attack sent through the model over the run
            (`tfls.attacks.passes`; an EOT draw is a pass); `None` if a record lacks them.
        gate: for a gated attack (`tfls.eval.gate`), `{"batches", "fell_back", "fired": {check
            id: batches}, "escalated"}`: on how many batches the gradient checks sent it to its
            fallback, and how many points its own probe sent on to full AutoAttack.
    """

    name: str
    robust: int
    robust_accuracy: float
    interval: tuple[float, float]
    attacked: int
    seconds: float
    images_per_s: float
    cumulative_robust: int
    exact: bool
    config: dict = field(default_factory=dict)
    nonfinite: int = 0
    forward_passes: int | None = None
    backward_passes: int | None = None
    gate: dict | None = None


@dataclass
class Report:
    """Result of `tfls.eval.evaluate`.

    Accuracies are fractions of all `images` (a misclassified clean image is never robust).
    `worst_case` counts images on which every attack failed: the number to publish.
    `complete` is `False` for a cancelled evaluation (the numbers cover `images` so far).
    `checks` lists the gradient-masking checks `evaluate` ran (`tfls.eval.checks`), each a dict
    `{id, title, status, summary, numbers, advice}`; empty in reports written before checks
    existed or with `evaluate(..., checks=False)`. `draws > 1`: the model is random at inference
    and every point was scored over that many forward draws (`tfls.eval.draws`); the counts are
    then sums of per-point shares of draws correct (not integers) and the intervals reflect both
    the images and the draws.
    """

    images: int
    clean_correct: int
    clean_accuracy: float
    clean_interval: tuple[float, float]
    worst_case: int
    worst_case_accuracy: float
    worst_case_interval: tuple[float, float]
    attacks: dict[str, AttackResult]
    individual: bool
    complete: bool
    norm: str | None
    eps: float | None
    batches: int
    seconds: float
    meta: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    fingerprint: str = ""
    checks: list[dict] = field(default_factory=list)
    draws: int = 1

    @property
    def interval_name(self) -> str:
        return "Wilson" if self.draws == 1 else f"Wilson, images × {self.draws} draws"

    @property
    def random(self) -> bool:
        """The model was found random at inference (or `draws=` said so) and scored over draws."""
        return self.draws > 1

    # -- serialisation -----------------------------------------------------------------------

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Report:
        d = dict(d)
        d["attacks"] = {
            k: AttackResult(**{**a, "interval": tuple(a["interval"])})
            for k, a in d["attacks"].items()
        }
        d["clean_interval"] = tuple(d["clean_interval"])
        d["worst_case_interval"] = tuple(d["worst_case_interval"])
        return cls(**d)

    @classmethod
    def load(cls, path) -> Report:
        """Reads `report.json` (or the folder holding it)."""
        path = Path(path)
        if path.is_dir():
            path = path / "report.json"
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def rows(self) -> list[dict]:
        """One row per measure (clean, each attack, worst case): the CSV and Markdown table."""

        def row(measure, count, interval, **extra):
            return {
                "measure": measure,
                "count": count,
                "images": self.images,
                "accuracy": count / self.images if self.images else 0.0,
                "ci95_low": interval[0],
                "ci95_high": interval[1],
                "attacked": extra.get("attacked", ""),
                "seconds": extra.get("seconds", ""),
                "images_per_s": extra.get("images_per_s", ""),
                "forward_passes": _blank(extra.get("forward_passes")),
                "backward_passes": _blank(extra.get("backward_passes")),
                "exact": extra.get("exact", True),
            }

        rows = [row("clean", self.clean_correct, self.clean_interval)]
        for a in self.attacks.values():
            rows.append(
                row(
                    a.name,
                    a.robust,
                    a.interval,
                    attacked=a.attacked,
                    seconds=round(a.seconds, 3),
                    images_per_s=round(a.images_per_s, 1),
                    forward_passes=a.forward_passes,
                    backward_passes=a.backward_passes,
                    exact=a.exact,
                )
            )
        rows.append(row("worst-case", self.worst_case, self.worst_case_interval))
        return rows

    def to_csv(self) -> str:
        buf = _io.StringIO()
        rows = self.rows()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()

    def table_markdown(self) -> str:
        """The results table alone (clean, each attack, worst case) in Markdown."""
        lines = []
        lines += [
            f"| measure | correct / robust | accuracy | 95% CI ({self.interval_name}) | attacked "
            "| time (s) | images/s | forward passes | backward passes |",
            "|---|---:|---:|---|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows():
            mark = "" if r["exact"] else " †"
            measure = f"**{r['measure']}**" if r["measure"] == "worst-case" else r["measure"]
            count = r["count"] if isinstance(r["count"], int) else f"{r['count']:.2f}"
            lines.append(
                f"| {measure}{mark} | {count} / {r['images']} | {100 * r['accuracy']:.2f}% | "
                f"[{100 * r['ci95_low']:.1f}%, {100 * r['ci95_high']:.1f}%] | {r['attacked']} | "
                f"{r['seconds']} | {r['images_per_s']} | {r['forward_passes']} | "
                f"{r['backward_passes']} |"
            )
        return "\n".join(lines)

    def worst_case_note(self) -> str:
        """What "worst case" covers here: the per-example worst case over these attacks."""
        over = ", ".join(self.attacks) or "no attack"
        return (
            f"Worst case, per example over {over}: an image counts as robust only if it is "
            "classified correctly clean and after every one of them."
        )

    def to_markdown(self) -> str:
        title = "Robustness report" + (
            "" if self.complete else " (PARTIAL: evaluation not finished)"
        )
        lines = [f"# {title}", ""]
        threat = f"{self.norm} ε = {self.eps:.6g}" if self.eps is not None else "no attacks"
        if self.eps is not None and self.norm == "linf":
            threat += f" (= {self.eps * 255:.4g}/255)"
        facts = [f"**Threat model:** {threat}", f"**Images:** {self.images}"]
        if self.random:
            facts.append(
                f"**Random at inference:** every point scored over {self.draws} forward draws "
                "(accuracy: the mean share of draws correct; intervals for images and draws)"
            )
        facts += [f"**{k}:** {v}" for k, v in self.meta.items()]
        lines += ["  \n".join(facts), ""]
        lines += self.table_markdown().splitlines()
        lines.append("")
        lines.append(self.worst_case_note())
        lines += self.nonfinite_notes()
        lines += self.gate_notes()
        if not self.individual and self.attacks:
            lines.append(
                "† Upper bound: attacks ran in order, each only on images no earlier attack had "
                "broken (AutoAttack-style). The worst case is exact."
            )
        lines += self.checks_markdown()
        lines += ["", "## Attacks", ""]
        for a in self.attacks.values():
            config = ", ".join(
                f"{k}={v!r}" for k, v in a.config.items() if k not in ("trainable", "dtype")
            )
            lines.append(f"- `{a.name}`: {config}")
        lines += ["", "## Environment", ""]
        lines.append(", ".join(f"{k} {v}" for k, v in self.versions.items()))
        lines.append("")
        lines.append(
            f"Model: {self.model.get('name', '?')} ({self.model.get('params', '?')} parameters, "
            f"weights sha256 {str(self.model.get('weights_sha256', '?'))[:16]}…). "
            f"Fingerprint {self.fingerprint[:16]}…"
        )
        return "\n".join(lines) + "\n"

    def checks_markdown(self) -> list[str]:
        """The "Checks" block: one line per gradient-masking check (see `docs/audit.md`)."""
        if not self.checks:
            return []
        lines = ["", "## Checks", ""]
        for c in self.checks:
            line = f"- {c['id']}. {c['title']}: **{c['status']}**: {c['summary']}"
            if c.get("advice") and c["status"] in ("warn", "fail"):
                line += f". {c['advice']}"
            lines.append(line)
        fired = sum(c["status"] in ("warn", "fail") for c in self.checks)
        lines += [
            "",
            f"{fired} check(s) fired. For every check and a verdict run `tfls audit` "
            "(docs/audit.md).",
        ]
        return lines

    def gate_notes(self) -> list[str]:
        """Where a cheap attack's number is in part full AutoAttack's (`tfls.eval.gate`)."""
        notes = []
        for a in self.attacks.values():
            if a.gate is None:
                continue
            why = ", ".join(f"check {k} on {n}" for k, n in sorted(a.gate["fired"].items()))
            notes.append(
                f"`{a.name}` is gated: the gradient checks sent {a.gate['fell_back']} of its "
                f"{a.gate['batches']} batches to full AutoAttack{f' ({why})' if why else ''}; its "
                f"probe sent {a.gate.get('escalated', 0)} more points on to it."
            )
        return notes

    def nonfinite_notes(self) -> list[str]:
        """One line per attack that reached points where the model's logits were NaN or inf."""
        return [
            f"{a.name}: {a.nonfinite} adversarial point(s) where the model output NaN or inf "
            "logits, counted as broken."
            for a in self.attacks.values()
            if a.nonfinite
        ]

    def write(self, out) -> dict[str, Path]:
        """Writes `report.json`, `report.md` and `report.csv` into `out`, each atomically."""
        out = Path(out)
        paths = {name: out / name for name in REPORT_FILES}
        io.atomic_write_json(paths["report.json"], self.to_dict())
        io.atomic_write_text(paths["report.md"], self.to_markdown())
        io.atomic_write_text(paths["report.csv"], self.to_csv())
        return paths
