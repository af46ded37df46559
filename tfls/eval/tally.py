"""Running counts over an evaluation's batch records, folded into its `Report` (constant memory).

Per attack: robust points, the running (AutoAttack-style) cumulative count, attacked points,
non-finite logits, seconds, passes (`tfls.attacks.passes`) and the gate's decisions
(`tfls.eval.gate`).
"""

from __future__ import annotations

import numpy as np

from tfls.eval.record_format import decode_bits
from tfls.eval.report import AttackResult, Report
from tfls.stats import draws_interval, wilson_interval


class Tally:
    """Running counts over batch records: memory does not grow with the number of images.

    With `draws > 1` (a random model, `tfls.eval.draws`) each point adds its score, the share of
    draws correct, instead of a bit; the sums of squared scores are kept for the intervals.
    """

    def __init__(self, names, *, draws: int = 1):
        self.names = tuple(names)
        self.draws = int(draws)
        self.images = 0
        self.batches = 0
        self.clean = 0
        self.worst = 0
        self.robust = dict.fromkeys(self.names, 0)
        self.cumulative = dict.fromkeys(self.names, 0)
        self.attacked = dict.fromkeys(self.names, 0)
        self.nonfinite = dict.fromkeys(self.names, 0)
        self.seconds = {"clean": 0.0, **dict.fromkeys(self.names, 0.0)}
        self.squares = {"clean": 0.0, "worst": 0.0, **dict.fromkeys(self.names, 0.0)}
        self.squares.update({f"cumulative:{name}": 0.0 for name in self.names})
        self.passes: dict = {name: [0, 0] for name in self.names}  # None once a record lacks them
        self.gates: dict = {}

    def _scores(self, record, name=None):
        """The points' scores in this record: bits, or the shares of draws correct."""
        if self.draws == 1:
            return decode_bits(record["clean"] if name is None else record["robust"][name])
        hits = record["clean_hits"] if name is None else record["robust_hits"][name]
        return np.asarray(hits, np.float64) / self.draws

    def _add(self, key, scores) -> float:
        if self.draws > 1:
            self.squares[key] += float(np.square(scores).sum())
            return float(scores.sum())
        return int(scores.sum())

    def add(self, record: dict) -> None:
        clean = self._scores(record)
        running = clean.copy()
        for name in self.names:
            scores = self._scores(record, name)
            self.robust[name] += self._add(name, scores)
            running = np.minimum(running, scores)  # for bits: the AND
            self.cumulative[name] += self._add(f"cumulative:{name}", running)
            self.attacked[name] += int(record["attacked"][name])
            self.nonfinite[name] += int(record.get("nonfinite", {}).get(name, 0))
            spent = record.get("passes", {}).get(name)
            if spent is None or self.passes[name] is None:
                self.passes[name] = None
            else:
                self.passes[name] = [a + int(b) for a, b in zip(self.passes[name], spent)]
            decided = record.get("gates", {}).get(name)
            if decided is not None:
                g = self.gates.setdefault(
                    name, {"batches": 0, "fell_back": 0, "fired": {}, "escalated": 0}
                )
                g["batches"] += 1
                g["fell_back"] += bool(decided["fired"])
                g["escalated"] += int(decided.get("escalated", 0))
                for check in decided["fired"]:
                    g["fired"][str(check)] = g["fired"].get(str(check), 0) + 1
        for key, s in record["seconds"].items():
            self.seconds[key] = self.seconds.get(key, 0.0) + float(s)
        self.images += int(record["n"])
        self.batches += 1
        self.clean += self._add("clean", clean)
        self.worst += self._add("worst", running)

    def interval(self, key, total) -> tuple[float, float]:
        if self.draws == 1:
            return wilson_interval(total, self.images)
        return draws_interval(total, self.squares[key], self.images, self.draws)

    def report(
        self, *, configs, individual, complete, norm, eps, meta, model, versions, fingerprint
    ) -> Report:
        n = self.images

        def acc(k):
            return k / n if n else 0.0

        attacks = {}
        for name in self.names:
            sec = self.seconds[name]
            attacks[name] = AttackResult(
                name=name,
                robust=self.robust[name],
                robust_accuracy=acc(self.robust[name]),
                interval=self.interval(name, self.robust[name]),
                attacked=self.attacked[name],
                seconds=sec,
                images_per_s=self.attacked[name] / sec if sec > 0 else 0.0,
                cumulative_robust=self.cumulative[name],
                exact=bool(individual),
                config=configs[name],
                nonfinite=self.nonfinite[name],
                forward_passes=None if self.passes[name] is None else self.passes[name][0],
                backward_passes=None if self.passes[name] is None else self.passes[name][1],
                gate=self.gates.get(name),
            )
        return Report(
            images=n,
            clean_correct=self.clean,
            clean_accuracy=acc(self.clean),
            clean_interval=self.interval("clean", self.clean),
            worst_case=self.worst,
            worst_case_accuracy=acc(self.worst),
            worst_case_interval=self.interval("worst", self.worst),
            attacks=attacks,
            individual=bool(individual),
            complete=bool(complete),
            norm=norm,
            eps=eps,
            batches=self.batches,
            seconds=float(sum(self.seconds.values())),
            meta=dict(meta),
            model=dict(model),
            versions=dict(versions),
            fingerprint=fingerprint,
            draws=self.draws,
        )
