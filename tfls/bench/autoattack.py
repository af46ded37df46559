"""AutoAttack's components timed side by side with IBM ART's equivalents, in one process.

Every row runs on the same Keras model, the same images and the same budget. For each component
we report seconds, images/s, robust accuracy (correct at the adversarial point, over all images,
so clean mistakes count as broken), the model calls it actually made per image (counted by an
instrumented input layer), and

    efficiency = images/s × counted passes per image / the model's own passes/s at that batch,

against forward+backward for the gradient attacks and forward alone for Square (1.0 = the attack
loop costs nothing beyond the model). ART's rows use `AutoProjectedGradientDescent` (CE; DLR
targeted at the 9 runner-up classes, one target after another on the still-robust points, as
AutoAttack does) and `SquareAttack`; ART has no FAB, so FAB-T has no ART row and ART's
"AutoAttack" runs APGD-CE → APGD-T → Square. With `pytorch=("fra31", "torchattacks")`,
AutoAttack's reference implementation (fra31/auto-attack) and torchattacks run each component
too, on a PyTorch copy of the same weights (`tfls.bench.pytorch`). Seconds include tracing and
compilation: a user pays them too.
"""

from __future__ import annotations

import importlib.util
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

import tfls.attacks as attacks
from tfls.attacks.autoattack import SETTINGS, STANDARD
from tfls.bench.attacks import forward_backward_rate, instrument
from tfls.bench.components import FULL, budget, spec

# The peers a tfls row can sit beside, by library name, and their column headings.
PEERS = {"art": "ART", "fra31": "fra31 (PyTorch)", "torchattacks": "torchattacks"}
# The PyTorch peers (`--pytorch`) and the module each needs besides torch.
PYTORCH_MODULES = {"fra31": "autoattack", "torchattacks": "torchattacks"}
CHOICES = (*SETTINGS, FULL)
# What each component is measured against: the model's forward+backward pass, or forward only.
PASS = {"apgd-ce": "fwd+bwd", "apgd-dlr": "fwd+bwd", "apgd-t": "fwd+bwd", "fab-t": "fwd+bwd"}
PASS.update({"square": "fwd", FULL: None})  # a mix of both: no single yardstick


@dataclass
class Row:
    model: str
    component: str
    library: str
    n: int
    seconds: float
    images_per_s: float
    robust_accuracy: float
    forwards_per_image: float
    backwards_per_image: float
    efficiency: float | None
    budget: str
    note: str = ""
    # A second call with the traces cached (`warm=True`): what each further batch costs.
    warm_seconds: float | None = None


def load_benchmark(model, *, dataset=None, n=128, data_dir=None, split="test"):
    """The model to attack and its first `n` images: `(model, x, y, about)`.

    `model` is a tfls run folder or `.keras` file (attacked on the dataset's labels), or an
    architecture name such as `"preact-resnet18"`, built with random weights (seed 0) and
    attacked on its own predictions, so that every image is attacked (`dataset` defaults to
    cifar10 then).
    """

    import tfls.data
    import tfls.models
    from tfls._validation import check_positive_int

    n = check_positive_int(n, name="n")
    path = Path(str(model))
    if path.exists():
        from tfls.model_options import check_model_fits

        network, run = tfls.models.load(path)  # one (batch, classes) output, or refused
        dataset = dataset or run.get("dataset")
        if not dataset:
            raise ValueError(
                f"Name the model's dataset with --dataset. Received: model={str(model)!r}"
            )
        # Input shape and classes against the data's, before any image is read.
        check_model_fits(network, tfls.data.info(dataset, data_dir=data_dir), name=str(path))
        x, y = tfls.data.load_arrays(dataset, split, data_dir=data_dir, limit=n)
        about = {"name": path.name, "path": str(path), "dataset": dataset, "labels": "dataset"}
        return network, x, y.astype(np.int32), about
    if not isinstance(model, str) or not _is_architecture(model):
        raise ValueError(
            "--model must be a run folder, a .keras file or an architecture name such as "
            f"preact-resnet18. Received: model={str(model)!r}"
        )
    dataset = dataset or "cifar10"
    x, _ = tfls.data.load_arrays(dataset, split, data_dir=data_dir, limit=n)
    num_classes = 100 if dataset == "cifar100" else 10
    network = tfls.models.build(model, num_classes=num_classes, input_shape=x.shape[1:], seed=0)
    y = np.argmax(np.asarray(network(x, training=False)), -1).astype(np.int32)
    about = {
        "name": f"{model}-random",
        "architecture": model,
        "dataset": dataset,
        "weights": "random (seed 0)",
        "labels": "the model's own predictions",
    }
    return network, x, y, about


def _is_architecture(name: str) -> bool:
    import tfls.models

    return name in tfls.models.NAMES or any(
        re.fullmatch(
            p.replace("<depth>", "[0-9]+").replace("<width>", "[0-9]+").replace("<k>", "[0-9]+"),
            name,
        )
        for p in tfls.models.PATTERNS
    )


def parse_budgets(items: Sequence[str]) -> dict:
    """`["square.n_queries=1000"]` -> `{"square": {"n_queries": 1000}}` (numbers parsed)."""
    overrides: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        component, dot, arg = key.partition(".")
        if not sep or not dot or component not in SETTINGS or arg not in SETTINGS[component][1]:
            raise ValueError(
                "A budget is COMPONENT.ARG=VALUE with an argument of that component's standard "
                f"settings, e.g. square.n_queries=1000. Received: {item!r}"
            )
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not np.isfinite(number):
            raise ValueError(
                f"A budget's VALUE must be a number, e.g. square.n_queries=1000. Received: {item!r}"
            )
        overrides.setdefault(component, {})[arg] = int(number) if number.is_integer() else number
    return overrides


def art_available() -> bool:
    return importlib.util.find_spec("art") is not None


def pytorch_available(library: str) -> bool:
    """torch and `library` (fra31 or torchattacks) importable, for `--pytorch`."""
    return all(importlib.util.find_spec(m) is not None for m in ("torch", PYTORCH_MODULES[library]))


def art_versions() -> dict:
    if not art_available():
        return {}
    import art

    return {"adversarial-robustness-toolbox": art.__version__}


def pytorch_versions(libraries) -> dict:
    if not libraries:
        return {}
    from tfls.bench import pytorch as reference

    return reference.versions(libraries)


def forward_rate(model, x, repeats=5) -> float:
    """Images/s of the model's own compiled forward pass on `x` (best of `repeats`)."""
    step = tf.function(lambda xb: model(xb, training=False), reduce_retracing=True)
    xt = tf.constant(x)
    step(xt)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.asarray(step(xt))
        best = min(best, time.perf_counter() - t0)
    return len(x) / best


def _components_of(name):
    return STANDARD if name == FULL else (name,)


def run_tfls(model, name, x, y, *, eps, seed=0, overrides=None):
    """One tfls component (or the whole standard AutoAttack) on `(x, y)`: `(x_adv, seconds)`."""
    if name == FULL:
        aa = {"version": "standard"}
        if overrides:
            aa["overrides"] = {k: dict(v) for k, v in overrides.items() if k in STANDARD}
        attack = attacks.suite(model, [FULL], eps=eps, seed=seed, overrides={FULL: aa})[FULL]
    else:
        over = {name: dict(overrides[name])} if overrides and name in overrides else None
        attack = attacks.suite(model, [name], eps=eps, seed=seed, overrides=over)[name]
    t0 = time.perf_counter()
    x_adv = np.asarray(attack(x, y))
    return x_adv, time.perf_counter() - t0


def run_art(model, name, x, y, *, eps, overrides=None):
    """ART's equivalent of component `name` (no FAB) on `(x, y)`: `(x_adv, seconds)`."""
    from art.attacks.evasion import AutoProjectedGradientDescent, SquareAttack
    from art.estimators.classification import TensorFlowV2Classifier

    num_classes = int(model.output_shape[-1])
    classifier = TensorFlowV2Classifier(
        model,
        nb_classes=num_classes,
        input_shape=tuple(x.shape[1:]),
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        clip_values=(0.0, 1.0),
    )
    eye = np.eye(num_classes, dtype=np.float32)
    t0 = time.perf_counter()
    x_adv = x.copy()
    robust = np.argmax(classifier.predict(x, batch_size=len(x)), -1) == y
    clean_logits = classifier.predict(x, batch_size=len(x))
    for component in _components_of(name):
        settings = spec(component, overrides)
        if component == "fab-t":
            continue  # ART has no FAB
        if component == "square":
            runs = [
                (
                    SquareAttack(
                        classifier,
                        norm=np.inf,
                        eps=eps,
                        max_iter=settings["n_queries"],
                        p_init=settings["p_init"],
                        nb_restarts=settings["restarts"],
                        batch_size=len(x),
                        verbose=False,
                    ),
                    None,
                )
            ]
        else:
            loss = "cross_entropy" if settings["loss"] == "ce" else "difference_logits_ratio"
            targeted = bool(settings.get("targeted"))
            apgd = AutoProjectedGradientDescent(
                classifier,
                norm=np.inf,
                eps=eps,
                eps_step=2 * eps,
                max_iter=settings["steps"],
                targeted=targeted,
                nb_random_init=settings["restarts"],
                batch_size=len(x),
                loss_type=loss,
                verbose=False,
            )
            order = np.argsort(clean_logits, axis=-1)
            ranks = range(2, settings["n_targets"] + 2) if targeted else [None]
            runs = [(apgd, rank) for rank in ranks]
        for attack, rank in runs:
            idx = np.flatnonzero(robust)
            if not idx.size:
                break
            labels = y[idx] if rank is None else order[idx, -rank]
            out = attack.generate(x[idx], eye[labels])
            x_adv[idx] = out
            pred = np.argmax(classifier.predict(out, batch_size=len(idx)), -1)
            robust[idx] = pred == y[idx]
    return x_adv, time.perf_counter() - t0


def measure(
    model,
    x,
    y,
    *,
    eps,
    components: Sequence[str] = (*STANDARD, FULL),
    art: bool = True,
    pytorch: Sequence[str] = (),
    warm: bool = False,
    seed: int = 0,
    overrides: dict | None = None,
    model_name: str = "model",
    progress: Callable[[list[Row], dict], object] | None = None,
) -> tuple[list[Row], dict]:
    """Times each component under tfls (and ART unless `art=False`; the PyTorch libraries named
    in `pytorch`, "fra31" and/or "torchattacks", on a PyTorch copy of the model) on `(x, y)`.

    With `warm=True` every row is run a second time (tfls' traces then cached) and its
    `warm_seconds` recorded. Returns `(rows, baselines)`, the latter the model's own forward and
    forward+backward images/s at batch `len(x)`. `progress(rows, baselines)` is called after
    every row.
    """
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int32)
    n = len(y)
    counted, counter = instrument(model)
    baselines = {
        "fwd": forward_rate(model, x),
        "fwd+bwd": forward_backward_rate(model, x, y),
    }
    rows = []
    torch_net = None
    for library in pytorch:
        if library not in PYTORCH_MODULES:
            raise ValueError(
                f"Unknown PyTorch library; expected fra31 or torchattacks. Received: {library!r}"
            )
    if pytorch:
        from tfls.bench import pytorch as reference

        torch_net = reference.Counted(reference.to_torch(model, x))

    def add(library, name, fn, note=""):
        counter.forwards.assign(0)
        counter.backwards.assign(0)
        if torch_net is not None:
            torch_net.forwards = torch_net.backwards = 0
        x_adv, seconds = fn()
        rate = n / seconds
        predictions = np.argmax(np.asarray(model(x_adv, training=False)), -1)
        if library not in pytorch:
            forwards = int(counter.forwards.numpy()) / n
            backwards = int(counter.backwards.numpy()) / n
            passes = {"fwd+bwd": backwards, "fwd": forwards}.get(PASS[name], 0.0)
        else:  # PyTorch's passes: no efficiency against the Keras model's rate
            forwards, backwards = torch_net.forwards / n, torch_net.backwards / n
            passes = 0.0
            # The peer judged its points on the copy; robust accuracy is Keras' judgement. Where
            # logits are near ties the two can disagree, and the row must say so.
            differ = int(np.sum(reference.predict(torch_net.net, x_adv) != predictions))
            if differ:
                note = (
                    f"{differ} of {n} points: the PyTorch copy and Keras predict different "
                    "classes at the peer's output (near-tied logits), so the peer stopped or went "
                    "on where Keras would not"
                )
        row = Row(
            model=model_name,
            component=name,
            library=library,
            n=n,
            seconds=seconds,
            images_per_s=rate,
            robust_accuracy=float(np.mean(predictions == y)),
            forwards_per_image=forwards,
            backwards_per_image=backwards,
            efficiency=rate * passes / baselines[PASS[name]] if passes else None,
            budget=budget(name, overrides),
            note=note,
        )
        if warm:
            row.warm_seconds = fn()[1]
        rows.append(row)
        if progress is not None:
            progress(rows, baselines)

    for name in components:
        if name not in CHOICES:
            raise ValueError(
                f"Unknown component {name!r}; expected one of {CHOICES}. Received: {name!r}"
            )
        add(
            "tfls",
            name,
            lambda name=name: run_tfls(
                counted, name, x, y, eps=eps, seed=seed, overrides=overrides
            ),
        )
        if art and name != "fab-t":
            note = "APGD-CE, APGD-T, Square (ART has no FAB)" if name == FULL else ""
            add(
                "art",
                name,
                lambda name=name: run_art(counted, name, x, y, eps=eps, overrides=overrides),
                note,
            )
        for library in pytorch:
            add(
                library,
                name,
                lambda name=name, library=library: reference.run(
                    library, torch_net, name, x, y, eps=eps, seed=seed, overrides=overrides
                ),
            )
    return rows, baselines


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


ART_SETTINGS = (
    "TensorFlowV2Classifier(clip_values=(0, 1)) on the same Keras model; "
    "AutoProjectedGradientDescent(norm=inf, eps_step=2ε, max_iter=steps, nb_random_init=1, "
    "batch_size=n, loss_type='cross_entropy' or 'difference_logits_ratio'); APGD-T runs "
    "targeted at the 2nd, 3rd, … most likely clean class (n_targets of them), each on the "
    "points still robust; "
    "SquareAttack(norm=inf, max_iter=queries, p_init=0.8, nb_restarts=1, batch_size=n). "
    "ART's 'autoattack' row chains them (APGD-CE → APGD-T → Square) on still-robust points: "
    "ART has no FAB."
)

PYTORCH_SETTINGS = {
    "fra31": "fra31/auto-attack's AutoAttack class with norm='Linf', version='standard', the "
    "seed and device='cpu', attacks_to_run set to the component, the budgets above; "
    "run_standard_evaluation with one batch of n",
    "torchattacks": "torchattacks' APGD (loss='ce'), APGDT and FAB (multi_targeted=True), both "
    "with n_classes = n_targets + 1, and Square (resc_schedule=False), with the budgets above, "
    "chained by MultiAttack for the whole AutoAttack (its own AutoAttack class with "
    "version='standard' would keep 10-step defaults)",
}
PYTORCH_COMMON = (
    "Each on a PyTorch copy of the Keras model (its logits checked equal on the images), "
    "torch on the same cores; passes counted by a wrapper on the copy; no efficiency column "
    "(another framework's passes)."
)


def rows_to_json(rows: list[Row]) -> list[dict]:
    return [asdict(r) for r in rows]
