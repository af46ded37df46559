"""The model and data options `tfls eval` and `tfls audit` share: defined, checked and applied once.

`--signature`, `--input-range`, `--preprocess`, `--outputs` put any classifier into the threat
model ([0, 1] pixels in, logits out, through `tfls.models.wrap`); `--dataset` takes any
`tfls.data` spec, `--image-size` resizes it, and `--batch-size` takes a number or `auto`.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfls._validation import (
    AUTO_BATCH_SIZE,
    OUTPUTS,
    check_batch_size,
    check_input_range,
    check_outputs,
    resolve_function,
)


def add_model_options(p, *, batch_size: int = 100) -> None:
    """Adds `--model`, `--dataset`, `--split`, `--data-dir` and the options below to a parser."""
    p.add_argument(
        "--model",
        required=True,
        help="a tfls run folder, a .keras or .h5 file, or a TensorFlow SavedModel directory",
    )
    p.add_argument(
        "--dataset",
        help="mnist, fashion_mnist, cifar10, cifar100, tfds:NAME[:config], an image-folder "
        "path or .tar.gz, or a .npz file (default: the run folder's dataset)",
    )
    p.add_argument("--split", default="test", help="dataset split, e.g. test or 'test[:1000]'")
    p.add_argument("--data-dir", default=None, help="offline data folder (default: $TFLS_DATA_DIR)")
    p.add_argument(
        "--signature", default=None, help="SavedModel signature to call (default: serving_default)"
    )
    p.add_argument(
        "--input-range",
        default=None,
        metavar="LO,HI",
        help="pixel range the model expects, e.g. 0,255 (write --input-range=-1,1 for a "
        "negative LO); tfls rescales its [0, 1] pixels inside the model",
    )
    p.add_argument(
        "--preprocess",
        default=None,
        metavar="MODULE.FUNCTION",
        help="importable function applied inside the model after the rescale, e.g. "
        "keras.applications.resnet50.preprocess_input",
    )
    p.add_argument(
        "--outputs",
        choices=OUTPUTS,
        default="logits",
        help="what the model outputs: logits, or probs (it ends in softmax; tfls attacks "
        "log-probabilities)",
    )
    p.add_argument(
        "--image-size", default=None, metavar="H,W", help="resize every image to H×W pixels"
    )
    p.add_argument(
        "--batch-size",
        default=str(batch_size),
        help=f"images per batch, or auto: start at {AUTO_BATCH_SIZE} and halve on out-of-memory "
        f"(default: {batch_size})",
    )


@dataclass(frozen=True)
class ModelOptions:
    """The checked options: what `wrap`, `tfls.data.load` and the batching receive."""

    input_range: tuple[float, float] | None
    preprocess: str | None
    outputs: str
    signature: str | None
    image_size: tuple[int, int] | None
    batch_size: int | str

    @property
    def data_batch_size(self) -> int:
        return AUTO_BATCH_SIZE if self.batch_size == "auto" else int(self.batch_size)


def check_options(args) -> ModelOptions:
    """Parses and checks every model/data option, before anything loads (one-line errors)."""
    if args.preprocess is not None:
        resolve_function(args.preprocess)
    if args.dataset is not None:
        from tfls.data import parse_spec  # light: no TensorFlow import

        parse_spec(args.dataset)
    return ModelOptions(
        input_range=check_input_range(args.input_range),
        preprocess=args.preprocess,
        outputs=check_outputs(args.outputs),
        signature=args.signature,
        image_size=check_image_size(args.image_size),
        batch_size=check_batch_size(args.batch_size),
    )


def check_image_size(text) -> tuple[int, int] | None:
    """`"224,224"` -> `(224, 224)`, checked by `tfls.data`; None stays None."""
    if text is None:
        return None
    from tfls.data.resize import check_image_size as check  # light: no TensorFlow import

    try:
        size = tuple(int(p) for p in str(text).split(","))
    except ValueError:
        size = None
    if size is None or len(size) != 2:
        raise ValueError(
            f"--image-size must be two positive integers H,W, e.g. 224,224. "
            f"Received: image_size={text!r}"
        )
    return check(size)


def load_wrapped(path, options: ModelOptions) -> tuple:
    """`tfls.models.load` then `tfls.models.wrap` with the options; returns `(model, run_dict)`."""
    from tfls.models import load, wrap  # keras: imported only once a model loads

    model, run = load(path, signature=options.signature)
    return wrap(
        model,
        input_range=options.input_range,
        preprocess=options.preprocess,
        outputs=options.outputs,
    ), run


def dataset_spec(spec, run: dict) -> str:
    """`--dataset`, or the run folder's dataset; built-in names may use `-` for `_`."""
    import tfls.data

    if spec is None:
        spec = run.get("dataset")
        if spec is None:
            raise ValueError(
                "--dataset is required for a model outside a tfls run folder (no run.json to "
                "read it from). Received: dataset=None"
            )
    spec = str(spec)
    if spec not in tfls.data.NAMES and spec.replace("-", "_") in tfls.data.NAMES:
        spec = spec.replace("-", "_")
    return spec


def check_model_fits(model, info, *, image_size=None) -> None:
    """Refuses a model whose input or output shape does not match the data, before any work.

    `info` is `tfls.data.info(spec, image_size=...)`: its shape is the resized one, if any.
    """
    try:
        in_shape = tuple(model.input_shape[1:])
        classes = model.output_shape[-1]
    except (AttributeError, ValueError, TypeError):
        return  # subclassed model without static shapes: the first batch will tell
    shape = None if info.input_shape is None else tuple(info.input_shape)
    name = info.name
    if shape is not None and None not in in_shape:
        hint = "" if image_size is not None else " (resize them with --image-size H,W)"
        if len(in_shape) != len(shape) or any(
            d is not None and d != m for d, m in zip(shape, in_shape)
        ):
            raise ValueError(
                f"The model takes inputs of shape {in_shape} but {name} images are "
                f"{shape}{hint}. Received: dataset={name!r}"
            )
        if None in shape:
            raise ValueError(
                f"The model takes inputs of shape {in_shape} but the {name} images differ in "
                f"size: resize them with --image-size {in_shape[0]},{in_shape[1]}. "
                f"Received: dataset={name!r}"
            )
    if classes is None or classes == info.num_classes:
        return
    from tfls.data import parse_spec

    if parse_spec(info.name).kind == "arrays" and info.num_classes < classes:
        return  # an array file's class count is its largest label + 1: a subset is fine
    raise ValueError(
        f"The model outputs {classes} classes but {name} has {info.num_classes}"
        + (
            f" (labels up to {info.num_classes - 1} are out of range for the model)"
            if info.num_classes > classes
            else ""
        )
        + f". Received: dataset={name!r}"
    )


def load_data(spec, split, *, batch_size, data_dir, n, seed, image_size=None):
    """`tfls.data.load` with `--n` checked against the split; returns `(dataset, images)`."""
    import tfls.data

    resize = {} if image_size is None else {"image_size": tuple(image_size)}
    try:
        ds = tfls.data.load(
            spec, split, batch_size=batch_size, data_dir=data_dir, limit=n, seed=seed, **resize
        )
    except ValueError as e:
        if n is not None and "limit" in str(e):
            raise ValueError(str(e).replace("`limit`", "--n").replace("limit=", "n=")) from None
        raise
    total = n if n is not None else sum(int(y.shape[0]) for _, y in ds)
    return ds, total
