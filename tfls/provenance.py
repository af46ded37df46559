"""Where a result came from: library versions, host, seed and time, recorded the same way everywhere.

Training (`run.json`), evaluation (`report.json`), the recipes (`results.json`) and `tfls bench`
all record their provenance through these functions, so the keys agree across files. None of it
goes into an evaluation fingerprint: a new TensorFlow must not make a finished evaluation look new.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import socket


def versions() -> dict[str, str]:
    """`{tfls, tensorflow, keras, numpy, python}` versions (imports TensorFlow and Keras)."""
    import keras
    import numpy as np
    import tensorflow as tf

    import tfls

    return {
        "tfls": tfls.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def host() -> dict:
    """`{hostname, platform, cpus}` of this machine."""
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def now() -> str:
    """The current UTC time as ISO 8601 to the second (`2026-01-31T12:00:00+00:00`)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def provenance(*, seed: int | None = None) -> dict:
    """`{versions, host, seed, created}`: everything above in one dictionary."""
    return {"versions": versions(), "host": host(), "seed": seed, "created": now()}
