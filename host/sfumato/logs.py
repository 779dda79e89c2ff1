"""The server log: one record per line, whatever text clients send.

Log messages carry client text (a requestId, a path, an engine's error message).
``SafeFormatter`` escapes control characters in it, so a newline cannot start a forged
record, and clips long values, so one request cannot write a megabyte line.
Tracebacks keep their lines but each is indented: only a record's first line starts
at the margin.
"""

from __future__ import annotations

import logging
import re
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Longest string argument shown whole; longer ones are clipped with a marker.
MAX_FIELD_CHARS = 1000
# Backstop for messages built before logging (f-strings) rather than from arguments.
MAX_MESSAGE_CHARS = 10_000

# C0 and C1 controls (CR, LF, ESC, NEL…), the Unicode line/paragraph separators, and
# the bidi controls that make a viewer show a line's text in another order.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` on one line: control characters written as ``\\n``, ``\\x1b``…"""
    return _CONTROL.sub(_escape_one, text)


def clip(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[{len(text) - limit} more chars]"


def _clip_argument(value: object) -> object:
    # Only strings: other arguments may be meant for %d or %r.
    return clip(value) if isinstance(value, str) else value


class SafeFormatter(logging.Formatter):
    def __init__(self, fmt: str = FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        record.message = clip(self._message(record), MAX_MESSAGE_CHARS)
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = escape_controls(self.formatMessage(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        blocks = [record.exc_text] if record.exc_text else []
        if record.stack_info:
            blocks.append(self.formatStack(record.stack_info))
        for block in blocks:
            for part in block.splitlines():
                line += "\n  " + clip(escape_controls(part), MAX_MESSAGE_CHARS)
        return line

    @staticmethod
    def _message(record: logging.LogRecord) -> str:
        message = clip(str(record.msg), MAX_MESSAGE_CHARS)
        args = record.args
        if not args:
            return message
        # The record is shared with other handlers: clip copies of its arguments.
        if isinstance(args, dict):
            args = {key: _clip_argument(value) for key, value in args.items()}
        else:
            args = tuple(_clip_argument(value) for value in args)
        try:
            return message % args
        except (TypeError, ValueError):
            # A bad format string: show it with its arguments rather than lose the record.
            return f"{message} {args!r}"


def configure_logging(level: str) -> None:
    """Send every record, the server's and uvicorn's and Litestar's, to stderr through ``SafeFormatter``.

    Call it after the app is built: Litestar's default logging config replaces the
    root logger's handlers when the app is created.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for name in ("litestar", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
