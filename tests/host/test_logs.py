"""The server log formatter: client text cannot forge a record or write a huge line."""

from __future__ import annotations

import logging
import re
import sys

from sfumato.logs import MAX_FIELD_CHARS, MAX_MESSAGE_CHARS, SafeFormatter, escape_controls

FORGED = "2026-01-01 00:00:00,000 INFO sfumato.api: admin logged in"
STARTS_WITH_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def record(msg: str, *args: object, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("sfumato.jobs", logging.INFO, __file__, 1, msg, args, exc_info)  # type: ignore[arg-type]


def test_newlines_and_controls_in_arguments_stay_on_one_line():
    line = SafeFormatter().format(record("job %s on %s", f"abc\n{FORGED}\r\x1b[2K\u2028\x85\x00\u202e", "test-pattern"))
    assert not any(char in line for char in "\n\r\x1b\u2028\x85\x00\u202e")
    assert STARTS_WITH_TIME.match(line)
    assert line.endswith("job abc\\n" + FORGED + "\\r\\x1b[2K\\u2028\\x85\\x00\\u202e on test-pattern")


def test_newlines_in_the_message_itself_are_escaped():
    line = SafeFormatter().format(record(f"built before logging: x\n{FORGED}"))
    assert line.count("\n") == 0 and f"x\\n{FORGED}" in line


def test_long_string_arguments_are_clipped_with_a_marker():
    line = SafeFormatter().format(record("job %s done", "r" * 1_000_000))
    assert len(line) < MAX_FIELD_CHARS + 200
    assert "r" * MAX_FIELD_CHARS + f"…[{1_000_000 - MAX_FIELD_CHARS} more chars] done" in line


def test_long_messages_are_clipped_too():
    line = SafeFormatter().format(record("x" * 100_000))
    assert len(line) < MAX_MESSAGE_CHARS + 200 and line.endswith("more chars]")


def test_other_arguments_keep_their_format_and_the_record_is_not_changed():
    item = record("%s: %d images, %.1fs, %r", "a" * 5000, 3, 1.25, "q")
    line = SafeFormatter().format(item)
    assert line.endswith("more chars]: 3 images, 1.2s, 'q'")
    assert item.args == ("a" * 5000, 3, 1.25, "q")
    assert item.getMessage().startswith("a" * 5000)


def test_mapping_arguments():
    assert SafeFormatter().format(record("%(id)s!", {"id": "a\nb"})).endswith("a\\nb!")


def test_tracebacks_keep_their_lines_but_only_the_first_line_starts_at_the_margin():
    try:
        raise ValueError(f"bad value\n{FORGED}")
    except ValueError:
        item = record("internal error %s", "x1", exc_info=sys.exc_info())
    lines = SafeFormatter().format(item).split("\n")
    assert len(lines) > 3
    assert STARTS_WITH_TIME.match(lines[0]) and lines[0].endswith("internal error x1")
    assert lines[1] == "  Traceback (most recent call last):"
    assert all(line.startswith("  ") for line in lines[1:])
    assert lines[-2:] == ["  ValueError: bad value", f"  {FORGED}"]
    assert not any(line.startswith(FORGED) for line in lines)


def test_escape_controls_leaves_ordinary_text_alone():
    text = "naïve café — 東京 \\n tab-free, quotes \" '"
    assert escape_controls(text) == text
