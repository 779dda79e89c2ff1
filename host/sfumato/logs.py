"""The server log: one record per line, whatever text clients send.

Log messages carry client text (a requestId, a path, an engine's error message).
``SafeFormatter`` escapes control characters in it, so a newline cannot start a forged
record, and clips long values, so one request cannot write a megabyte line.
Tracebacks keep their lines but each is indented: only a record's first line starts
at the margin.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import sys
import warnings

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


class _AsDebug(logging.Handler):
    """Hands a library's records to the root logger's handlers, those below ERROR as DEBUG records."""

    def emit(self, record: logging.LogRecord) -> None:
        root = logging.getLogger()
        if record.levelno < logging.ERROR:
            if not root.isEnabledFor(logging.DEBUG):
                return
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        root.handle(record)


_AS_DEBUG = _AsDebug()
# Folders of the libraries whose warnings are debug records (see quiet_libraries).
_quiet_folders: set[str] = set()
_show_warning = warnings.showwarning


def _log_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: object = None, line: str | None = None) -> None:
    if file is not None:  # someone asked for a particular stream
        _show_warning(message, category, filename, lineno, file, line)  # type: ignore[arg-type]
        return
    level = logging.DEBUG if filename.startswith(tuple(_quiet_folders)) else logging.WARNING
    logging.getLogger("py.warnings").log(level, "%s: %s (at %s:%s)", category.__name__, message, filename, lineno)


def quiet_libraries(*names: str) -> None:
    """Log what the named libraries say below ERROR, and warnings raised in their code, at DEBUG.

    For engine plugins wrapping chatty libraries (transformers, diffusers…): a person
    reading the default log needs the server's lines, not the libraries' notices; with
    ``server.log_level = "debug"`` they are all there, through the server's handler and
    format. Call it after the library set up its logging (after importing it): its own
    handlers are removed. Other warnings are logged on one line at WARNING. Idempotent;
    progress bars are the caller's to turn off.
    """
    for name in names:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if handler is not _AS_DEBUG:
                logger.removeHandler(handler)
        if _AS_DEBUG not in logger.handlers:
            logger.addHandler(_AS_DEBUG)
        logger.propagate = False  # _AS_DEBUG hands records on to the root logger
        try:
            spec = importlib.util.find_spec(name)  # a top-level name: not imported
        except (ImportError, ValueError):
            spec = None
        for folder in (spec.submodule_search_locations or []) if spec else []:
            _quiet_folders.add(os.path.join(folder, ""))
    warnings.showwarning = _log_warning
