"""Attack throughput measured against the model's own forward+backward pass, in one process.

Absolute timings on a shared two-core machine are noise; ratios measured side by side are not.
For each attack we report images/s, the gradient evaluations and forward passes per image it
actually made (`tfls.attacks.passes`, the count `report.json` gives), and

    efficiency = images/s × gradient evaluations per image / (forward+backward images/s),

i.e. the fraction of the model's own gradient throughput the attack loop achieves (1.0 = no loop
overhead at all). cleverhans 4's PGD runs on the same model beside ours.

The EOT row (`eot=K`) runs PGD-20 with K draws per step on the model behind input noise (a
model random at inference: on a deterministic one EOT costs nothing, `tfls.attacks.adaptive`):
its gradient evaluations per image are 20·K, so its efficiency is against K× the model's own
forward+backward work.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import keras
import numpy as np
import tensorflow as tf

import tfls.attacks as attacks
from tfls._validation import check_positive_int
from tfls.attacks import passes

MODEL_CHOICES = ("small", "mobilenet")


def models_for(choice: str = "small") -> dict:
    """The benchmarked models: `small` (`bench_models()`) or `mobilenet` (`mobilenet_model()`)."""
    if choice == "small":
        return bench_models()
    if choice == "mobilenet":
        return {"mobilenetv3small-224": mobilenet_model()}
    raise ValueError(
        f"Unknown benchmark model {choice!r}. Expected one of: {', '.join(MODEL_CHOICES)}. "
        f"Received: model={choice!r}"
    )


def mobilenet_model(size: int = 224, num_classes: int = 1000):
    """`keras.applications.MobileNetV3Small(weights=None)` as a user brings it: softmax outputs on
    [0, 255] inputs, wrapped into the threat model (`input_range=(0, 255)`, `outputs="probs"`)."""
    from tfls.models import ThreatModel

    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV3Small(
        weights=None, input_shape=(size, size, 3), classes=num_classes
    )
    return ThreatModel(base, input_range=(0, 255), outputs="probs", name="mobilenetv3small")


def noisy(model: keras.Model) -> keras.Model:
    """`model` behind input noise (`tfls.models.defences`): the same work per pass, and random
    at inference."""
    from tfls.models.defences import defend

    return defend(model, noise=0.05)


def bench_models(input_shape=(28, 28, 1), num_classes=10):
    """A conv net (the paper's MNIST CNN shape) and a small MLP, where loop overhead dominates."""
    from tfls.models import build

    conv = build("cnn4", num_classes=num_classes, input_shape=input_shape, seed=0)
    keras.utils.set_random_seed(0)
    mlp = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(num_classes),
        ],
        name="mlp",
    )
    return {"conv": conv, "mlp": mlp}


@dataclass
class Row:
    model: str
    attack: str
    images_per_s: float
    grad_evals_per_image: float
    forwards_per_image: float
    efficiency: float
    vs_cleverhans: float | None = None


def _time(fn, repeats):
    fn()  # warm-up: tracing and compilation are not throughput
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        _ = np.asarray(out)  # force completion
        best = min(best, time.perf_counter() - t0)
    return best


def forward_backward_rate(model, x, y, repeats=5) -> float:
    loss_fn = attacks.losses.get("ce")

    @tf.function(reduce_retracing=True)
    def step(xb, yb):
        with tf.GradientTape() as tape:
            tape.watch(xb)
            loss = loss_fn(model(xb, training=False), yb)
        return tape.gradient(loss, xb)

    xt, yt = tf.constant(x), tf.constant(y)
    return len(x) / _time(lambda: step(xt, yt), repeats)


def _single(model, name, eps, overrides):
    """One preset alone, built by the suite builder (each benchmarked attack is its own suite)."""
    return attacks.suite(model, [name], eps=eps, overrides={name: overrides})[name]


def bench_attack(model, name, x, y, *, eps, repeats=3, **overrides) -> dict:
    attack = _single(model, name, eps, overrides)
    attack(x, y)  # warm-up and the logits check
    before = passes.read(model)  # the attack's own count, as in report.json
    attack(x, y)
    forwards, grads = ((a - b) / len(x) for a, b in zip(passes.read(model), before))
    seconds = _time(lambda: attack(x, y), repeats)
    return {
        "images_per_s": len(x) / seconds,
        "grad_evals_per_image": grads,
        "forwards_per_image": forwards,
    }


def cleverhans_pgd_rate(model, x, y, *, eps, steps=20, repeats=3) -> float:
    from cleverhans.tf2.attacks.projected_gradient_descent import projected_gradient_descent

    def run():
        return projected_gradient_descent(
            model,
            x,
            eps,
            2 * eps / steps,
            steps,
            np.inf,
            clip_min=0.0,
            clip_max=1.0,
            y=y,
            rand_init=True,
            sanity_checks=False,
        )

    return len(x) / _time(run, repeats)


def run(
    names=("fgsm", "pgd10", "pgd20", "pgd40", "pgd-cw"),
    *,
    batch_size=256,
    eps=0.1,
    repeats=3,
    models=None,
    overrides=None,
    progress=None,
    eot=10,
) -> list[Row]:
    """Benchmarks each preset in `names` on each model; returns one `Row` per pair.

    `eot=K` (K ≥ 2; `None` leaves it out) adds, per model, PGD-20 with K EOT draws on the model
    behind input noise, beside that noisy model's own forward+backward rate.
    """
    batch_size = check_positive_int(batch_size, name="batch_size")
    repeats = check_positive_int(repeats, name="repeats")
    if eot is not None and check_positive_int(eot, name="eot") < 2:
        raise ValueError(f"`eot` must be at least 2 draws (or None). Received: eot={eot}")
    models = models or bench_models()
    overrides = overrides or {}
    rows = []
    for model_name, model in models.items():
        rng = np.random.default_rng(0)
        x = rng.random((batch_size, *model.input_shape[1:]), dtype=np.float32)
        y = np.argmax(model(x), -1).astype(np.int32)
        limit = forward_backward_rate(model, x, y, repeats=max(repeats, 5))
        ch = cleverhans_pgd_rate(model, x, y, eps=eps, repeats=repeats)
        for name in names:
            m = bench_attack(model, name, x, y, eps=eps, repeats=repeats, **overrides.get(name, {}))
            eff = (
                m["images_per_s"] * m["grad_evals_per_image"] / limit
                if m["grad_evals_per_image"]
                else float("nan")
            )
            vs = m["images_per_s"] / ch if name == "pgd20" else None
            rows.append(
                Row(
                    model_name,
                    name,
                    m["images_per_s"],
                    m["grad_evals_per_image"],
                    m["forwards_per_image"],
                    eff,
                    vs,
                )
            )
            if progress:
                progress(rows[-1])
        rows.append(Row(model_name, "cleverhans-pgd20", ch, 20.0, 20.0, ch * 20 / limit, 1.0))
        rows.append(Row(model_name, "forward+backward", limit, 1.0, 1.0, 1.0, None))
        if eot is not None:
            rows += eot_rows(model_name, model, x, y, eps=eps, eot=eot, repeats=repeats)
            if progress:
                progress(rows[-2])
    return rows


def eot_rows(model_name, model, x, y, *, eps, eot, repeats) -> list[Row]:
    """PGD-20 with `eot` draws on `noisy(model)`, and that model's own forward+backward rate."""
    random_model = noisy(model)
    limit = forward_backward_rate(random_model, x, y, repeats=max(repeats, 5))
    m = bench_attack(random_model, "pgd20", x, y, eps=eps, repeats=repeats, eot=eot)
    name = f"{model_name}+noise"
    eff = m["images_per_s"] * m["grad_evals_per_image"] / limit
    return [
        Row(name, f"pgd20 eot={eot}", m["images_per_s"], m["grad_evals_per_image"],
            m["forwards_per_image"], eff),
        Row(name, "forward+backward", limit, 1.0, 1.0, 1.0, None),
    ]  # fmt: skip


def to_markdown(rows: list[Row]) -> str:
    lines = [
        "| model | attack | images/s | grad evals/image | forwards/image | efficiency vs fwd+bwd | ×cleverhans |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        vs = "" if r.vs_cleverhans is None else f"{r.vs_cleverhans:.2f}×"
        rate = f"{r.images_per_s:,.0f}" if r.images_per_s >= 100 else f"{r.images_per_s:.3g}"
        lines.append(
            f"| {r.model} | {r.attack} | {rate} | {r.grad_evals_per_image:g} | "
            f"{r.forwards_per_image:g} | {r.efficiency:.3f} | {vs} |"
        )
    return "\n".join(lines)


def rows_to_json(rows: list[Row]) -> list[dict]:
    return [asdict(r) for r in rows]
