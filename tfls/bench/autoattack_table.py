"""`tfls bench autoattack`'s tables: each tfls row with its peers' beside it, as Markdown and JSON."""

from __future__ import annotations

from dataclasses import asdict

from tfls.bench.autoattack import PASS, Row
from tfls.bench.autoattack_peers import PEERS, PYTORCH_COMMON


def to_markdown(rows: list[Row], baselines: dict[str, dict], info: dict | None = None) -> str:
    """One table: each tfls row with ART's beside it, and ART's time over tfls's.

    `info` (the JSON written beside it) adds the threat model, budgets, command and versions.
    """
    lines = []
    if info:
        lines += [
            f"L∞ ε = {info['eps']:g}, seed {info['seed']}, the first {info['n']} test images; "
            f"model {info['model']['name']} (labels: {info['model'].get('labels', 'dataset')}).",
            "",
        ]
    peers = [lib for lib in PEERS if any(r.library == lib for r in rows)] or ["art"]
    lines += [
        "| model | component | n | tfls s | tfls images/s | tfls robust | tfls efficiency "
        + "".join(f"| {PEERS[p]} s | {PEERS[p]} robust | {PEERS[p]} s / tfls s " for p in peers)
        + "|",
        "|---|---|---:|---:|---:|---:|---:" + "|---:|---:|---:" * len(peers) + "|",
    ]
    by = {(r.library, r.model, r.component): r for r in rows}
    for r in rows:
        if r.library != "tfls":
            continue
        eff = "" if r.efficiency is None else f"{r.efficiency:.2f} ({PASS[r.component]})"
        cells = ""
        for p in peers:
            a = by.get((p, r.model, r.component))
            if a is None:
                cells += (
                    " no FAB in ART | | |" if p == "art" and r.component == "fab-t" else " | | |"
                )
            else:
                cells += (
                    f" {a.seconds:.1f} | {a.robust_accuracy:.1%} | {a.seconds / r.seconds:.1f}× |"
                )
        lines.append(
            f"| {r.model} | {r.component} | {r.n} | {r.seconds:.1f} | {r.images_per_s:.2f} | "
            f"{r.robust_accuracy:.1%} | {eff} |{cells}"
        )
    if any(r.warm_seconds is not None for r in rows):
        lines += ["", *_warm_table(rows, peers, by)]
    lines.append("")
    for model, rates in baselines.items():
        lines.append(
            f"{model}: the model's own forward pass {rates['fwd']:,.0f} images/s, forward+backward "
            f"{rates['fwd+bwd']:,.0f} images/s at batch {rows[0].n if rows else '?'}. "
            "Efficiency = images/s × counted passes per image / that rate (fwd for Square, "
            "fwd+bwd for gradient attacks)."
        )
    notes = [f"{r.library} {r.component}: {r.note}" for r in rows if r.note]
    if info:
        lines += ["", "Budgets (every library alike): " + "; ".join(info["budgets"].values()) + "."]
        if info.get("art_settings"):
            lines.append("ART: " + info["art_settings"])
        for library, settings in (info.get("pytorch_settings") or {}).items():
            lines.append(f"{PEERS[library]}: {settings}.")
        if info.get("pytorch_settings"):
            lines.append(PYTORCH_COMMON)
        lines += notes and ["Notes: " + "; ".join(notes) + "."]
        lines += [
            "Seconds include tracing and compilation (compiled functions are cached per "
            "process, so a later row can reuse an earlier row's traces); robust accuracy counts "
            "clean mistakes as broken.",
            "",
            f"Command: `{info.get('command')}`",
            "",
            "Versions: "
            + ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items())
            + f"; host {info.get('machine', {}).get('hostname')}, "
            f"{info.get('machine', {}).get('cpus')} CPUs.",
        ]
    return "\n".join(lines)


def _warm_table(rows, peers, by) -> list[str]:
    """Second calls, tfls' traces cached: what each further batch of a long evaluation costs."""
    lines = [
        "Second call of each row (tfls' traces cached):",
        "",
        "| model | component | tfls warm s "
        + "".join(f"| {PEERS[p]} warm s | {PEERS[p]} / tfls " for p in peers)
        + "|",
        "|---|---|---:" + "|---:|---:" * len(peers) + "|",
    ]
    for r in rows:
        if r.library != "tfls" or r.warm_seconds is None:
            continue
        cells = ""
        for p in peers:
            a = by.get((p, r.model, r.component))
            if a is None or a.warm_seconds is None:
                cells += " | |"
            else:
                cells += f" {a.warm_seconds:.1f} | {a.warm_seconds / r.warm_seconds:.1f}× |"
        lines.append(f"| {r.model} | {r.component} | {r.warm_seconds:.1f} |{cells}")
    return lines


def rows_to_json(rows: list[Row]) -> list[dict]:
    return [asdict(r) for r in rows]
