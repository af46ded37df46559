"""`load(path)`: a trained classifier from a tfls run folder, `.keras`, `.h5` or SavedModel.

Every failure is one line naming the path and what was expected; nothing here wraps the model
into the threat model (that is `tfls.models.wrap`).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from tfls._validation import model_classes
from tfls.models.finished_run import unknown_layer_hint

__all__ = ["check_keras_archive", "load", "load_saved_model"]

READ_ERRORS = (OSError, ValueError, TypeError, KeyError, zipfile.BadZipFile, EOFError)


def load(path, *, signature: str | None = None) -> tuple:
    """Loads a model; returns `(model, run_dict)` (`run_dict` is `{}` outside a run folder).

    Args:
        path: a tfls run folder (holding `model.keras` and `run.json`), a `.keras` file, a
            legacy `.h5` file, or a TensorFlow SavedModel directory (holding `saved_model.pb`).
        signature: the SavedModel signature to call (default `serving_default`); refused for
            the other formats.

    Returns:
        `(keras.Model, dict)`. A SavedModel comes back as a functional Keras model around a
        `keras.layers.TFSMLayer`, with its input shape taken from the signature.

    Raises:
        FileNotFoundError: nothing at `path`.
        ValueError: an unreadable or unknown file, or a SavedModel without the signature (the
            message lists the signatures it has).
    """
    model, run = _load(path, signature=signature)
    # A classifier has one (batch, classes) output: refused here, before any data is read.
    model_classes(model, name=str(path))
    return model, run


def _load(path, *, signature: str | None = None) -> tuple:
    from tfls.models import defences, layers, wrap  # noqa: F401  (register their layers)

    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(
            f"`path` must be a file or folder path (str or pathlib.Path). Received: model={path!r}"
        )
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No model at {str(path)!r}. Received: model={str(path)!r}")
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return load_saved_model(path, signature=signature), {}
    if signature is not None:
        raise ValueError(
            f"--signature applies to a TensorFlow SavedModel directory only; {str(path)!r} is "
            f"not one (no saved_model.pb). Received: signature={signature!r}"
        )
    if path.is_dir():
        if not (path / "model.keras").exists():
            raise FileNotFoundError(
                f"{str(path)!r} is a folder but neither a tfls run folder (model.keras is "
                "missing) nor a TensorFlow SavedModel (saved_model.pb is missing); pass a run "
                f"folder, a .keras or .h5 file, or a SavedModel directory. "
                f"Received: model={str(path)!r}"
            )
        check_keras_archive(path / "model.keras", received=path)
        from tfls.models.finished_run import load_run

        return load_run(path)
    if path.suffix not in (".keras", ".h5", ".hdf5"):
        raise ValueError(
            f"{str(path)!r} is not a Keras model: expected a tfls run folder, a .keras or .h5 "
            f"file, or a SavedModel directory. Received: model={str(path)!r}"
        )
    import keras

    if path.suffix == ".keras":
        check_keras_archive(path, received=path)
    try:
        return keras.models.load_model(path), {}
    except READ_ERRORS as e:
        raise ValueError(
            f"{str(path)!r} is not a readable Keras model ({type(e).__name__}: "
            f"{unknown_layer_hint(e)}). "
            f"Received: model={str(path)!r}"
        ) from None


def check_keras_archive(path: Path, *, received) -> None:
    """Refuses an existing `.keras` file that is not a zip archive (Keras would say "not found")."""
    if path.is_file() and not zipfile.is_zipfile(path):
        raise ValueError(
            f"{str(path)!r} is not a readable Keras model: the file exists but is not a zip "
            "archive, as every .keras file is (damaged, or something else). "
            f"Received: model={str(received)!r}"
        )


def load_saved_model(path, *, signature: str | None = None):
    """A SavedModel directory as a Keras model calling one signature through `TFSMLayer`."""
    import keras
    import tensorflow as tf

    path = Path(path)
    endpoint = signature or "serving_default"
    try:
        loaded = tf.saved_model.load(str(path))
    except (*READ_ERRORS, tf.errors.OpError) as e:
        raise ValueError(
            f"{str(path)!r} is not a readable SavedModel ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}). Received: model={str(path)!r}"
        ) from None
    signatures = dict(loaded.signatures)
    if endpoint not in signatures:
        have = ", ".join(sorted(signatures)) or "none"
        raise ValueError(
            f"The SavedModel {str(path)!r} has no signature {endpoint!r} (signatures: {have}); "
            "choose one with --signature NAME, or export the model with a serving signature "
            f"(model.export(dir)). Received: signature={signature!r}"
        )
    _, specs = signatures[endpoint].structured_input_signature
    if len(specs) != 1:
        raise ValueError(
            f"Signature {endpoint!r} of {str(path)!r} takes {len(specs)} inputs "
            f"({', '.join(sorted(specs))}); tfls evaluates image classifiers with one image "
            f"input. Received: signature={endpoint!r}"
        )
    (spec,) = specs.values()
    if spec.shape.rank is None or spec.shape.rank < 2:
        raise ValueError(
            f"Signature {endpoint!r} of {str(path)!r} takes inputs of shape {spec.shape}; "
            f"expected (batch, height, width, channels). Received: signature={endpoint!r}"
        )
    layer = keras.layers.TFSMLayer(str(path), call_endpoint=endpoint)
    inputs = keras.Input(tuple(spec.shape[1:]), dtype=spec.dtype.name)
    outputs = layer(inputs)
    if isinstance(outputs, dict):
        if len(outputs) != 1:
            raise ValueError(
                f"Signature {endpoint!r} of {str(path)!r} has {len(outputs)} outputs "
                f"({', '.join(sorted(outputs))}); expected one (logits or probabilities). "
                f"Received: signature={endpoint!r}"
            )
        (outputs,) = outputs.values()
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in path.name) or "saved_model"
    return keras.Model(inputs, outputs, name=name)
