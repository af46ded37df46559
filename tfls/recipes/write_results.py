"""Writes a recipe's results: `results.json`, `results.md` (paper beside ours) and PNG plots."""

from __future__ import annotations

from pathlib import Path

from tfls import io
from tfls.recipes.plan import Plan

_LOGIT_MEASURES = ("logit_min", "logit_max", "logit_range", "mean_margin")


def write_all(plan: Plan, results: dict, out: Path) -> dict[str, Path]:
    """Writes every output of a recipe into `out` (atomically) and returns their paths."""
    out = Path(out)
    paths = {"results.json": out / "results.json", "results.md": out / "results.md"}
    for p in plan.plots:
        path = out / p["file"]
        if plot(plan, results, p, path):
            paths[p["file"]] = path
    results["plots"] = [name for name in paths if name.endswith(".png")]
    io.atomic_write_json(
        paths["results.json"], {k: v for k, v in results.items() if not k.startswith("_")}
    )
    io.atomic_write_text(paths["results.md"], markdown(plan, results))
    return paths


def _fmt_measure(measure: str, value) -> str:
    if value is None:
        return "–"
    if measure in _LOGIT_MEASURES:
        return f"{value:.2f}"
    return f"{100 * value:.2f}"


def _fmt_paper(measure: str, value) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if measure in _LOGIT_MEASURES else f"{value:.2f}"


def markdown(plan: Plan, results: dict) -> str:
    lines = [f"# {plan.recipe}: {plan.title}", ""]
    facts = [
        f"**Paper:** {plan.paper_ref}",
        f"**Scale:** `{plan.scale}`"
        + (f" with overrides `{' '.join(plan.overrides)}`" if plan.overrides else ""),
        *([] if plan.kind == "presets" else [f"**Test images:** {plan.n}"]),
        f"**Created:** {results['created']} (tfls {results['tfls_version']}, "
        f"{results.get('wall_time_s', '?')} s)",
        f"**Spec:** `{Path(plan.source).name}`",
        *(
            [f"**Training seeds:** {', '.join(map(str, results['seeds']['values']))}"]
            if "seeds" in results
            else []
        ),
    ]
    lines += ["  \n".join(facts), ""]
    for sub in plan.substitutions:
        lines.append(
            f"> **Stand-in dataset:** the paper's `{sub.paper_dataset}` is replaced by "
            f"`{sub.dataset}` "
            f"({sub.reason}). Our numbers are not measured in the paper's setting."
        )
    if plan.substitutions:
        lines.append("")
    if plan.scale != "paper" and plan.kind != "presets":
        lines += [
            f"> At `{plan.scale}` scale the models are small and briefly trained: the paper's "
            "numbers come "
            "from WideResNet-34-10 on CIFAR-10 (10,000 test images). Compare trends, not values.",
            "",
        ]
        if plan.scale == "cpu" and not plan.overrides:
            lines += [
                "> The `cpu` setting is where a sweep of training length and ε found label "
                "smoothing to look robust under PGD-20 on two CPU cores (the reproduction search "
                "in `recipes/README.md`, data in `results/sweeps/`).",
                "",
            ]
    if plan.description:
        lines += [plan.description, ""]
    if "dry_run" in results:
        from tfls.recipes.cost_estimate import markdown as dry_run_markdown

        lines += dry_run_markdown(results)
    if plan.kind == "presets":
        lines += _presets_md(results["presets"])
    else:
        lines += _results_md(plan, results)
        lines += _audits_md(results)
    lines += _claims_md(results)
    if plan.kind != "presets":
        lines += _models_md(results)
        lines += _attacks_md(plan, results)
    if plan.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in plan.notes] + [""]
    for name in results.get("plots", []):
        lines += [f"![{name}]({name})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _results_md(plan: Plan, results: dict) -> list[str]:
    if plan.kind == "logits":
        legend = (
            "Logit values (min, max, their range, the mean top-1 − top-2 margin) over the test "
            "images; `clean` is accuracy (%)."
        )
    else:
        legend = (
            "Values are accuracy (%); ours with its Wilson 95% interval. "
            "Rows marked *reading* use a non-standard attack loss (see Attacks)."
        )
    spread = results.get("seeds", {}).get("spread")
    if spread:
        k = len(results["seeds"]["values"])
        legend += (
            f" Ours is the mean over {k} training seeds ± their sample standard deviation; the "
            "bracket is the range over seeds (each seed's own values are in `results.json`)."
        )
    lines = [
        "## Paper and ours",
        "",
        legend,
        "",
        "| model | dataset (paper → ours) | measure | paper | ours | "
        + ("range over seeds |" if spread else "95% CI |"),
        "|---|---|---|---:|---:|---|",
    ]
    paper = plan.paper.get("values", {})
    attacks = results["attacks"]
    for mid, measures in results["measures"].items():
        info = results["models"][mid]
        ds = (
            info["dataset"]
            if info["dataset"] == info["paper_dataset"]
            else f"{info['paper_dataset']} → {info['dataset']}"
        )
        for measure, value in measures.items():
            label = attacks[measure]["label"] if measure in attacks else measure
            if measure in attacks and attacks[measure].get("reading"):
                label += " *reading*"
            ci = results["intervals"].get(mid, {}).get(measure)
            ci_text = f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else ""
            p = paper.get(mid, {}).get(measure)
            ours = _fmt_measure(measure, value)
            sd = ((spread or {}).get(mid, {}).get(measure) or {}).get("sd")
            if sd is not None:
                ours += f" ± {_fmt_measure(measure, sd)}"
            if ci and measure in _LOGIT_MEASURES:
                ci_text = f"[{ci[0]:.2f}, {ci[1]:.2f}]"
            lines.append(
                f"| {info['label']} | {ds} | {label} | {_fmt_paper(measure, p)} | "
                f"{ours} | {ci_text} |"
            )
    # Paper numbers for rows we did not measure (e.g. α values outside this scale's sweep).
    missing = [(k, row) for k, row in paper.items() if k not in results["measures"]]
    if missing:
        lines += ["", "Paper numbers with no row of ours at this scale:", ""]
        for key, row in missing:
            lines.append(f"- `{key}`: " + ", ".join(f"{m} {x}" for m, x in row.items()))
    return lines + [""]


def _presets_md(rows: list[dict]) -> list[str]:
    lines = [
        "## Table 3: the paper's settings and tfls' presets",
        "",
        "Ours is read back from the built attack layer (`get_config()`), at ε = 8/255.",
        "",
        "| attack | preset | restarts (paper / ours) | init (paper / ours) | "
        "steps, step size/ε (paper / ours) | loss (paper / ours) | match |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        p, o = r["paper"], r["ours"]
        step = f"{p.get('steps', '?')}, {p.get('step_size', '?')}"
        ours_step = f"{o['steps']}, " + (
            "auto" if o["step_size_eps"] is None else f"{o['step_size_eps']:g}ε"
        )
        match = {True: "yes", False: "**no**", None: "–"}[r["match"]]
        lines.append(
            f"| {r['label']} | `{r['preset']}` | {p.get('restarts', '?')} / {o['restarts']} | "
            f"{p.get('init', '?')} / {o['init']} | {step} / {ours_step} | "
            f"{p.get('loss', '?')} / {o['loss']} | {match} |"
        )
    lines += ["", "Full configurations:", ""]
    for r in rows:
        lines.append(
            f"- `{r['preset']}`: " + ", ".join(f"{k}={v!r}" for k, v in r["config"].items())
        )
    return lines + [""]


def _audits_md(results: dict) -> list[str]:
    """Each audited model's gradient-masking verdict beside PGD-20 and the audit's worst case."""
    audits = results.get("audits") or {}
    if not audits:
        return []
    budget = next(iter(audits.values()))["budget"]
    lines = [
        f"## Can these numbers be trusted? (`tfls audit`, budget `{budget}`)",
        "",
        "| model | verdict | audit's PGD-20 | worst case of the audit | gap (95% interval) "
        "| report instead |",
        "|---|---|---|---|---|---|",
    ]
    if results.get("seeds"):
        seed = results["seeds"]["values"][0]
        lines[1:1] = [
            "",
            f"Audited once per model, on the models of the first training seed ({seed}): the "
            "verdict is about how to attack a model, and its PGD-20 and worst case are that "
            "seed's, not the mean above.",
        ]
    for mid, a in audits.items():
        label = results["models"][mid]["label"]
        gap = a.get("gap") or {}
        interval = gap.get("interval")
        gap_text = (
            f"{gap['points']:.1f} ({interval[0]:.1f} to {interval[1]:.1f})" if interval else ""
        )
        lines.append(
            f"| {label} | **{a['verdict']}** | {100 * a['pgd20']:.1f}% | "
            f"{100 * a['worst_case']:.1f}% | {gap_text} | {', '.join(a['recommended_suite'])} |"
        )
    lines += [
        "",
        "The audit runs the presets themselves (PGD-20 with 20 steps) on the same images; at a "
        "scale whose columns override them (fewer steps at smoke) its PGD-20 differs from the "
        "table's.",
        "",
        "Why, per model:",
        "",
    ]
    lines += [f"- {results['models'][mid]['label']}: {a['reason']}" for mid, a in audits.items()]
    return lines + [""]


def claim_name(claim: dict) -> str:
    """`"C1"`, or `"C1 [variant]"` for a variant of a claim."""
    return claim["id"] + (f" [{claim['variant']}]" if claim["variant"] else "")


def claims_with_paper(results: dict):
    """Yields `(our verdict, the same claim judged on the paper's numbers or None)` per claim."""
    paper = {(c["id"], c["variant"]): c for c in results.get("paper_claims", [])}
    for c in results.get("claims", []):
        yield c, paper.get((c["id"], c["variant"]))


def _claims_md(results: dict) -> list[str]:
    if not results["claims"]:
        return []
    lines = [
        "## Claims check",
        "",
        "| claim | ours | on the paper's numbers | criterion | our numbers |",
        "|---|---|---|---|---|",
    ]
    for c, p in claims_with_paper(results):
        tag = f" [{c['variant']}]" if c["variant"] else ""
        seeds = f" (per seed: {', '.join(c['per_seed'])})" if c.get("per_seed") else ""
        lines.append(
            f"| **{c['id']}**{tag} {c['statement']} | **{c['verdict']}**{seeds} | "
            f"{p['verdict'] if p else '–'} | "
            f"{c['criterion']} | {c['detail']} |"
        )
    return lines + [""]


def _models_md(results: dict) -> list[str]:
    lines = [
        "## Models",
        "",
        "| id | dataset | architecture | method | α | epochs | clean acc. (run.json) | cache |",
        "|---|---|---|---|---:|---:|---:|---|",
    ]
    for mid, m in results["models"].items():
        acc = m.get("train_clean_accuracy")
        lines.append(
            f"| {mid} | {m['dataset']} | {m['architecture']} | {m['method']} | "
            f"{m['label_smoothing']:g} | "
            f"{m['epochs']} | {'–' if acc is None else f'{100 * acc:.2f}'} | `{m['hash']}` |"
        )
    return lines + [""]


def _attacks_md(plan: Plan, results: dict) -> list[str]:
    lines = [
        "## Attacks",
        "",
        "| id | preset | norm | parameters | note |",
        "|---|---|---|---|---|",
    ]
    for aid, a in results["attacks"].items():
        params = ", ".join(f"{k}={v}" for k, v in a["params"].items()) or "preset defaults"
        note = []
        if a["source"]:
            note.append(f"transferred: crafted on `{a['source']}`")
        if a["reading"]:
            note.append(f"*reading*: {a['reading']}")
        lines.append(f"| {aid} | `{a['preset']}` | {a['norm']} | {params} | {'; '.join(note)} |")
    eps = {k: val for k, val in plan.eps.items() if val is not None}
    lines += ["", f"ε at this scale: {eps}", ""]
    return lines


# --------------------------------------------------------------------------------------------
# Plots


def plot(plan: Plan, results: dict, p: dict, path: Path) -> bool:
    """Draws one `[[plots]]` entry into `path` (PNG, Agg backend); False if nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measures = results["measures"]
    groups = results["groups"]
    series: list[tuple[str, list[float], list[float]]] = []
    if p["x"] == "label_smoothing":
        model_group = p["models"] if isinstance(p["models"], str) else p["models"][0]
        by_alpha = groups["models"].get(model_group, {})
        for measure in p.get("measures", ["clean"]):
            pts = sorted(
                (a, measures[mid][measure])
                for a, mid in by_alpha.items()
                if measure in measures.get(mid, {})
            )
            if pts:
                label = results["attacks"].get(measure, {}).get("label", measure)
                series.append((label, [a for a, _ in pts], [100 * y for _, y in pts]))
    else:
        attack_groups = p["attacks"] if isinstance(p["attacks"], list) else [p["attacks"]]
        model_ids = [m for g in p.get("models", list(measures)) for m in _model_ids(results, g)]
        for mid in model_ids:
            for g in attack_groups:
                sweep = groups["attacks"].get(g, {})
                pts = sorted(
                    (x, measures[mid][aid])
                    for x, aid in sweep.items()
                    if aid in measures.get(mid, {})
                )
                if pts:
                    label = results["models"][mid]["label"] + (
                        f" · {g}" if len(attack_groups) > 1 else ""
                    )
                    series.append((label, [x for x, _ in pts], [100 * y for _, y in pts]))
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=110)
    for label, xs, ys in series:
        ax.plot(xs, ys, marker="o", label=label)
    if p.get("xscale"):
        ax.set_xscale(p["xscale"])
    ax.set_xlabel(p.get("xlabel", p["x"]))
    ax.set_ylabel(p.get("ylabel", "accuracy (%)"))
    ax.set_ylim(-2, 102)
    title = p.get("title", plan.title)
    ax.set_title(
        f"{title}\n[{plan.scale} scale" + (", stand-in data]" if plan.substitutions else "]"),
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with io.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return True


def _model_ids(results: dict, group_or_id: str) -> list[str]:
    if group_or_id in results["measures"]:
        return [group_or_id]
    return [
        mid
        for mid, m in results["models"].items()
        if m["group"] == group_or_id and mid in results["measures"]
    ]
