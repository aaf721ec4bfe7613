"""Text for a person's terminal: whatever a server said is shown, never obeyed.

Reason phrases, FTP replies, ETags and names come from servers. Printed raw, an escape
sequence in one clears the screen or retitles the window, and a ``[/]`` in one is rich
markup that raises. So everything printed for a person goes through ``printable``
(control characters become ``\\xNN``) and is handed to rich as plain Text, never markup.

May import: nothing of aiodl
"""

from __future__ import annotations

import logging

# C0 controls, DEL and the C1 controls (U+0080-U+009F: some terminals obey them as ESC +
# a letter); printable Unicode (accents, CJK, emoji) passes through unchanged.
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}


def printable(text: object) -> str:
    """``text`` as a string whose control characters are shown as ``\\xNN`` escapes."""
    return str(text).translate(_CONTROLS)


class PrintableFormatter(logging.Formatter):
    """A logging Formatter whose messages are ``printable``: a log line quoting a server
    cannot drive the terminal. Tracebacks (our own text) are left as they are."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))


def log_to_terminal(level: int) -> None:
    """The command's logging: ``aiodl: message`` lines on stderr, made ``printable``."""
    handler = logging.StreamHandler()
    handler.setFormatter(PrintableFormatter("aiodl: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
