"""UPSCALER_RGB against independent Lanczos implementations (Pillow, OpenCV); no torch in its import path."""

from __future__ import annotations

import base64
import io
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from _upscale_support import noise_image, smooth_image, upscale_request


def served(server, image: np.ndarray, width: int) -> np.ndarray:
    (answer,) = server.generate(upscale_request("rgb", image, upscaler="UPSCALER_RGB", width=width))
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["artifacts"][0]["binary"]))).convert("RGB")).astype(int)


def references(image: np.ndarray, width: int, height: int) -> dict[str, np.ndarray]:
    return {
        "pillow LANCZOS": np.asarray(Image.fromarray(image).resize((width, height), Image.LANCZOS)).astype(int),
        "opencv INTER_LANCZOS4": cv2.resize(image, (width, height), interpolation=cv2.INTER_LANCZOS4).astype(int),
        "bilinear (not Lanczos)": cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR).astype(int),
    }


@pytest.mark.parametrize("factor", [4, 3, 2.5])
def test_smooth_image_matches_pillow_and_opencv(server, factor):
    image = smooth_image(48, 64, seed=2)
    width, height = round(64 * factor), round(48 * factor)
    ours = served(server, image, width)
    assert ours.shape == (height, width, 3)
    refs = references(image, width, height)
    for name in ("pillow LANCZOS", "opencv INTER_LANCZOS4"):
        assert np.abs(ours - refs[name]).max() <= 3, name


def test_detailed_image_matches_lanczos_not_bilinear(server):
    """On noise the kernels show: within a level of Pillow's Lanczos3 on average, far from bilinear.

    OpenCV's Lanczos4 has a wider kernel (and Pillow rounds between its passes), so they differ a little.
    """
    image = noise_image(48, 64, seed=3)
    ours = served(server, image, 256)
    refs = references(image, 256, 192)
    error = {name: np.abs(ours - ref).mean() for name, ref in refs.items()}
    assert error["pillow LANCZOS"] <= 1.5, error
    assert error["opencv INTER_LANCZOS4"] <= 5.0, error
    assert error["bilinear (not Lanczos)"] >= 10.0, error


def test_rgb_kind_never_imports_torch():
    code = (
        "import sys, numpy as np\n"
        "from sfumato.engine_testing import load_engine, request_body\n"
        "from sfumato_upscale import plugin\n"
        "engine = load_engine('rgb-upscale', plugin=plugin)\n"
        "job = engine.job(request_body(prompt=None, init_image=np.zeros((8, 8, 3), np.uint8), width=32))\n"
        "assert engine.images(job)[0].shape == (32, 32, 3)\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
