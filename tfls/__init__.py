"""tfls: honest adversarial-robustness evaluation for Keras models."""

__version__ = "0.1.0"


class TflsWarning(UserWarning):
    """Warnings raised by tfls itself (tests turn these into errors)."""


from tfls import models as models  # noqa: E402  (registers custom Keras objects)

__all__ = ["TflsWarning", "__version__", "models"]
