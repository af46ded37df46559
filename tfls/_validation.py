"""Argument checks shared by every public entry point: one clear ValueError naming the value."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from fractions import Fraction

import numpy as np

NORMS = ("linf", "l2")
OUTPUTS = ("logits", "probs")  # what a wrapped model outputs (`tfls.models.wrap`)
AUTO_BATCH_SIZE = 256  # where `--batch-size auto` starts (`tfls.eval.autobatch`)
# How far from 1 a row of probabilities may sum (`check_logits`, `check_probabilities`).
PROBABILITY_ROW_TOL = 1e-3


def parse_eps(value) -> float:
    """Parses `8/255`, `0.031` or a number into a float; refuses anything else by name."""
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        return float(Fraction(text)) if "/" in text else float(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(
            f"Could not read ε: expected a number such as 0.031 or a fraction such as 8/255. "
            f"Received: eps={value!r}"
        ) from None


def check_eps(eps, *, name: str = "eps", norm: str = "linf") -> float:
    eps = parse_eps(eps)
    if not np.isfinite(eps) or eps < 0:
        raise ValueError(f"`{name}` must be a finite number >= 0. Received: {name}={eps}")
    if norm == "linf" and eps > 1:
        raise ValueError(
            f"`{name}` is larger than the whole [0, 1] input range; did you mean {eps:g}/255? "
            f"Received: {name}={eps}"
        )
    return eps


def check_choice(value, choices: Iterable[str], *, name: str) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(
            f"Unknown {name} {value!r}. Expected one of: {', '.join(map(str, choices))}. "
            f"Received: {name}={value!r}"
        )
    return value


def check_norm(norm: str) -> str:
    return check_choice(norm, NORMS, name="norm")


def check_positive_int(value, *, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}")
    return int(value)


SEED_MAX = 2**32 - 1  # `keras.utils.set_random_seed` and NumPy take seeds in [0, 2**32 - 1]


def check_seed(value, *, name: str = "seed") -> int:
    """An integer seed in [0, 2**32 - 1], the range every seeded generator tfls calls accepts."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"`{name}` must be an integer. Received: {name}={value!r}")
    if not 0 <= value <= SEED_MAX:
        raise ValueError(
            f"`{name}` must be an integer in [0, 2**32 - 1]. Received: {name}={int(value)}"
        )
    return int(value)


def check_nonnegative(value, *, name: str) -> float:
    if isinstance(value, bool) or not np.isfinite(float(value)) or float(value) < 0:
        raise ValueError(f"`{name}` must be a finite number >= 0. Received: {name}={value!r}")
    return float(value)


def check_label_smoothing(alpha) -> float:
    alpha = float(alpha)
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"Label smoothing α must lie in [0, 1). Received: label_smoothing={alpha}")
    return alpha


def check_images(x, *, name: str = "x") -> None:
    """Refuses images outside [0, 1] (the valid input box every attack projects onto)."""
    arr = np.asarray(x)
    if arr.ndim < 2:
        raise ValueError(
            f"`{name}` must be a batch of inputs with a leading batch axis. "
            f"Received: {name}.shape={arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(
            f"`{name}` must be floating point in [0, 1]; scale integer images by 1/255. "
            f"Received: {name}.dtype={arr.dtype}"
        )
    if arr.size:
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0 or not np.isfinite([lo, hi]).all():
            raise ValueError(
                f"`{name}` must lie in [0, 1] (tfls models normalise inside). "
                f"Received: {name} in [{lo:g}, {hi:g}]"
            )


def check_label_vector(y) -> np.ndarray:
    """Refuses labels that are not a 1-D vector of integers (one-hot labels, floats)."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(
            f"Labels must be a 1-D vector of integer class indices (not one-hot; "
            f"y.argmax(-1) gives the indices). Received: y.shape={arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"Labels must be integers. Received: y.dtype={arr.dtype}")
    return arr


def check_labels(y, *, num_classes: int, batch_size: int | None = None) -> None:
    arr = check_label_vector(y)
    if batch_size is not None and arr.shape[0] != batch_size:
        raise ValueError(
            f"Inputs and labels must have the same batch size. "
            f"Received: x has {batch_size} examples, y has {arr.shape[0]}"
        )
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise ValueError(
            f"Labels must lie in [0, {num_classes}). Received: labels in [{arr.min()}, {arr.max()}]"
        )


def check_logits(outputs, *, name: str = "model") -> None:
    """Refuses a model whose outputs are not finite logits: NaN/inf, softmax or sigmoid outputs."""
    check_output_structure(outputs, name=name)
    out = np.asarray(outputs, dtype=np.float64)
    check_finite_logits(out, name=name)
    if out.shape[0] == 0 or out.shape[1] < 2:
        return
    if out.min() >= 0.0 and out.max() <= 1.0:
        kind = (
            "every row is in [0, 1] and sums to 1"
            if np.allclose(out.sum(axis=1), 1.0, atol=PROBABILITY_ROW_TOL)
            else "every value is in [0, 1], as after a sigmoid"
        )
        raise ValueError(
            f"`{name}` outputs probabilities ({kind}): tfls attacks "
            "need logits. Remove the final softmax or sigmoid (activation=None), or add "
            "--outputs probs (tfls.models.wrap(model, outputs='probs')) to attack "
            "log-probabilities."
        )


def check_output_structure(outputs, *, name: str = "model") -> int | None:
    """Refuses outputs that are not one `(batch, classes)` tensor; returns `classes` (or None).

    `outputs` is what a model returned (tensors, arrays) or declares (Keras tensors, shape
    tuples): a dict or a list of several outputs, a rank other than 2 or fewer than 2 classes is
    refused in one line naming the outputs, before anything is computed from them.
    """
    if isinstance(outputs, Mapping):
        listing = ", ".join(f"{k!r}: {_shape_of(o)}" for k, o in outputs.items())
        first = next(iter(outputs), "logits")
        raise ValueError(
            f"`{name}` outputs a dict of {len(outputs)} tensor{'s' * (len(outputs) != 1)} "
            f"({listing}); tfls attacks a classifier with one output, its logits (batch, "
            f"classes): give a model returning that tensor, e.g. keras.Model(model.inputs, "
            f"model.output[{first!r}]). Received: outputs={{{listing}}}"
        )
    if isinstance(outputs, (list, tuple)) and not _is_shape(outputs):
        listing = ", ".join(str(_shape_of(o)) for o in outputs)
        raise ValueError(
            f"`{name}` has {len(outputs)} outputs ({listing}); tfls attacks a classifier with one "
            "output, its logits (batch, classes): give a model returning that tensor, e.g. "
            f"keras.Model(model.inputs, model.outputs[0]). Received: outputs=[{listing}]"
        )
    shape = _shape_of(outputs)
    if shape is None:
        return None
    if len(shape) != 2:
        raise ValueError(
            f"`{name}` must output a (batch, classes) tensor of logits. "
            f"Received output shape {shape}"
        )
    classes = shape[1]
    if classes is not None and classes < 2:
        raise ValueError(
            f"`{name}` outputs {classes} value per image, but a classifier outputs one logit per "
            "class, at least 2 (for a binary task, two logits rather than one sigmoid score). "
            f"Received output shape {shape}"
        )
    return classes


def model_classes(model, *, name: str = "model") -> int | None:
    """The number of classes `model` declares (its static output shape), or None if unknown.

    Refuses, in one line and without calling the model, one that declares several outputs, a
    dict of outputs, outputs of another rank or fewer than 2 classes (`check_output_structure`).
    A subclassed model that has not declared its outputs gives None: its first call will tell.
    """
    try:
        declared = model.output  # Functional: the nested structure (a dict stays a dict)
    except (AttributeError, ValueError, TypeError, RuntimeError):
        try:
            declared = model.output_shape  # Sequential, or a wrapper that delegates
        except (AttributeError, ValueError, TypeError, RuntimeError):
            return None
    return check_output_structure(declared, name=name)


def _is_shape(value) -> bool:
    return isinstance(value, tuple) and all(
        d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool)) for d in value
    )


def _shape_of(value) -> tuple | None:
    """`value`'s shape as a tuple (`None` for unknown sizes); None when it has no shape."""
    if _is_shape(value):
        return tuple(value)
    shape = getattr(value, "shape", None)
    if shape is None:
        try:
            shape = np.shape(value)
        except (ValueError, TypeError):
            return None
    try:
        return tuple(None if d is None else int(d) for d in shape)
    except TypeError:  # a shape of unknown rank
        return None


def check_probabilities(outputs, *, name: str = "model") -> None:
    """Refuses outputs claimed to be probabilities (`outputs="probs"`) that are not.

    The check: every value in [0, 1] and every row summing to 1 (within 1e-3), as after a
    softmax. Logits fail it, and attacking `log` of them would measure nothing.
    """
    out = np.asarray(outputs, dtype=np.float64)
    if out.ndim != 2 or out.size == 0:
        return
    sums = out.sum(axis=1)
    in_box = out.min() >= 0.0 and out.max() <= 1.0
    if in_box and np.allclose(sums, 1.0, atol=PROBABILITY_ROW_TOL):
        return
    raise ValueError(
        f"`{name}` is wrapped with --outputs probs (outputs='probs') but does not output "
        f"probabilities: the check that every output lies in [0, 1] and every row sums to 1 "
        f"(within {PROBABILITY_ROW_TOL:g}) fails, its outputs lie in [{out.min():.4g}, "
        f"{out.max():.4g}] and its rows sum to [{sums.min():.4g}, {sums.max():.4g}]. It outputs "
        "logits: drop --outputs probs. Received: outputs='probs'"
    )


def check_finite_logits(outputs, *, name: str = "model") -> None:
    """Refuses NaN or infinite logits: `argmax` of NaN is class 0, a number that means nothing."""
    out = np.asarray(outputs, dtype=np.float64)
    bad = ~np.isfinite(out.reshape(len(out), -1)).all(axis=1) if out.ndim else ~np.isfinite(out)
    if bad.any():
        raise ValueError(
            f"`{name}` outputs non-finite logits (NaN or inf) for {int(bad.sum())} of {len(out)} "
            f"images, so its predictions mean nothing. Received: model={name!r}"
        )


def check_model_input(model, x, *, model_name: str = "model") -> None:
    """Refuses a batch `x` that does not fit `model`'s static input shape or is not images in
    [0, 1], before the model sees it (its own error would be many lines)."""
    expected = static_input_shape(model)
    if expected is not None:
        check_input_shape(x, expected, model=model_name)
    check_images(x)


def check_input_shape(x, expected, *, name: str = "x", model: str = "model") -> None:
    """Refuses `x` whose rank or sizes differ from the model's input shape `(None, ...)`."""
    shape = tuple(np.shape(x))
    try:
        expected = tuple(None if d is None else int(d) for d in expected)
    except TypeError:
        return  # several inputs or no static shape: the model's own call will tell
    if len(shape) != len(expected) or any(
        e is not None and e != s for e, s in zip(expected[1:], shape[1:])
    ):
        wanted = "(batch, " + ", ".join("?" if e is None else str(e) for e in expected[1:]) + ")"
        raise ValueError(
            f"`{name}` must have shape {wanted} to fit `{model}`'s input {expected}. "
            f"Received: {name}.shape={shape}"
        )


def check_input_range(input_range) -> tuple[float, float] | None:
    """`(lo, hi)`, `[lo, hi]` or `"lo,hi"` -> `(lo, hi)` floats with `lo < hi`; None stays None."""
    if input_range is None:
        return None
    try:
        parts = input_range.split(",") if isinstance(input_range, str) else list(input_range)
        lo, hi = (float(p) for p in parts)
        ok = bool(np.isfinite([lo, hi]).all()) and lo < hi
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            "`input_range` must be two finite numbers lo < hi, the range the model expects its "
            f"pixels in (e.g. 0,255 or -1,1). Received: input_range={_show(input_range)}"
        )
    return lo, hi


def resolve_function(dotted):
    """`"package.module.function"` -> the function; one-line ValueError if it is not importable."""
    if not isinstance(dotted, str) or not dotted.strip() or "." not in dotted:
        raise ValueError(
            "`preprocess` must be the dotted name of an importable function, e.g. "
            f"keras.applications.resnet50.preprocess_input. Received: preprocess={dotted!r}"
        )
    parts = dotted.strip().split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for attr in parts[split:]:
                target = getattr(target, attr)
        except AttributeError:
            continue
        if callable(target):
            return target
        raise ValueError(
            f"`preprocess` must name a callable; {dotted!r} is a {type(target).__name__}. "
            f"Received: preprocess={dotted!r}"
        )
    raise ValueError(
        f"`preprocess` {dotted!r} cannot be imported (no module in it has that attribute); "
        "give the full dotted path, e.g. keras.applications.resnet50.preprocess_input. "
        f"Received: preprocess={dotted!r}"
    )


def check_outputs(outputs) -> str:
    if outputs not in OUTPUTS:
        raise ValueError(
            "`outputs` must be 'logits' or 'probs' (the model ends in softmax). "
            f"Received: outputs={outputs!r}"
        )
    return outputs


def check_batch_size(value, *, allow_auto: bool = True) -> int | str:
    """`"auto"` stays `"auto"`; anything else must be a positive integer (`"64"` -> 64)."""
    if allow_auto and isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        number = int(value) if isinstance(value, str) else value
    except ValueError:
        number = None
    if isinstance(number, bool) or not isinstance(number, (int, np.integer)) or number < 1:
        expected = "an integer >= 1 or 'auto'" if allow_auto else "an integer >= 1"
        shown = number if isinstance(number, int) and not isinstance(number, bool) else value
        raise ValueError(f"`batch_size` must be {expected}. Received: batch_size={shown!r}")
    return int(number)


def _show(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else repr(value)


def static_input_shape(model):
    """The model's static input shape `(None, ...)`, or None (subclassed or several inputs)."""
    try:
        shape = model.input_shape
    except (AttributeError, ValueError, TypeError):
        return None
    if not isinstance(shape, tuple) or any(isinstance(d, (tuple, list)) for d in shape):
        return None
    return shape
