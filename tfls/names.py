"""How tfls names what a model was trained with: `LS α=0.9`, `Madry ε=8/255`, `TRADES β=6`.

One function, used wherever a run is summarised (`tfls train`'s last line, the app's lists and
panels), so a label-smoothed model is never called "natural". Light: no TensorFlow.
"""

from __future__ import annotations


def eps_text(eps) -> str:
    """`8/255` when ε is a whole number of 255ths, else `0.03`."""
    if eps is None:
        return "?"
    eps = float(eps)
    k = round(eps * 255)
    return f"{k}/255" if k and abs(eps * 255 - k) < 1e-6 else f"{eps:g}"


def method_label(run: dict) -> str:
    """The method of a run folder's `run.json` (or a `TrainConfig.to_dict()`), named.

    natural → `natural`; natural with label smoothing α → `LS α=0.9`; Madry → `Madry ε=8/255`;
    TRADES → `TRADES β=6`; label smoothing on top of an adversarial method is appended.
    """
    config = run.get("config") or {}
    method = run.get("method") or config.get("method") or "natural"
    alpha = float(run.get("label_smoothing") or config.get("label_smoothing") or 0.0)
    smoothing = f"LS α={alpha:g}" if alpha > 0 else ""
    if method == "madry":
        base = f"Madry ε={eps_text(run.get('eps', config.get('eps')))}"
    elif method == "trades":
        beta = config.get("trades_beta", run.get("trades_beta"))
        base = "TRADES" + ("" if beta is None else f" β={float(beta):g}")
    else:
        return smoothing or "natural"
    return f"{base}, {smoothing}" if smoothing else base
