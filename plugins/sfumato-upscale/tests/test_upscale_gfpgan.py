"""UPSCALER_GFPGAN with a random-weight GFPGAN (spandrel's architecture at its fixed size) saved as a .pth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sfumato.engine_testing import load_engine, request_body
from sfumato_upscale import plugin

from _upscale_support import noise_image


@pytest.fixture(scope="module")
def face_checkpoint(tmp_path_factory: pytest.TempPathFactory):
    from spandrel.architectures.GFPGAN import GFPGAN

    torch.manual_seed(0)
    # spandrel loads every GFPGAN checkpoint with these hyperparameters (GFPGAN v1.3/v1.4).
    network = GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None, fix_decoder=False,
                     num_mlp=8, input_is_latent=True, different_w=True, narrow=1, sft_half=True)
    state = network.state_dict()
    noise_weights = [key for key, value in state.items() if key.startswith("stylegan_decoder.style_convs") and value.shape == (1,)]
    assert noise_weights
    for key in noise_weights:  # trained checkpoints inject noise; freshly built ones weight it 0
        state[key] = torch.full_like(state[key], 0.5)
    path = tmp_path_factory.mktemp("gfpgan") / "GFPGANv1.4-random.pth"
    torch.save({"params_ema": state}, path)
    return path


@pytest.mark.slow
def test_gfpgan_restores_at_the_requested_size_with_seeded_noise(checkpoints, face_checkpoint):
    engine = load_engine("esrgan", plugin=plugin, model=str(checkpoints["x4_pth"]),
                         options={"device": "cpu", "face_model": str(face_checkpoint)})
    body = request_body(prompt=None, init_image=noise_image(64, 64), width=96, seeds=[1, 2])
    body["image"]["transform"] = {"upscaler": "UPSCALER_GFPGAN"}
    run = engine.run(engine.job(body))
    run.check_images()
    first, second = run.pixels
    assert first.shape == (96, 96, 3)
    assert first.std() > 1, "a flat image: the network output was clipped away"
    assert not np.array_equal(first, second), "GFPGAN's noise should follow the seed"
    assert [step for step, _ in run.progress] == [1, 2]


def test_a_face_model_that_is_not_one_is_refused(checkpoints):
    with pytest.raises(ValueError, match="options.face_model.*FaceSR"):
        load_engine("esrgan", plugin=plugin, model=str(checkpoints["x4_pth"]),
                    options={"device": "cpu", "face_model": str(checkpoints["x2_pth"])})
