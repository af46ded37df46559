"""An evaluation's fingerprint: the model's weights hash, attack configs, their digest, diffs."""

from __future__ import annotations

import json
from typing import Any

import keras
import numpy as np

from tfls import io
from tfls.hashing import digest, digest_chunks
from tfls.models.wrap import options_of


def fingerprint_digest(components: dict) -> str:
    return digest(components, default=io._json_default)


def differences(stored: Any, current: Any, prefix: str = "") -> list[str]:
    """Lists the dotted paths where two JSON-like values differ, with both values."""
    if isinstance(stored, dict) and isinstance(current, dict):
        out: list[str] = []
        for key in sorted(set(stored) | set(current), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in stored:
                out.append(f"{path}: (absent) -> {_short(current[key])}")
            elif key not in current:
                out.append(f"{path}: {_short(stored[key])} -> (absent)")
            else:
                out.extend(differences(stored[key], current[key], path))
        return out
    if normalise(stored) != normalise(current):
        return [f"{prefix or '(root)'}: {_short(stored)} -> {_short(current)}"]
    return []


def normalise(value):
    return json.loads(json.dumps(value, sort_keys=True, default=io._json_default))


def _short(value, limit: int = 60) -> str:
    text = json.dumps(value, default=io._json_default)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def attack_config(attack, model) -> dict:
    """The attack's `get_config()` with serialized models replaced by a short description.

    A model other than the evaluated one (a transfer attack's source) is described by its
    weights hash, so that its identity is part of the fingerprint. Layer names ("pgd_3") and
    `trainable` are dropped at every level: Keras numbers unnamed layers per process, and
    neither says anything about what was computed, so both would only break resuming. So are
    `eot=1` and `bpda=None`, the attack without adaptation: fingerprints of evaluations that do
    not use EOT or BPDA are those they had before these options existed.
    """
    config = dict(attack.get_config()) if hasattr(attack, "get_config") else {}
    config.setdefault("eps", float(attack.eps))
    config.setdefault("norm", attack.norm)
    config = {"class": type(attack).__name__, **config}
    for key in list(config):
        held = getattr(attack, key, None)
        if held is model:
            config[key] = "<the evaluated model>"
        elif isinstance(held, keras.Model):
            info = model_fingerprint(held)
            config[key] = f"<model {info['class']} sha256:{info['weights_sha256'][:16]}>"
    return _without_models_and_names(config)


def _unadapted(key, value) -> bool:
    """An attack's EOT or BPDA setting at its default (no adaptation)."""
    return (key == "eot" and value == 1) or (key == "bpda" and value is None)


def _without_models_and_names(value):
    if isinstance(value, dict):
        if _is_serialized_model(value):
            return "<model>"
        return {
            k: _without_models_and_names(v)
            for k, v in value.items()
            if k not in ("name", "trainable") and not _unadapted(k, v)
        }
    if isinstance(value, (list, tuple)):
        return [_without_models_and_names(v) for v in value]
    return value


def _is_serialized_model(value: dict) -> bool:
    if "class_name" not in value or "config" not in value:
        return False
    if value["class_name"] in ("Sequential", "Functional", "Model"):
        return True
    registered = value.get("registered_name")
    cls = keras.saving.get_registered_object(registered) if isinstance(registered, str) else None
    return isinstance(cls, type) and issubclass(cls, keras.Model)


def model_fingerprint(model) -> dict:
    """Class, parameter count and a SHA-256 over every weight's shape, dtype and values.

    Names are left out on purpose: Keras numbers unnamed models and layers per process
    ("sequential_5/dense_7/kernel"), so the same weights must hash the same whatever they are
    called.
    """
    params = 0

    def chunks():
        nonlocal params
        for w in getattr(model, "weights", []):
            value = np.asarray(w.numpy() if hasattr(w, "numpy") else keras.ops.convert_to_numpy(w))
            params += value.size
            yield f"{value.dtype.str}{value.shape}"
            yield np.ascontiguousarray(value).tobytes()

    weights_sha256 = digest_chunks(chunks())
    return {
        "class": type(model).__name__,
        "params": int(params),
        "weights_sha256": weights_sha256,
        **options_of(model),  # a wrapped model's input range, preprocessing and outputs
    }
