"""The model and data options `tfls eval` and `tfls audit` share: defined, checked and applied once.

`--signature`, `--input-range`, `--preprocess`, `--outputs` put any classifier into the threat
model ([0, 1] pixels in, logits out, through `tfls.models.wrap`); `--dataset` takes any
`tfls.data` spec, `--image-size` resizes it, and `--batch-size` takes a number or `auto`.
"""

from __future__ import annotations

from tfls._validation import AUTO_BATCH_SIZE, OUTPUTS
from tfls.model_options import (  # the checks live in the library; re-exported for the CLI
    ModelOptions,
    check_image_size,
    check_model_fits,
    check_model_options,
    dataset_spec,
    load_wrapped,
)

__all__ = [
    "ModelOptions",
    "add_model_options",
    "check_image_size",
    "check_model_fits",
    "check_options",
    "dataset_spec",
    "load_data",
    "load_wrapped",
]


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


def check_options(args) -> ModelOptions:
    """Parses and checks every model/data option, before anything loads (one-line errors)."""
    return check_model_options(
        input_range=args.input_range,
        preprocess=args.preprocess,
        outputs=args.outputs,
        signature=args.signature,
        image_size=args.image_size,
        batch_size=args.batch_size,
        dataset=args.dataset,
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
    from tfls.data.reading import elements

    total = n if n is not None else sum(int(y.shape[0]) for _, y in elements(ds))
    return ds, total
