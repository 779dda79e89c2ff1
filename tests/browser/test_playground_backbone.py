"""The playground on an API replica whose engines run in a worker over the backbone (Valkey)."""

from __future__ import annotations

from tests.backbone.conftest import REPLICA_CONFIG, WORKER_CONFIG, Cluster, cluster  # noqa: F401 - the fixture
from tests.browser.conftest import _require_browser, open_page, screenshot
from tests.browser.test_playground import assert_progress_moved, gallery_images, progress_seen, record_progress, wait_done

PREVIEW_WORKER_CONFIG = WORKER_CONFIG + """
[events]
preview_min_interval_ms = 0
"""


def test_generate_progress_previews_and_cancel_over_the_backbone(browser, cluster: Cluster):  # noqa: F811
    _require_browser()
    cluster.worker(config=PREVIEW_WORKER_CONFIG)
    replica = cluster.replica(config=REPLICA_CONFIG)
    cluster.wait_ready(replica)
    context, page, guard = open_page(browser, replica)
    page.goto(replica.url + "/")
    page.wait_for_selector("#engine option[value=slow-pattern]", state="attached")
    page.select_option("#engine", "test-pattern")
    page.fill("#prompt", "over the backbone")
    page.fill("#width", "64")
    page.fill("#height", "64")
    # Long enough for the worker to learn a listener wants previews (that news crosses the backbone).
    page.fill("#steps", "20")
    page.fill("#ext-step_delay_ms", "100")
    record_progress(page)
    page.click("#generate")
    assert wait_done(page).startswith("Done"), page.text_content("#status")
    values, previews = progress_seen(page)
    assert_progress_moved(values)
    assert len(set(previews)) >= 2, "no previews over the backbone"
    [(seed, image)] = gallery_images(page)
    assert image.shape == (64, 64, 3)
    screenshot(page, "11-backbone")

    page.fill("#steps", "100")
    page.fill("#ext-step_delay_ms", "200")
    page.click("#generate")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Step')", timeout=15_000)
    page.click("#cancel")
    assert wait_done(page) == "Cancelled."
    assert page.locator("#gallery li").count() == 1
    context.close()
    assert guard.foreign_requests == [] and guard.unexpected_errors() == []
