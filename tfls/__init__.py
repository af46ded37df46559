"""tfls: honest adversarial-robustness evaluation for Keras models.

`import tfls` is light (no TensorFlow, Keras or Textual): each subpackage (`tfls.data`, `tfls.models`,
`tfls.attacks`, ...) is imported on first attribute access (PEP 562), so `tfls --help` starts fast.
Custom Keras objects register when the module defining them is imported: `import tfls.models`
(layers) and `import tfls.attacks` (attack layers) before a plain `keras.models.load_model`.
"""

import importlib
import importlib.util

__version__ = "0.1.0"


class TflsWarning(UserWarning):
    """Warnings raised by tfls itself (tests turn these into errors)."""


class Interrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C or SIGTERM; `str(e)` says what was kept and how to continue.

    A `KeyboardInterrupt`, so code that stops on one stops on this too.
    """


# Subpackages reachable as attributes of `tfls`; `audit` joins only once that package exists.
_SUBMODULES = tuple(
    name
    for name in (
        "attacks",
        "audit",
        "data",
        "distribute",
        "eval",
        "models",
        "recipes",
        "training",
    )
    if name != "audit" or importlib.util.find_spec(f"{__name__}.audit") is not None
)

__all__ = ["Interrupted", "TflsWarning", "__version__", *_SUBMODULES]


def __getattr__(name: str):
    if name in _SUBMODULES:
        # import_module also binds the submodule as an attribute, so this runs once per name.
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
