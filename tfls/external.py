"""Outside models as run-like entries: any classifier, its wrapper options and a dataset spec.

`register(runs_dir, "resnet.keras", dataset="tfds:imagenette", options=...)` writes
`<runs_dir>/<name>/run.json` with `external: true`, the absolute `source` path, the `dataset` spec,
its `split`, the `signature`, `image_size` and `wrapper` options; no model file is copied.
`load_run(folder)` re-loads such an entry from its source through `tfls.models.load` and
`tfls.models.wrap` (as `tfls eval --model SOURCE ...` does) and refuses a model that does not fit
its data; a tfls run folder loads as before. Importing this module imports no TensorFlow.

Why a reference rather than a saved wrapped `model.keras`: a SavedModel is called through
`keras.layers.TFSMLayer`, which stores the SavedModel's path, not its graph, so a saved wrapper
would depend on the source files anyway and only hide it; with a reference every format takes one
path, big models are not duplicated, and a moved or deleted source is a one-line error naming it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tfls.hashing import digest
from tfls.model_options import ModelOptions, check_model_options, dataset_spec

__all__ = ["is_external", "load_data", "load_run", "options_of", "register"]

RUN_FILE = "run.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def is_external(run: dict) -> bool:
    """Whether a `run.json` dict describes an outside model (`register`), not a tfls run."""
    return bool(run.get("external"))


def register(
    runs_dir,
    source,
    *,
    dataset=None,
    options: ModelOptions | None = None,
    split: str = "test",
    name: str | None = None,
) -> Path:
    """Adds an outside model to `runs_dir` as `<name>/run.json`; returns that folder.

    Reads no model and no data (only `source/run.json` when `source` is a tfls run folder and
    `dataset` is None), so it is instant; `load_run` does the loading and the shape checks.

    Args:
        runs_dir: the folder of runs the entry joins (created if missing).
        source: a tfls run folder, a `.keras`/`.h5` file or a SavedModel directory.
        dataset: a `tfls.data` spec (`cifar10`, `tfds:NAME`, an image folder, a `.npz`, ...);
            None takes a tfls run folder's own dataset.
        options: the checked wrapper/data options (`tfls.model_options.check_model_options`).
        split: the split to evaluate, e.g. `test` or `test[:1000]`.
        name: the entry's folder name (default: the source's name). When that folder holds
            something else (a tfls run, other options), a short hash of the record is appended.

    Raises:
        FileNotFoundError: nothing at `source`.
        ValueError: a bad dataset spec or split.
    """
    options = options or check_model_options()
    source = Path(source).expanduser()
    if not source.exists():
        raise FileNotFoundError(f"No model at {str(source)!r}. Received: model={str(source)!r}")
    source = source.resolve()
    own = _read(source / RUN_FILE) if source.is_dir() else {}
    spec = dataset_spec(dataset, own)
    from tfls.data import parse_spec  # light: no TensorFlow import

    spec = parse_spec(spec).name
    if not isinstance(split, str) or not split.strip():
        raise ValueError(f"--split must name a split, e.g. test. Received: split={split!r}")
    record = {
        "external": True,
        "source": str(source),
        "model": source.name,
        "dataset": spec,
        "split": split.strip(),
        "signature": options.signature,
        "image_size": None if options.image_size is None else list(options.image_size),
        "wrapper": options.wrapper(),
    }
    base = _UNSAFE.sub("_", name or source.stem or source.name).strip("._") or "model"
    runs_dir = Path(runs_dir)
    candidates = (runs_dir / base, runs_dir / f"{base}-{digest(record, length=8)}")
    for folder in candidates:
        existing = _read(folder / RUN_FILE)
        if existing == record:
            return folder  # registered before: its results and audits are reused
        if not folder.exists():
            break
    else:  # the hashed name holds something else (edited by hand): replace an entry only
        if not is_external(existing):
            raise ValueError(
                f"{str(folder)!r} holds a tfls run; choose another name. Received: name={folder.name!r}"
            )
    from tfls import io

    folder.mkdir(parents=True, exist_ok=True)
    io.atomic_write_json(folder / RUN_FILE, record)
    return folder


def options_of(run: dict) -> ModelOptions:
    """The checked `ModelOptions` an external `run.json` dict records."""
    wrapper = run.get("wrapper") or {}
    return check_model_options(
        input_range=wrapper.get("input_range"),
        preprocess=wrapper.get("preprocess"),
        outputs=wrapper.get("outputs", "logits"),
        signature=run.get("signature"),
        image_size=run.get("image_size"),
    )


def load_run(path, *, data_dir=None) -> tuple:
    """`(model, run_dict)` of a tfls run folder or of an external entry (wrapped, checked).

    For an external entry the model is re-loaded from `source` and wrapped with the recorded
    options, then checked against `tfls.data.info` of its dataset (one-line `ValueError` naming
    both shapes when it does not fit).
    """
    path = Path(path)
    run = _read(path / RUN_FILE)
    if not is_external(run):
        from tfls.training import load_run as load_tfls_run

        return load_tfls_run(path)
    import tfls.data
    from tfls.model_options import check_model_fits, load_wrapped

    options = options_of(run)
    model, _ = load_wrapped(run["source"], options)
    info = tfls.data.info(run["dataset"], data_dir=data_dir, image_size=options.image_size)
    check_model_fits(model, info, image_size=options.image_size)
    return model, run


def load_data(run: dict, *, n: int | None, batch_size: int, data_dir=None, seed: int = 0):
    """The evaluation data of a run dict: its dataset spec, split (default `test`) and image size."""
    import tfls.data

    size = run.get("image_size")
    return tfls.data.load(
        run["dataset"],
        run.get("split") or "test",
        batch_size=batch_size,
        data_dir=data_dir,
        limit=n,
        seed=seed,
        image_size=None if size is None else tuple(size),
    )


def _read(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
