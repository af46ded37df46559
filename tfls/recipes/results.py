"""A recipe run's results dictionary as it starts: spec, provenance, models and attack columns.

The runner (`tfls.recipes.pipeline`) and the dry run (`tfls.recipes.dryrun`) both fill it;
`tfls.recipes.write_results` writes it out.
"""

from __future__ import annotations

from tfls import provenance
from tfls.recipes.plan import Plan, groups_of


def empty_results(plan: Plan) -> dict:
    """The results of `plan` before any model is trained or measured."""
    import tfls

    return {
        "recipe": plan.recipe,
        "title": plan.title,
        "paper_ref": plan.paper_ref,
        "kind": plan.kind,
        "scale": plan.scale,
        "description": plan.description,
        "spec": plan.source,
        "overrides": list(plan.overrides),
        "created": provenance.now(),
        "tfls_version": tfls.__version__,
        "versions": provenance.versions(),
        "host": provenance.host(),
        "n": plan.n,
        "substitutions": [
            {"paper_dataset": s.paper_dataset, "dataset": s.dataset, "reason": s.reason}
            for s in plan.substitutions
        ],
        "notes": list(plan.notes),
        "models": {},
        "attacks": {
            a.id: {
                "label": a.label,
                "group": a.group,
                "preset": a.preset,
                "norm": a.norm,
                "params": a.params,
                "source": a.source,
                "reading": a.reading,
                "sweep_param": a.sweep_param,
                "sweep_value": a.sweep_value,
            }
            for a in plan.attacks
        },
        "measures": {},
        "intervals": {},
        "evaluations": {},
        "groups": groups_of(plan),
    }


def model_entry(m, config) -> dict:
    """What `results["models"]` says of a model whatever became of it: spec and configuration."""
    d = config.to_dict()
    d.pop("data_dir", None)
    return {
        "label": m.label,
        "group": m.group,
        "paper_dataset": m.paper_dataset,
        "dataset": m.dataset,
        "architecture": config.model,
        "method": m.method,
        "label_smoothing": m.label_smoothing,
        "epochs": config.epochs,
        "config": d,
    }
