"""Errors shown in the widget: a red line naming what failed, the traceback below it.

Nothing that goes wrong in a button callback or a job may vanish into a log the
user never sees (or leave a "working…" status forever).
"""

from __future__ import annotations

import html
import traceback
from collections.abc import Callable
from typing import Any

import ipywidgets as W


def error_html(what: str, error: BaseException) -> str:
    return f"<b style='color:#b00'>{html.escape(what)}: {html.escape(str(error) or type(error).__name__)}</b>"


def show_error(line: W.HTML, errors: W.Output, what: str, error: BaseException, tb: str = "") -> None:
    """Put ``what: error`` in ``line`` and the traceback in ``errors`` (works with or without a kernel)."""
    line.value = error_html(what, error)
    errors.append_stderr(tb or "".join(traceback.format_exception(type(error), error, error.__traceback__)))


def guarded(line: W.HTML, errors: W.Output, what: str, action: Callable[[], Any]) -> Callable[..., None]:
    """A button/observer callback that runs ``action`` and shows any error instead of losing it."""

    def run(*_: Any) -> None:
        try:
            action()
        except Exception as err:
            show_error(line, errors, what, err)

    return run
