"""``sfumato.logs.quiet_libraries``: a chatty library's notices and warnings only at debug level."""

from __future__ import annotations

import io
import logging
import sys
import warnings

import pytest

from sfumato.logs import SafeFormatter, quiet_libraries

LIBRARY = '''
import logging
import warnings

log = logging.getLogger("chattylib.loading")


def chatter():
    log.warning("weights loaded, %d keys", 3)
    log.error("the model is broken")
    warnings.warn("`torch_dtype` is deprecated", FutureWarning)
'''


@pytest.fixture
def chattylib(tmp_path, monkeypatch):
    package = tmp_path / "chattylib"
    package.mkdir()
    (package / "__init__.py").write_text(LIBRARY)
    monkeypatch.syspath_prepend(str(tmp_path))
    import chattylib

    library_root = logging.getLogger("chattylib")
    own = logging.StreamHandler(io.StringIO())  # as transformers does: its own handler, no propagation
    library_root.addHandler(own)
    library_root.propagate = False
    yield chattylib
    for handler in list(library_root.handlers):
        library_root.removeHandler(handler)
    library_root.propagate = True
    del sys.modules["chattylib"]


@pytest.fixture
def server_log(monkeypatch):
    """The root logger as configure_logging leaves it, writing to a string."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [handler])
    level = root.level
    yield stream
    root.setLevel(level)


def run(chattylib, level: int) -> None:
    logging.getLogger().setLevel(level)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        quiet_libraries("chattylib")
        chattylib.chatter()
        warnings.warn("a warning of the server's own", UserWarning)


def test_at_info_only_errors_of_the_library_and_other_warnings_show(chattylib, server_log):
    run(chattylib, logging.INFO)
    lines = server_log.getvalue().splitlines()
    assert lines[0] == "ERROR chattylib.loading: the model is broken"
    assert lines[1].startswith("WARNING py.warnings: UserWarning: a warning of the server's own (at ")
    assert len(lines) == 2


def test_at_debug_the_library_says_everything_as_debug_records(chattylib, server_log):
    run(chattylib, logging.DEBUG)
    text = server_log.getvalue()
    assert "DEBUG chattylib.loading: weights loaded, 3 keys\n" in text
    assert "ERROR chattylib.loading: the model is broken\n" in text
    assert "DEBUG py.warnings: FutureWarning: `torch_dtype` is deprecated (at " in text
    assert "chattylib" in text.split("FutureWarning")[1].splitlines()[0]  # where it was raised
    assert "WARNING py.warnings: UserWarning: a warning of the server's own" in text
