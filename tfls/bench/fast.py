"""`tfls bench autoattack --fast`: AutoAttack-standard beside `autoattack-fast` on one model, and the
bank's table over several.

Both attacks run through the one evaluator (`tfls.eval.evaluate`, batch-major, every attack on
every clean-correct point), in one process, batch by batch, so their seconds are measured under
the same load; the evaluator's store makes a long run resumable. Per model: robust accuracy of
each with its Wilson interval, the images on which they differ (each way), the exact one-sided
McNemar p-value that `autoattack-fast` is the weaker, Newcombe's interval of the difference,
the forward and backward passes of each (`tfls.attacks.passes`) and on how many batches the
gradient checks sent `autoattack-fast` to full AutoAttack (`tfls.eval.gate`). Over several
models (`--bank`), the sums and their ratios against issue 26's bar, and where full AutoAttack ran
inside `autoattack-fast` (sent on by the checks or the probe), those models' passes against the
bar's whole budget and the ratios over the other models.

`python -m tfls.bench.fast STORE` prints how far a run has got (`so_far`): the same numbers over
the batches its store holds, for a run still going or stopped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfls import stats
from tfls.attacks.registry import get
from tfls.eval.evaluate import evaluate
from tfls.eval.record_format import decode_bits
from tfls.eval.store import read_records

STANDARD, FAST = "autoattack", "autoattack-fast"
# Issue 26's bar: at most a twelfth of the forward passes, a sixth of the backward passes and a
# third of the time, summed over the bank; never more than one image above AutoAttack a model.
BAR = {"forward": 12.0, "backward": 6.0, "seconds": 3.0, "images_above": 1}


def measure(
    model, x, y, *, eps, norm="linf", seed=0, store, about=None, on_batch=None, settings=None
) -> dict:
    """Runs AutoAttack-standard and `autoattack-fast` on `(x, y)`; returns the comparison (JSON).

    `store` is the evaluation's folder (resumed when it holds this evaluation's batches).
    `settings` (`{name: {argument: value}}`, for tests) changes either attack's budget.
    """
    settings = settings or {}
    attacks = {
        name: get(name, model, eps=eps, norm=norm, seed=seed, **settings.get(name, {}))
        for name in (STANDARD, FAST)
    }
    report = evaluate(
        model,
        (x, y),
        attacks,
        out=store,
        individual=True,
        checks=False,
        on_batch=on_batch,
        meta={"bench": "autoattack --fast", **({"model": about["name"]} if about else {})},
    )
    records = read_records(store)
    n = int(report.images)
    gate = report.attacks[FAST].gate or {"batches": 0, "fell_back": 0, "fired": {}}
    per_attack = {name: numbers(result) for name, result in report.attacks.items()}
    return {
        "model": dict(about or {"name": getattr(model, "name", "model")}),
        "n": n,
        "eps": float(eps),
        "norm": norm,
        "seed": int(seed),
        "clean": int(report.clean_correct),
        "attacks": per_attack,
        **paired(records, FAST, STANDARD, n),
        "gate": {"escalated": 0, **gate},
        "store": str(store),
    }


def numbers(result) -> dict:
    """One attack's entry of the comparison, from its `tfls.eval.report.AttackResult`."""
    return {
        "robust": int(result.robust),
        "robust_accuracy": float(result.robust_accuracy),
        "interval": [float(b) for b in result.interval],
        "forward_passes": result.forward_passes,
        "backward_passes": result.backward_passes,
        "seconds": float(result.seconds),
    }


def robust_bits(records, name) -> np.ndarray:
    """Per image of the evaluation (in order): robust to `name`."""
    return np.concatenate([decode_bits(r["robust"][name])[: r["n"]] for r in records])


def paired(records, name, reference, n) -> dict:
    """`name` against `reference` on the same images: the images robust to one only (each way),
    the exact one-sided McNemar p-value that `name` is the weaker, and Newcombe's interval of
    the difference in robust accuracy."""
    a, b = robust_bits(records, name), robust_bits(records, reference)
    only, reference_only, both = (int(m.sum()) for m in (a & ~b, b & ~a, a & b))
    return {
        "fast_only_robust": only,
        "standard_only_robust": reference_only,
        "mcnemar_p_fast_weaker": stats.mcnemar_greater(only, reference_only),
        "difference_interval": list(
            stats.paired_difference_interval(only, reference_only, n, both=both)
        ),
    }


def ratio(a, b):
    return float(a) / float(b) if a is not None and b else None


COUNTS = (("forward", "forward_passes"), ("backward", "backward_passes"), ("seconds", "seconds"))


def _totals(results) -> dict:
    """Passes and seconds of each attack summed over `results`."""
    return {
        name: {key: sum(r["attacks"][name][key] or 0 for r in results) for _, key in COUNTS}
        for name in (STANDARD, FAST)
    }


def _ratios(total) -> dict:
    """AutoAttack's totals over `autoattack-fast`'s, per count."""
    return {kind: ratio(total[STANDARD][key], total[FAST][key]) for kind, key in COUNTS}


def summarise(results: list[dict]) -> dict:
    """The bank's totals: passes and seconds of each attack summed over the models, their
    ratios, and whether issue 26's bar holds on each count."""
    total = _totals(results)
    ratios = _ratios(total)
    above = {
        r["model"]["name"]: r["attacks"][FAST]["robust"] - r["attacks"][STANDARD]["robust"]
        for r in results
    }
    holds = {kind: value is not None and value >= BAR[kind] for kind, value in ratios.items()}
    holds["images_above"] = all(v <= BAR["images_above"] for v in above.values())
    return {
        "total": total,
        "ratios": ratios,
        "images_above": above,
        "holds": holds,
        "bar": BAR,
        "full_autoattack": _full_autoattack(results, total),
    }


def _full_autoattack(results, total) -> dict:
    """Where full AutoAttack ran inside `autoattack-fast` (a batch sent on by the gradient
    checks, or points by the probe): those models' share of the bar's budget, and the ratios over
    the other models. A model where full AutoAttack runs costs at least its passes on the points
    sent on, so when those models alone spend the budget, no setting of the stages meets the bar
    while they are in the bank."""
    full = [r for r in results if r["gate"]["escalated"] or r["gate"]["fell_back"]]
    rest = [r for r in results if r not in full]
    spent, others = _totals(full)[FAST], _totals(rest)[FAST]
    passes = {
        kind: {
            "spent": spent[key],
            "budget": total[STANDARD][key] / BAR[kind],
            "others": others[key],
        }
        for kind, key in COUNTS[:2]
    }
    rest_ratios = _ratios(_totals(rest))
    return {
        "models": [r["model"]["name"] for r in full],
        "passes": passes,
        "others": [r["model"]["name"] for r in rest],
        "others_ratios": rest_ratios if rest else None,
    }


def _full_lines(full: dict) -> list[str]:
    """The Markdown note on the models where full AutoAttack ran (none: no note)."""
    if not full["models"]:
        return []
    parts = []
    for kind, p in full["passes"].items():
        left = p["budget"] - p["spent"]
        share = (
            "more than all of it"
            if left < 0
            else f"leaving {_count(round(left))} for the other models, which spent "
            f"{_count(p['others'])}"
        )
        parts.append(
            f"{kind} {_count(p['spent'])} of the budget {_count(round(p['budget']))} ({share})"
        )
    lines = [
        "",
        f"Full AutoAttack ran inside autoattack-fast on {', '.join(full['models'])}. Its passes "
        f"there, against the bar's budget (AutoAttack's sums over the bank divided by "
        f"{BAR['forward']:g} and {BAR['backward']:g}): {'; '.join(parts)}.",
    ]
    if full["others_ratios"]:
        q = full["others_ratios"]
        lines.append(
            f"Over the other models ({', '.join(full['others'])}): forward {_times(q['forward'])}, "
            f"backward {_times(q['backward'])}, time {_times(q['seconds'])}."
        )
    return lines


def _pct(count, n):
    return f"{100 * count / n:.1f}%" if n else "n/a"


def _interval(i):
    return f"[{100 * i[0]:.1f}, {100 * i[1]:.1f}]"


def _count(value):
    return "n/a" if value is None else f"{value:,}"


def _times(value):
    return "n/a" if value is None else f"{value:.1f}×"


def to_markdown(results: list[dict], *, title: str, command: str | None = None) -> str:
    """One row per model, then the bank's sums and ratios against issue 26's bar."""
    lines = [
        f"# {title}",
        "",
        "Both attacks run through `tfls.eval.evaluate` on every clean-correct image, batch by "
        "batch in one process; passes are images sent through the model (`tfls.attacks.passes`). "
        "fast-only = images robust to autoattack-fast that AutoAttack broke; AA-only the reverse; "
        "p = exact one-sided McNemar that autoattack-fast is the weaker.",
        "",
        "| model | ε | n | clean | AutoAttack robust [95%] | fast robust [95%] | fast-only | "
        "AA-only | p | AA fwd | fast fwd | fwd ratio | AA bwd | fast bwd | bwd ratio | AA s | "
        "fast s | time ratio | full AutoAttack ran on (batches by gradient checks; points by the "
        "probe) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        "---:|",
    ]
    for r in results:
        a, f, n = r["attacks"][STANDARD], r["attacks"][FAST], r["n"]
        fell = r["gate"]
        why = ", ".join(f"check {k}×{v}" for k, v in sorted(fell["fired"].items()))
        sent = f"; {fell['escalated']} points by the probe" if fell["escalated"] else ""
        lines.append(
            f"| {r['model']['name']} | {r['eps']:.4g} | {n} | {_pct(r['clean'], n)} | "
            f"{_pct(a['robust'], n)} {_interval(a['interval'])} | "
            f"{_pct(f['robust'], n)} {_interval(f['interval'])} | {r['fast_only_robust']} | "
            f"{r['standard_only_robust']} | {r['mcnemar_p_fast_weaker']:.3g} | "
            f"{_count(a['forward_passes'])} | {_count(f['forward_passes'])} | "
            f"{_times(ratio(a['forward_passes'], f['forward_passes']))} | "
            f"{_count(a['backward_passes'])} | {_count(f['backward_passes'])} | "
            f"{_times(ratio(a['backward_passes'], f['backward_passes']))} | {a['seconds']:.1f} | "
            f"{f['seconds']:.1f} | {_times(ratio(a['seconds'], f['seconds']))} | "
            f"{fell['fell_back']} of {fell['batches']}{f' ({why})' if why else ''}{sent} |"
        )
    if len(results) > 1 or results:
        s = summarise(results)
        t, q = s["total"], s["ratios"]
        lines.append(
            f"| **sum** | | {sum(r['n'] for r in results)} | | | | "
            f"{sum(r['fast_only_robust'] for r in results)} | "
            f"{sum(r['standard_only_robust'] for r in results)} | | "
            f"{_count(t[STANDARD]['forward_passes'])} | {_count(t[FAST]['forward_passes'])} | "
            f"**{_times(q['forward'])}** | {_count(t[STANDARD]['backward_passes'])} | "
            f"{_count(t[FAST]['backward_passes'])} | **{_times(q['backward'])}** | "
            f"{t[STANDARD]['seconds']:.1f} | {t[FAST]['seconds']:.1f} | "
            f"**{_times(q['seconds'])}** | |"
        )
        verdict = ", ".join(
            f"{kind} {'holds' if ok else 'FAILS'}" for kind, ok in s["holds"].items()
        )
        lines += [
            "",
            f"Issue 26's bar (forward ≥ {BAR['forward']:g}×, backward ≥ {BAR['backward']:g}×, "
            f"time ≥ {BAR['seconds']:g}× summed; autoattack-fast at most "
            f"{BAR['images_above']} image above AutoAttack on each model): {verdict}.",
        ]
        lines += _full_lines(s["full_autoattack"])
    if command:
        lines += ["", f"Command: `{command}`"]
    return "\n".join(lines) + "\n"


def load_results(paths) -> list[dict]:
    """The per-model results of earlier `--fast` runs (their JSON files), in the order given."""
    import json

    out = []
    for p in paths:
        data = json.loads(Path(p).read_text(encoding="utf-8"))
        out.extend(data["results"] if "results" in data else [data])
    return out


def so_far(store) -> dict:
    """The finished batches of a `--fast` store (a run still going, or stopped): robust counts,
    the pairing and the summed passes and seconds of both attacks."""
    from tfls.eval.tally import Tally

    records = read_records(store)
    if not records:
        raise ValueError(
            "The store holds no finished batch yet (or is not a `tfls bench autoattack --fast` "
            f"store). Received: {store}"
        )
    tally = Tally([STANDARD, FAST])
    for r in records:
        tally.add(r)
    return {
        "batches": tally.batches,
        "images": tally.images,
        "clean": tally.clean,
        "robust": dict(tally.robust),
        "passes": dict(tally.passes),
        "seconds": {name: tally.seconds[name] for name in (STANDARD, FAST)},
        **paired(records, FAST, STANDARD, tally.images),
    }


if __name__ == "__main__":  # python -m tfls.bench.fast STORE: how far a --fast run has got
    import json
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage: python -m tfls.bench.fast STORE (a `tfls bench autoattack --fast` store)")
    try:
        print(json.dumps(so_far(Path(sys.argv[1])), indent=1))
    except (OSError, ValueError) as error:
        sys.exit(f"error: {error}")
