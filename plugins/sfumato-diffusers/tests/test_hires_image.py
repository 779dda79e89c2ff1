"""The hires fix with an init image: first pass at the native size, refined at the target size."""

from __future__ import annotations

import numpy as np
import pytest
from _support import generate, make_job, one
from sfumato.errors import RpcError
from sfumato.jobs.job import HiresSettings
from sfumato_diffusers.hires import fit_native, place_on, plan


def _init(width: int, height: int) -> np.ndarray:
    ramp = np.linspace(0, 255, width, dtype=np.float32)
    red = np.repeat(ramp[None, :], height, axis=0)
    return np.stack([red, np.full_like(red, 80), 255 - red], axis=-1).astype(np.uint8)


@pytest.mark.parametrize("oos", [0.0, 1.0])
def test_hires_with_an_init_image_runs_two_passes_at_the_target_size(engine, oos):
    width, height = 128, 64  # native 64: above it, so the fix applies
    init = _init(width, height)
    seen: list[tuple[int, int]] = []
    job = make_job(width=width, height=height, init_image=init, strength=0.5, hires=HiresSettings(True, oos))
    (fixed,) = generate(engine, job, progress=lambda done, total: seen.append((done, total)))
    plain = one(engine, width=width, height=height, init_image=init, strength=0.5)
    assert fixed.shape == (height, width, 3) and not np.array_equal(fixed, plain)
    # 4 steps × 0.5 per pass, two passes
    assert seen[-1] == (4, 4)
    again = one(engine, width=width, height=height, init_image=init, strength=0.5, hires=HiresSettings(True, oos))
    assert np.array_equal(fixed, again)


def test_fit_and_place_are_inverse_layouts():
    init = _init(128, 64)
    for oos in (0.0, 1.0):
        layout = plan(128, 64, 64, oos)
        fitted = fit_native(init, 64, layout.scale)
        assert fitted.shape == (64, 64, 3)
        back = place_on(fitted, init, layout.scale)
        # Placing the fitted square back reproduces the init image up to resampling error.
        assert np.abs(back.astype(int) - init.astype(int)).mean() < 6


def test_letterbox_bands_keep_the_init_pixels():
    init = _init(128, 64)
    draft = np.zeros((64, 64, 3), np.uint8)
    placed = place_on(draft, init, plan(128, 64, 64, 1.0).scale)  # the square covers the middle 64 columns
    assert np.array_equal(placed[:, :32], init[:, :32]) and np.array_equal(placed[:, -32:], init[:, -32:])
    assert not placed[:, 32:96].any()


def test_hires_with_a_mask_or_latent_is_refused(engine):
    mask = np.ones((64, 128), np.float32)
    job = make_job(width=128, height=64, init_image=_init(128, 64), mask=mask, composite_mask=mask,
                   hires=HiresSettings(True, 0.0))
    with pytest.raises(RpcError, match="has a mask"):
        engine.validate(job)
