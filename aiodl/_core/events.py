"""Events of one run, handed to the caller's ``progress`` callback.

A callback that raises is like a logging handler that fails: said once (its traceback at
DEBUG level), and the run goes on, since a progress bar must never cost a download.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from .._credentials import mask_text
from .._exceptions import DownloadError
from .._models import Advanced, Event, Retried
from .._pacing.retrying import ProgressHook, RetryHook

log = logging.getLogger("aiodl")


class Reporter:
    """Hands events to ``emit`` (the caller's callback, or None for no events)."""

    def __init__(self, emit: Callable[[Event], None] | None) -> None:
        self._emit = emit
        self._failed = False

    def report(self, event: Event) -> None:
        if self._emit is None:
            return
        try:
            self._emit(event)
        except Exception as error:
            if self._failed:
                log.debug("the progress callback raised %s again", named(error))
                return
            self._failed = True
            log.warning("the progress callback raised %s; the downloads go on", named(error))
            log_traceback(error)

    def retry_hook(self, number: int | None) -> RetryHook:
        """What a retry of file ``number`` (None: no file's, a listing's) tells."""

        def hook(error: DownloadError, delay: float) -> None:
            log.info("retrying in %.1fs after: %s", delay, error)
            if number is not None:
                self.report(Retried(number, str(error), delay, error))

        return hook

    def progress_hook(self, number: int) -> ProgressHook | None:
        """Bytes written for file ``number``, as Advanced events; None when nobody hears."""
        if self._emit is None:
            return None
        report = self.report
        return lambda nbytes: report(Advanced(number, nbytes))


def named(error: BaseException) -> str:
    """``Type: text`` of an error, URLs in its text masked."""
    return mask_text(f"{type(error).__name__}: {error}")


def log_traceback(error: BaseException) -> None:
    """The traceback of ``error`` at DEBUG level, for a bug report (URLs masked)."""
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s", mask_text("".join(traceback.format_exception(error))).rstrip())
