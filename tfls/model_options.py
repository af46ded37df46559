"""The model and data options any outside classifier is evaluated with: checked and applied once.

`--signature`, `--input-range`, `--preprocess`, `--outputs` put a classifier into the threat model
([0, 1] pixels in, logits out, through `tfls.models.wrap`); `--image-size` resizes the dataset and
`--batch-size` takes a number or `auto`. `tfls eval`, `tfls audit` (through
`tfls.cli.model_flags`) and the terminal app (through `tfls.external`) share these checks.
Importing this module imports neither TensorFlow nor Keras (so it lives outside `tfls.models`).
"""

from __future__ import annotations

from dataclasses import dataclass

from tfls._validation import (
    AUTO_BATCH_SIZE,
    check_batch_size,
    check_input_range,
    check_outputs,
    model_classes,
    resolve_function,
    static_input_shape,
)

__all__ = [
    "ModelOptions",
    "check_image_size",
    "check_model_fits",
    "check_model_options",
    "dataset_spec",
    "load_wrapped",
]


@dataclass(frozen=True)
class ModelOptions:
    """The checked options: what `wrap`, `tfls.data.load` and the batching receive."""

    input_range: tuple[float, float] | None = None
    preprocess: str | None = None
    outputs: str = "logits"
    signature: str | None = None
    image_size: tuple[int, int] | None = None
    batch_size: int | str = 100

    @property
    def data_batch_size(self) -> int:
        return AUTO_BATCH_SIZE if self.batch_size == "auto" else int(self.batch_size)

    def wrapper(self) -> dict:
        """The options `tfls.models.wrap` takes, as JSON values."""
        return {
            "input_range": None if self.input_range is None else list(self.input_range),
            "preprocess": self.preprocess,
            "outputs": self.outputs,
        }


def check_model_options(
    *,
    input_range=None,
    preprocess=None,
    outputs="logits",
    signature=None,
    image_size=None,
    batch_size=100,
    dataset=None,
) -> ModelOptions:
    """Checks every model/data option before anything loads (one-line `ValueError`s).

    `input_range` and `image_size` may be text (`"0,255"`, `"224,224"`) or pairs; `dataset`, when
    given, is parsed as a `tfls.data` spec (no data is read).
    """
    if preprocess is not None:
        resolve_function(preprocess)
    if dataset is not None:
        from tfls.data import parse_spec  # light: no TensorFlow import

        parse_spec(dataset)
    if signature is not None and (not isinstance(signature, str) or not signature.strip()):
        raise ValueError(
            f"--signature must name a SavedModel signature, e.g. serving_default. "
            f"Received: signature={signature!r}"
        )
    return ModelOptions(
        input_range=check_input_range(input_range),
        preprocess=preprocess,
        outputs=check_outputs(outputs),
        signature=signature,
        image_size=check_image_size(image_size),
        batch_size=check_batch_size(batch_size),
    )


def check_image_size(text) -> tuple[int, int] | None:
    """`"224,224"` or `(224, 224)` -> `(224, 224)`, checked by `tfls.data`; None stays None."""
    if text is None:
        return None
    from tfls.data.resize import check_image_size as check  # light: no TensorFlow import

    try:
        parts = str(text).split(",") if isinstance(text, str) else list(text)
        size = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        size = None
    if size is None or len(size) != 2:
        raise ValueError(
            f"--image-size must be two positive integers H,W, e.g. 224,224. "
            f"Received: image_size={text!r}"
        )
    return check(size)


def load_wrapped(path, options: ModelOptions) -> tuple:
    """`tfls.models.load` then `tfls.models.wrap` with the options; returns `(model, run_dict)`."""
    import tfls.attacks  # noqa: F401  (a model may hold tfls attack layers)
    from tfls.models import load, wrap  # keras: imported only once a model loads

    model, run = load(path, signature=options.signature)
    return wrap(
        model,
        input_range=options.input_range,
        preprocess=options.preprocess,
        outputs=options.outputs,
        label=str(path),
    ), run


def check_model_fits(model, info, *, image_size=None, name: str = "The model") -> None:
    """Refuses a model whose input or output shape does not match the data, before any work.

    `info` is `tfls.data.info(spec, image_size=...)`: its shape is the resized one, if any.
    `name` is how the messages call the model (e.g. "--source"). A model with several or dict
    outputs, or outputs other than (batch, classes), is refused first (`model_classes`).
    """
    classes = model_classes(model, name=name)
    declared = static_input_shape(model)
    in_shape = None if declared is None else tuple(declared[1:])
    shape = None if info.input_shape is None else tuple(info.input_shape)
    data = info.name
    if shape is not None and in_shape is not None and None not in in_shape:
        hint = "" if image_size is not None else " (resize them with --image-size H,W)"
        if len(in_shape) != len(shape) or any(
            d is not None and d != m for d, m in zip(shape, in_shape)
        ):
            raise ValueError(
                f"{name} takes inputs of shape {in_shape} but {data} images are "
                f"{shape}{hint}. Received: dataset={data!r}"
            )
        if None in shape:
            raise ValueError(
                f"{name} takes inputs of shape {in_shape} but the {data} images differ in "
                f"size: resize them with --image-size {in_shape[0]},{in_shape[1]}. "
                f"Received: dataset={data!r}"
            )
    if classes is None or classes == info.num_classes:
        return
    from tfls.data import parse_spec

    if parse_spec(info.name).kind == "arrays" and info.num_classes < classes:
        return  # an array file's class count is its largest label + 1: a subset is fine
    raise ValueError(
        f"{name} outputs {classes} classes but {data} has {info.num_classes}"
        + (
            f" (labels up to {info.num_classes - 1} are out of range for the model)"
            if info.num_classes > classes
            else ""
        )
        + f". Received: dataset={data!r}"
    )


def dataset_spec(spec, run: dict) -> str:
    """`--dataset`, or the run folder's dataset; built-in names may use `-` for `_`."""
    from tfls.data.registry import NAMES  # light: no TensorFlow import

    if spec is None:
        spec = run.get("dataset")
        if spec is None:
            raise ValueError(
                "--dataset is required for a model outside a tfls run folder (no run.json to "
                "read it from). Received: dataset=None"
            )
    spec = str(spec)
    if spec not in NAMES and spec.replace("-", "_") in NAMES:
        spec = spec.replace("-", "_")
    return spec
