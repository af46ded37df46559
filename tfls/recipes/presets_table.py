"""Table 3: each attack preset as tfls configures it, read back from the built layer, beside the paper.

A `presets` recipe trains nothing: it builds every attack of the spec on a tiny probe model and
compares its steps and step size (as a multiple of ε) with the paper's row.
"""

from __future__ import annotations

from tfls.recipes.plan import Plan


def presets_table(plan: Plan) -> list[dict]:
    """Each attack as tfls configures it (read back from the built layer), beside Table 3."""
    import keras

    from tfls import attacks as tfls_attacks

    probe = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    paper_rows = plan.paper.get("rows", {})
    eps = plan.eps_for("linf", "cifar10") if plan.eps.get("linf") is not None else 8 / 255
    rows = []
    for atk in plan.attacks:
        suite = tfls_attacks.plan_suite(
            {atk.id: atk.preset}, eps=eps, norm=atk.norm, overrides={atk.id: atk.params}
        )
        attack = suite.build(probe)[atk.id]
        config = {
            k: v
            for k, v in attack.get_config().items()
            if k not in ("model", "trainable", "dtype", "name")
        }
        paper = paper_rows.get(atk.id, {})
        ours = _preset_summary(atk.preset, config, eps)
        rows.append(
            {
                "id": atk.id,
                "label": atk.label,
                "preset": atk.preset,
                "config": config,
                "ours": ours,
                "paper": paper,
                "match": _preset_match(paper, ours),
            }
        )
    return rows


def _preset_summary(preset: str, config: dict, eps: float) -> dict:
    steps = config.get("steps", config.get("max_iterations", 1))
    step = config.get("step_size")
    if preset == "fgsm":
        step = 2 * eps if step is None else step
    return {
        "restarts": config.get("restarts", 1),
        "init": config.get(
            "init",
            "odi" if preset == "odi" else ("original" if preset == "fgsm" else "fixed in code"),
        ),
        "steps": steps,
        "step_size_eps": None if step is None else round(float(step) / eps, 6),
        "loss": config.get(
            "loss", {"mt": "targeted margin", "autoattack": "ensemble"}.get(preset, "-")
        ),
    }


def _preset_match(paper: dict, ours: dict) -> bool | None:
    """True if every number the paper's row gives (steps, step size as a multiple of ε) agrees."""
    checks = [k for k in ("steps", "step_size_eps") if k in paper]
    if not checks:
        return None
    return all(
        ours.get(k) is not None and abs(float(ours[k]) - float(paper[k])) < 1e-6 for k in checks
    )
