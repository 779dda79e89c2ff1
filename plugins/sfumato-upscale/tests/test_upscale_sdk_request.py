"""stability-sdk 0.8.6's own upscale() request, captured before it is sent, served by the esrgan engine."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from sfumato.images import encode_png

from _upscale_support import noise_image

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "wire"))
from sdk_python import sdk_python  # noqa: E402 - the reference interpreter, located like the wire tests do

# Runs in the SDK's interpreter: Context.upscale builds the Request, _run_request would send it.
CAPTURE = """
import io, json, sys
from google.protobuf.json_format import MessageToJson
from PIL import Image
from stability_sdk import api

class Captured(Exception):
    pass

def capture(self, endpoint, request):
    print(MessageToJson(request))
    raise Captured

context = api.Context.__new__(api.Context)
context._upscale = api.Endpoint(None, "esrgan")
api.Context._run_request = capture
image = Image.open(io.BytesIO(sys.stdin.buffer.read()))
try:
    context.upscale(image, width=int(sys.argv[1]))
except Captured:
    pass
"""


def test_reference_client_upscale_request(server):
    png = encode_png(noise_image(16, 24, seed=11))
    result = subprocess.run([sdk_python(), "-c", CAPTURE, "96"], input=png, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    body = json.loads(result.stdout)
    assert body["engineId"] == "esrgan" and "transform" not in body["image"]  # as the SDK sends it
    assert body["image"]["steps"] == "20" and body["image"]["seed"] == [0]  # sent, and accepted without effect
    (answer,) = server.generate(body)
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["artifacts"][0]["binary"]))))
    assert pixels.shape[:2] == (64, 96)
