"""tfls' own warnings raised in a worker thread, shown as notifications instead of on stderr."""

from __future__ import annotations

import contextlib
import warnings


@contextlib.contextmanager
def warnings_as_notices(screen, name: str):
    """Records `tfls.TflsWarning`s (e.g. `--outputs probs`) and notifies them, prefixed by `name`.

    Use in a worker thread: the notifications are posted with `app.call_from_thread`.
    """
    from tfls import TflsWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TflsWarning)
        try:
            yield
        finally:
            for w in caught:
                if issubclass(w.category, TflsWarning):
                    text = " ".join(str(w.message).split())
                    screen.app.call_from_thread(screen.notify, f"{name}: {text}", timeout=8)
