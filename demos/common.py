"""What every tab shares: the user-input error, number checks, and running a callback so that
the UI shows a clear message and never a traceback (and the server stays up)."""
from __future__ import annotations

import functools
import logging
import math

log = logging.getLogger(__name__)


class InputError(ValueError):
    """A problem with user input, worded for the user (shown as an error toast)."""


def number(value, what: str) -> float:
    """Parse a number; empty, non-numeric, NaN or infinite values raise InputError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"{what} is empty: enter a number.")
    if isinstance(value, bool):
        return float(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, not {value!r}.") from None
    if not math.isfinite(x):
        raise InputError(f"{what} must be a finite number, not {value!r}.")
    return x


def clamped(value, what: str, lo: float, hi: float, warnings: list[str]) -> float:
    x = number(value, what)
    if x < lo or x > hi:
        y = min(max(x, lo), hi)
        warnings.append(f"{what} {x:g} is out of range [{lo:g}, {hi:g}]; using {y:g}.")
        return y
    return x


def guarded(fn, tab: str):
    """fn for a Gradio event: InputError -> gr.Error with its message, any other failure logged
    and shown in one line; a result's `warnings` become toasts."""
    import gradio as gr

    @functools.wraps(fn)
    def run(*args):
        try:
            result = fn(*args)
        except InputError as e:
            raise gr.Error(str(e)) from None
        except gr.Error:
            raise
        except Exception as e:  # keep the server alive and the message readable
            log.exception("%s failed", tab)
            raise gr.Error(f"Something went wrong: {type(e).__name__}: {e}") from None
        for w in getattr(result, "warnings", None) or []:
            gr.Warning(w)
        return result
    return run
