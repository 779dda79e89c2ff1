"""Regenerates docs/images/playground.png, the README's screenshot (run from the repository root).

    ~/.cache/sfumato/venv/bin/python tests/browser/readme_screenshot.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).parents[2]))

from sfumato.testing import start_server  # noqa: E402
from tests.browser.conftest import PATTERN_CONFIG, chromium_path  # noqa: E402

TARGET = Path("docs/images/playground.png")


def main() -> None:
    server = start_server(Path(tempfile.mkdtemp()), config=PATTERN_CONFIG, plugins=["test_pattern"])
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1200, "height": 760}, bypass_csp=True)
            page.goto(server.url + "/")
            page.wait_for_selector("#engine option", state="attached")
            for pattern, prompt in [("checker", "a chessboard in the rain"), ("waves", "sea at dusk, long exposure"),
                                    ("rings", "a lighthouse in fog, oil painting")]:
                page.fill("#prompt", prompt)
                page.fill("#negative", "blurry, text")
                page.fill("#width", "192")
                page.fill("#height", "192")
                page.fill("#samples", "2")
                page.select_option("#ext-pattern", pattern)
                page.click("#generate")
                page.wait_for_function("document.getElementById('status').textContent.startsWith('Done')")
            # A slow job caught halfway: the progress bar and a live preview.
            page.fill("#samples", "1")
            page.fill("#steps", "30")
            page.fill("#ext-step_delay_ms", "200")
            page.click("#generate")
            page.wait_for_function("document.getElementById('status').textContent.startsWith('Step 14')", timeout=30_000)
            page.evaluate("scrollTo(0, 0)")
            page.wait_for_timeout(300)
            page.screenshot(path=str(TARGET))
            page.click("#cancel")
            browser.close()
    finally:
        server.stop()
    # A 256-colour palette keeps the file small; the page has few colours besides the images.
    with Image.open(TARGET) as shot:
        shot.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(TARGET, optimize=True)
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
