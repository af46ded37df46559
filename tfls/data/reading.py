"""Iterating a dataset where a damaged input file shows up: one `ValueError` naming the batch.

A `tf.data` pipeline decodes its files lazily, so a file that is damaged in a way no check before
the first batch can see (garbled bytes inside an image) fails inside `IteratorGetNext`, as a
TensorFlow trace. Every reader of a dataset in tfls (`tfls.data.load_arrays`, `tfls.eval`,
`tfls.audit`, the CLI) iterates through `elements`, which turns that trace into one line.
"""

from __future__ import annotations

__all__ = ["elements", "op_message"]


def op_message(error) -> str:
    """The first line of a TensorFlow error, without its `{{function_node ...}}` prefix."""
    text = (getattr(error, "message", None) or str(error)).strip().splitlines()
    first = text[0].strip() if text else type(error).__name__
    if first.startswith("{{") and "}}" in first:
        first = first[first.index("}}") + 2 :].strip()
    return first or type(error).__name__


def elements(dataset):
    """Yields the elements of `dataset`; a TensorFlow error while reading one becomes
    `ValueError("Reading batch I of `dataset` failed: ... Received: batch=I")`."""
    iterator = iter(dataset)
    index = 0
    while True:
        try:
            element = next(iterator)
        except StopIteration:
            return
        except Exception as e:
            if not _is_tf_error(e):
                raise
            raise ValueError(
                f"Reading batch {index} of `dataset` failed: {op_message(e)} (a damaged or "
                f"unreadable input file?). Received: batch={index}"
            ) from None
        yield element
        index += 1


def _is_tf_error(error) -> bool:
    import sys

    tf = sys.modules.get("tensorflow")  # a tf.data pipeline has imported it already
    return tf is not None and isinstance(error, tf.errors.OpError)
