"""Playground tests in a real Chromium (Debian's package) driven by Playwright, against a real server.

Every page gets a guard: requests to any host but the server's are aborted and
recorded, console errors and uncaught exceptions are recorded, and the test fails
on either at teardown. Screenshots of the main states go to ``tests/browser/artifacts/``
(or ``$SFUMATO_BROWSER_ARTIFACTS``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sfumato.testing import RunningServer, missing_component, start_server

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/lib/chromium/chromium", "/usr/bin/chromium-browser")
ARTIFACTS = Path(os.environ.get("SFUMATO_BROWSER_ARTIFACTS", Path(__file__).parent / "artifacts"))

PATTERN_CONFIG = """
[server]
default_engine = "test-pattern"

[quotas]
# One browser sends every request from one address; quotas have their own tests.
max_active_jobs = 0
max_queued_jobs = 0
requests_per_minute = 0

[events]
heartbeat_seconds = 1

[[engines]]
id = "test-pattern"
kind = "test-pattern"
name = "Test pattern"
max_batch_size = 4
[engines.limits]
max_width = 1024
max_height = 1024
max_samples = 8
"""


def chromium_path() -> str | None:
    return next((path for path in CHROMIUM_CANDIDATES if Path(path).exists()), shutil.which("chromium"))


def _require_browser() -> str:
    path = chromium_path()
    try:
        import playwright  # noqa: F401
    except ImportError:
        path = None
        reason = "playwright is not installed (pip install -e '.[test]')"
    else:
        reason = "chromium is not installed (make browser, or apt-get install chromium)"
    if path is None:
        missing_component(reason)
    return path


# Package scope: playwright's sync API keeps an event loop running in this thread until it
# stops, and later tests in the same process call asyncio.run().
@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    executable = _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def pattern_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    _require_browser()  # no server to start when the tests will skip
    server = start_server(tmp_path_factory.mktemp("browser"), config=PATTERN_CONFIG, plugins=["test_pattern"])
    yield server
    server.stop()


@dataclass
class PageGuard:
    """What a page did that it must not: reach another host, log an error, throw."""

    own_origin: str
    foreign_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    # Console errors a test provokes on purpose (the browser logs a 4xx fetch as one).
    expected_errors: list[str] = field(default_factory=list)

    def unexpected_errors(self) -> list[str]:
        return [text for text in self.console_errors if not any(part in text for part in self.expected_errors)]


def open_page(browser, server: RunningServer, *, width: int = 1280, height: int = 900, page_policy: bool = False,  # type: ignore[no-untyped-def]
              **context_options):
    # Playwright's waits evaluate strings, which the page's Content-Security-Policy forbids:
    # tests lift the policy unless they test the page under it (test_works_under_its_own_policy).
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True,
                                  bypass_csp=not page_policy, **context_options)
    guard = PageGuard(own_origin=server.url)
    own = urlsplit(server.url).netloc

    def route(route, request):  # type: ignore[no-untyped-def]
        if urlsplit(request.url).netloc == own:
            route.continue_()
        else:
            guard.foreign_requests.append(request.url)
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and guard.console_errors.append(message.text))
    page.on("pageerror", lambda error: guard.console_errors.append(f"uncaught: {error}"))
    return context, page, guard


@pytest.fixture
def playground(browser, pattern_server) -> Iterator[tuple[object, PageGuard]]:
    context, page, guard = open_page(browser, pattern_server)
    page.goto(pattern_server.url + "/")
    page.wait_for_selector("#engine option", state="attached")
    yield page, guard
    context.close()
    assert guard.foreign_requests == [], f"the page tried to reach other hosts: {guard.foreign_requests}"
    assert guard.unexpected_errors() == [], f"console errors: {guard.unexpected_errors()}"


def screenshot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
