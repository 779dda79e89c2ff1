"""The playground page in a real Chromium against a real server on the test-pattern engine.

Images the page shows are checked against independent references: the same request
sent with httpx and decoded with Pillow, and the init image's own pixels.
"""

from __future__ import annotations

import base64
import io
import time

import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import open_page, screenshot
from tests.conftest import decode_png, png_bytes

CTRL_ENTER = "Control+Enter"


def gallery_images(page) -> list[tuple[int, np.ndarray]]:  # type: ignore[no-untyped-def]
    """(seed, pixels) of each gallery image, read back from the blob the page offers for download."""
    items = page.evaluate(
        """async () => Promise.all([...document.querySelectorAll('#gallery li')].map(async (item) => {
            const blob = await (await fetch(item.querySelector('a.download').href)).blob();
            const bytes = new Uint8Array(await blob.arrayBuffer());
            let text = ''; for (const b of bytes) text += String.fromCharCode(b);
            return [Number(item.dataset.seed), btoa(text)];
        }))"""
    )
    return [(seed, decode_png(base64.b64decode(data))) for seed, data in items]


def canvas_pixels(page, canvas_id: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    data = page.evaluate(f"document.getElementById('{canvas_id}').toDataURL('image/png').split(',')[1]")
    with Image.open(io.BytesIO(base64.b64decode(data))) as image:
        return np.asarray(image.convert("RGB"))


def set_size(page, width: int, height: int) -> None:  # type: ignore[no-untyped-def]
    page.fill("#width", str(width))
    page.fill("#height", str(height))


def wait_done(page, timeout: float = 30_000) -> str:  # type: ignore[no-untyped-def]
    page.wait_for_function(
        "() => /^(Done|Cancelled|Error)/.test(document.getElementById('status').textContent)", timeout=timeout
    )
    return page.text_content("#status")


def record_progress(page) -> None:  # type: ignore[no-untyped-def]
    """From now on, keep every value the progress bar shows and every preview the page displays."""
    page.evaluate(
        """() => {
            window.progressSeen = []; window.previewsSeen = [];
            const bar = document.getElementById('progress'), preview = document.getElementById('preview');
            new MutationObserver(() => window.progressSeen.push(bar.value)).observe(bar, {attributes: true});
            new MutationObserver(() => window.previewsSeen.push(preview.src)).observe(preview, {attributes: true});
        }"""
    )


def progress_seen(page) -> tuple[list[float], list[str]]:  # type: ignore[no-untyped-def]
    return page.evaluate("window.progressSeen"), page.evaluate("window.previewsSeen")


def assert_progress_moved(values: list[float]) -> None:
    partial = [value for value in values if 0 < value < 1]
    assert len(set(partial)) >= 3, f"the bar did not move through the steps: {values}"
    assert partial == sorted(partial), f"the bar went backwards: {values}"
    assert values[-1] == 1


def reference_image(server, body: dict) -> np.ndarray:  # type: ignore[no-untyped-def]
    answers = server.generate(body)
    return decode_png(base64.b64decode(answers[0]["artifacts"][0]["binary"]))


def test_generates_on_test_pattern_and_shows_the_image(playground, pattern_server):
    page, _ = playground
    assert page.input_value("#engine") == "test-pattern"
    page.fill("#prompt", "a lighthouse in fog")
    page.fill("#negative", "blurry")
    set_size(page, 96, 64)
    page.select_option("#ext-pattern", "rings")
    screenshot(page, "01-ready")
    page.focus("#prompt")
    page.keyboard.press(CTRL_ENTER)
    assert wait_done(page).startswith("Done"), page.text_content("#status")
    page.wait_for_selector("#gallery li img")
    assert page.evaluate("document.querySelector('#gallery img').naturalWidth") == 96
    screenshot(page, "02-generated")

    [(seed, shown)] = gallery_images(page)
    expected = reference_image(pattern_server, {
        "engineId": "test-pattern",
        "prompt": [{"text": "a lighthouse in fog"}, {"text": "blurry", "parameters": {"weight": -1}}],
        "image": {"width": 96, "height": 64, "seed": [seed], "steps": 20, "samples": 1,
                  "transform": {"diffusion": "SAMPLER_K_EULER"}, "parameters": [{"sampler": {"cfgScale": 7}}],
                  "extension": {"parameters": [{"name": "pattern", "str": "rings"}]}},
    })
    assert shown.shape == (64, 96, 3)
    np.testing.assert_array_equal(shown, expected)
    assert page.text_content("#gallery .seed") == f"seed {seed}"


def test_reusing_a_result_fixes_its_seed_and_regenerates_the_same_image(playground):
    page, _ = playground
    page.fill("#prompt", "reuse me")
    set_size(page, 64, 64)
    page.fill("#samples", "2")
    page.click("#generate")
    assert wait_done(page).startswith("Done")
    page.wait_for_function("document.querySelectorAll('#gallery li').length === 2")
    images = dict(gallery_images(page))
    assert len(images) == 2
    seed = int(page.get_attribute("#gallery li:last-child", "data-seed"))
    page.fill("#prompt", "something else")
    page.fill("#negative", "not in the original")
    page.select_option("#ext-pattern", "checker")
    page.click("#gallery li:last-child .thumb")
    assert page.input_value("#prompt") == "reuse me"
    assert page.input_value("#negative") == "" and page.input_value("#ext-pattern") == ""
    assert page.input_value("#seed-mode") == "fixed" and page.input_value("#seed") == str(seed)
    assert page.input_value("#samples") == "1"
    page.click("#generate")
    assert wait_done(page).startswith("Done")
    page.wait_for_function("document.querySelectorAll('#gallery li').length === 3")
    newest_seed, newest = gallery_images(page)[0]
    assert newest_seed == seed
    np.testing.assert_array_equal(newest, images[seed])


def test_progress_bar_moves_and_previews_appear(playground):
    page, _ = playground
    page.fill("#prompt", "slowly")
    set_size(page, 128, 128)
    page.fill("#steps", "20")
    page.fill("#ext-step_delay_ms", "100")
    record_progress(page)
    page.click("#generate")
    page.wait_for_selector("#preview-box:not([hidden])", timeout=15_000)
    page.wait_for_function("document.getElementById('preview').naturalWidth > 0")
    screenshot(page, "03-progress-and-preview")
    assert wait_done(page).startswith("Done")
    values, previews = progress_seen(page)
    assert_progress_moved(values)
    assert len(set(previews)) >= 2 and all(src.startswith("data:image/") for src in previews)
    assert page.is_hidden("#preview-box")  # the finished image replaces the previews


def test_escape_cancels_a_running_job(playground):
    page, _ = playground
    page.fill("#prompt", "never finished")
    set_size(page, 64, 64)
    page.fill("#steps", "100")
    page.fill("#ext-step_delay_ms", "200")
    page.click("#generate")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Step')", timeout=15_000)
    started = time.monotonic()
    page.keyboard.press("Escape")
    assert wait_done(page) == "Cancelled."
    assert time.monotonic() - started < 5, "cancelling took as long as a whole job"
    screenshot(page, "04-cancelled")
    assert page.locator("#gallery li").count() == 0
    assert float(page.evaluate("document.getElementById('progress').value")) == 0
    assert page.is_enabled("#generate") and not page.is_enabled("#cancel")


def test_a_bad_size_shows_the_server_message_next_to_the_control(playground, pattern_server):
    page, guard = playground
    guard.expected_errors.append("status of 400")  # the browser logs the refused request itself
    page.fill("#prompt", "wrong size")
    set_size(page, 100, 64)
    page.click("#generate")
    page.wait_for_selector("#error-width:not(:empty)")
    shown = page.text_content("#error-width")
    direct = pattern_server.post("/grpcgateway/generate", {"engineId": "test-pattern", "image": {"width": 100, "height": 64}})
    assert direct.status_code == 400
    assert shown == direct.json()["message"]
    assert shown.startswith("image.width: 100 is not a multiple of 8")
    assert page.get_attribute("#width", "aria-invalid") == "true"
    assert page.text_content("#error-general") == ""
    screenshot(page, "05-bad-size")


def test_paint_a_mask_and_inpaint_keeps_the_unmasked_pixels(playground, tmp_path, rng):
    page, _ = playground
    init = rng.integers(0, 256, size=(96, 128, 3), dtype=np.uint8)
    path = tmp_path / "init.png"
    path.write_bytes(png_bytes(init))
    page.fill("#prompt", "inpaint the middle")
    page.set_input_files("#init-file", str(path))
    page.wait_for_selector("#init-tools:not([hidden])")
    assert page.input_value("#width") == "128" and page.input_value("#height") == "96"
    np.testing.assert_array_equal(canvas_pixels(page, "init-canvas"), init)

    page.fill("#brush-size", "20")
    page.dispatch_event("#brush-size", "input")
    box = page.locator("#mask-canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.5, steps=8)
    page.mouse.up()
    mask = canvas_pixels(page, "mask-canvas")[..., 0]
    assert (mask == 255).sum() > 500 and (mask == 0).sum() > 5000
    page.fill("#strength", "1")
    screenshot(page, "06-mask-painted")
    page.click("#generate")
    assert wait_done(page).startswith("Done"), page.text_content("#status")
    screenshot(page, "07-inpainted")
    [(_, result)] = gallery_images(page)
    kept = mask == 0
    np.testing.assert_array_equal(result[kept], init[kept])
    assert not np.array_equal(result[mask == 255], init[mask == 255]), "the painted area was not regenerated"


def test_mask_tools_erase_clear_and_invert(playground, tmp_path):
    page, _ = playground
    path = tmp_path / "grey.png"
    path.write_bytes(png_bytes(np.full((64, 64, 3), 128, np.uint8)))
    page.set_input_files("#init-file", str(path))
    page.wait_for_selector("#init-tools:not([hidden])")
    page.click("#mask-invert")
    assert (canvas_pixels(page, "mask-canvas") == 255).all()
    page.check("input[name=mask-tool][value=eraser]")
    box = page.locator("#mask-canvas").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    mask = canvas_pixels(page, "mask-canvas")[..., 0]
    assert mask[32, 32] == 0 and mask[2, 2] == 255
    page.click("#mask-clear")
    assert (canvas_pixels(page, "mask-canvas") == 0).all()


def test_outpaint_extends_the_canvas_and_keeps_the_original(playground, tmp_path, rng):
    page, _ = playground
    init = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    path = tmp_path / "small.png"
    path.write_bytes(png_bytes(init))
    page.set_input_files("#init-file", str(path))
    page.wait_for_selector("#init-tools:not([hidden])")
    page.fill("#outpaint-pixels", "16")
    page.click("#outpaint")
    page.wait_for_function("document.getElementById('width').value === '96'")
    assert page.text_content("#init-info") == "96×96 px, extended by 16 px on each side"
    mask = canvas_pixels(page, "mask-canvas")[..., 0]
    assert mask.shape == (96, 96) and (mask[16:80, 16:80] == 0).all() and mask[0, 0] == 255
    page.fill("#strength", "1")
    page.click("#generate")
    assert wait_done(page).startswith("Done"), page.text_content("#status")
    [(_, result)] = gallery_images(page)
    np.testing.assert_array_equal(result[16:80, 16:80], init)
    screenshot(page, "08-outpainted")


def test_adjustments_are_previewed_and_applied_by_the_server(playground, tmp_path, rng):
    page, _ = playground
    init = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    path = tmp_path / "adjust.png"
    path.write_bytes(png_bytes(init))
    page.set_input_files("#init-file", str(path))
    page.wait_for_selector("#init-tools:not([hidden])")
    page.select_option("#adjustment-kind", "invert")
    page.click("#add-adjustment")
    np.testing.assert_array_equal(canvas_pixels(page, "init-canvas"), 255 - init)
    # Strength 0 re-runs none of the schedule: the engine returns the adjusted init image.
    page.fill("#strength", "0")
    page.click("#generate")
    assert wait_done(page).startswith("Done"), page.text_content("#status")
    [(_, result)] = gallery_images(page)
    np.testing.assert_array_equal(result, 255 - init)
    assert '"invert": {}' in page.text_content("#request-text")


def test_copy_as_curl_and_json_describe_the_request(playground, pattern_server):
    page, _ = playground
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.fill("#prompt", "copied")
    set_size(page, 64, 64)
    page.click("text=Request")
    page.click("#copy-json")
    page.wait_for_selector("#copy-status:has-text('copied')")
    import json

    body = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert body["engineId"] == "test-pattern" and body["prompt"] == [{"text": "copied"}]
    assert body["image"]["width"] == "64" and body["image"]["height"] == "64"
    assert len(pattern_server.generate(body)) == 1  # the server takes it as it is
    page.click("#copy-curl")
    curl = page.evaluate("navigator.clipboard.readText()")
    assert curl.startswith(f"curl -sN '{pattern_server.url}/grpcgateway/generate'")
    assert json.loads(curl.split("<<'JSON'\n", 1)[1].rsplit("\nJSON", 1)[0]) == body


def test_narrow_touch_screen_has_no_sideways_scrolling_and_paints_by_touch(browser, pattern_server, tmp_path):
    context, page, guard = open_page(browser, pattern_server, width=380, height=800, has_touch=True, is_mobile=True)
    page.goto(pattern_server.url + "/")
    page.wait_for_selector("#engine option", state="attached")
    assert page.evaluate("document.documentElement.scrollWidth") <= 380
    screenshot(page, "09-narrow")
    path = tmp_path / "touch.png"
    path.write_bytes(png_bytes(np.full((64, 64, 3), 90, np.uint8)))
    page.set_input_files("#init-file", str(path))
    page.wait_for_selector("#init-tools:not([hidden])")
    assert page.evaluate("document.documentElement.scrollWidth") <= 380
    page.locator("#mask-canvas").scroll_into_view_if_needed()
    box = page.locator("#mask-canvas").bounding_box()
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    mask = canvas_pixels(page, "mask-canvas")[..., 0]
    assert mask[32, 32] == 255 and mask[2, 2] == 0
    context.close()
    assert guard.foreign_requests == [] and guard.unexpected_errors() == []


def test_every_control_has_a_label(playground):
    page, _ = playground
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
             .filter((el) => el.type !== 'hidden' && !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
             .map((el) => el.id || el.name)"""
    )
    assert unlabelled == []


def test_an_extension_parameter_error_shows_next_to_it_and_a_job_failure_by_the_button(playground):
    page, guard = playground
    guard.expected_errors.append("status of 400")
    page.fill("#prompt", "errors")
    set_size(page, 64, 64)
    page.fill("#ext-step_delay_ms", "99999")
    page.click("#generate")
    page.wait_for_selector("#error-ext-step_delay_ms:not(:empty)")
    assert page.text_content("#error-ext-step_delay_ms").startswith("image.extension.parameters[0]")
    assert page.get_attribute("#ext-step_delay_ms", "aria-invalid") == "true"
    page.fill("#ext-step_delay_ms", "")
    page.select_option("#ext-fail", "error")
    page.click("#generate")
    assert wait_done(page).startswith("Error")
    assert page.text_content("#error-ext-step_delay_ms") == ""  # old errors go with a new attempt
    assert "fault injected" in page.text_content("#error-general")


def test_download_and_use_as_init(playground):
    page, _ = playground
    page.fill("#prompt", "download me")
    set_size(page, 64, 48)
    page.click("#generate")
    assert wait_done(page).startswith("Done")
    [(seed, shown)] = gallery_images(page)
    with page.expect_download() as download_info:
        page.click("#gallery .download")
    download = download_info.value
    assert download.suggested_filename == f"sfumato-{seed}.png"
    np.testing.assert_array_equal(decode_png(open(download.path(), "rb").read()), shown)
    page.click("#gallery button:has-text('Use as init')")
    page.wait_for_selector("#init-tools:not([hidden])")
    np.testing.assert_array_equal(canvas_pixels(page, "init-canvas"), shown)
    assert page.text_content("#init-info") == f"64×48 px, the result with seed {seed}"
    assert page.input_value("#width") == "64" and page.input_value("#height") == "48"
    assert '"type": "ARTIFACT_IMAGE"' in page.text_content("#request-text")


def test_blur_preview_matches_the_server_away_from_the_edges(playground, tmp_path, rng):
    page, _ = playground
    init = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    path = tmp_path / "blur.png"
    path.write_bytes(png_bytes(init))
    page.set_input_files("#init-file", str(path))
    page.wait_for_selector("#init-tools:not([hidden])")
    page.select_option("#adjustment-kind", "blur")
    page.click("#add-adjustment")
    page.fill("#adjustments input", "2")
    page.dispatch_event("#adjustments input", "input")
    preview = canvas_pixels(page, "init-canvas").astype(int)
    page.fill("#strength", "0")
    page.click("#generate")
    assert wait_done(page).startswith("Done"), page.text_content("#status")
    [(_, server)] = gallery_images(page)
    inner = (slice(8, -8), slice(8, -8))  # the canvas blurs against transparency at the edges
    difference = np.abs(preview[inner] - server.astype(int)[inner])
    assert difference.mean() < 2.0 and np.percentile(difference, 99) <= 8, (difference.mean(), difference.max())
    assert np.abs(preview[inner] - init.astype(int)[inner]).mean() > 20  # it did blur


def test_a_prompt_error_shows_next_to_the_prompt_that_caused_it(playground):
    page, guard = playground
    guard.expected_errors.append("status of 400")
    set_size(page, 64, 64)
    page.fill("#prompt", "fine")
    page.fill("#negative", "n" * 20_001)  # prompt[1]: over limits.max_prompt_chars
    page.click("#generate")
    page.wait_for_selector("#error-negative:not(:empty)")
    assert page.text_content("#error-negative").startswith("prompt[1]")
    assert "limits.max_prompt_chars" in page.text_content("#error-negative")
    assert page.text_content("#error-prompt") == ""


def test_works_under_its_own_content_security_policy(browser, pattern_server, tmp_path, rng):
    # Only locator waits here: Playwright's string predicates would break the policy themselves.
    context, page, guard = open_page(browser, pattern_server, page_policy=True)
    page.goto(pattern_server.url + "/")
    page.wait_for_selector("#engine option[value=test-pattern]", state="attached")
    path = tmp_path / "policy.png"
    path.write_bytes(png_bytes(rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)))
    page.set_input_files("#init-file", str(path))
    page.wait_for_selector("#init-tools:not([hidden])")
    page.click("#mask-invert")
    page.select_option("#adjustment-kind", "levels")
    page.click("#add-adjustment")
    page.fill("#prompt", "under the policy")
    page.fill("#ext-step_delay_ms", "50")
    page.focus("#prompt")
    page.keyboard.press(CTRL_ENTER)
    page.wait_for_selector("#preview-box:not([hidden])")
    page.wait_for_selector("#status:text-matches('^Done')")
    page.wait_for_selector("#gallery li img")
    page.click("text=Request")
    page.click("#copy-json")
    page.wait_for_selector("#copy-status:not(:empty)")
    context.close()
    assert guard.foreign_requests == []
    assert guard.unexpected_errors() == [], f"the page broke its own policy: {guard.unexpected_errors()}"


def test_keyboard_only_generate_and_reuse(playground):
    page, _ = playground
    page.focus("#prompt")
    page.keyboard.type("by keyboard")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "negative"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "generate"
    page.keyboard.press("Enter")
    assert wait_done(page).startswith("Done")
    page.focus("#gallery .thumb")
    page.keyboard.press("Enter")  # reuse its settings
    assert page.input_value("#seed-mode") == "fixed"
    assert page.input_value("#seed") == page.get_attribute("#gallery li", "data-seed")


def test_a_queued_job_shows_its_place_in_the_queue(playground, pattern_server):
    page, _ = playground
    # Another client's slow job holds the engine (a different size: it cannot share a batch).
    blocker = pattern_server.post("/grpcgateway/asyncGenerate", {
        "engineId": "test-pattern", "prompt": [{"text": "in the way"}],
        "image": {"width": 32, "height": 32, "steps": 20, "extension": {"parameters": [{"name": "step_delay_ms", "int": 100}]}},
    })
    assert blocker.status_code == 200, blocker.text
    page.evaluate(
        """() => { window.statusSeen = []; const status = document.getElementById('status');
            new MutationObserver(() => window.statusSeen.push(status.textContent))
              .observe(status, {childList: true, characterData: true, subtree: true}); }"""
    )
    page.fill("#prompt", "waiting my turn")
    set_size(page, 64, 64)
    page.click("#generate")
    assert wait_done(page).startswith("Done")
    seen = page.evaluate("window.statusSeen")
    queued = [text for text in seen if text.startswith("Queued: ")]
    assert queued, f"no queue position shown: {seen}"
    assert queued[0].startswith(("Queued: next", "Queued: 1 ahead")), seen
    # A fast job's step events may be coalesced away; its start and its end are always shown.
    started = [i for i, text in enumerate(seen) if text.startswith(("Running on", "Step", "Done"))]
    assert started, seen
    assert seen.index(queued[0]) < started[0], seen
