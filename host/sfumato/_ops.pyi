"""Native image kernels (Rust): adjustments and a PNG codec.

Images are numpy arrays H×W×C (C = 1, 3 or 4) of ``uint8`` (0..255) or ``float32``
(0..1); an H×W array is one channel and stays 2-D in results that keep one channel.
Inputs are borrowed read-only without a copy (a non-contiguous array is copied once
into C order); results are new arrays. Every kernel releases the GIL and runs on a
thread pool sized to the machine (see :func:`set_num_threads`).

Adjustments act on colour channels: the 4th channel (alpha) is carried unchanged unless
``include_alpha=True`` (or :func:`channels` moves it). Bad parameters or shapes raise
``ValueError``; arrays of other dtypes raise ``TypeError``.
"""

from collections.abc import Mapping, Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

_Image = TypeVar("_Image", npt.NDArray[np.uint8], npt.NDArray[np.float32])

class ImageDecodeError(ValueError):
    """The encoded image is corrupt, truncated or not supported."""

class ImageTooLargeError(ValueError):
    """The image's declared dimensions exceed the allowed number of pixels."""

def version() -> str:
    """Version of the native extension."""

def set_num_threads(n: int) -> None:
    """Use a pool of ``n`` threads for the kernels (0 = one per CPU, the default)."""

def num_threads() -> int:
    """Threads in the kernels' pool."""

def blur(img: _Image, sigma: float, direction: int = 0, *, include_alpha: bool = False) -> _Image:
    """Gaussian blur, ``sigma`` in pixels, reflect-101 borders (OpenCV BORDER_REFLECT_101).

    The reference kernel has length next odd ≥ 6σ; σ < 4 runs exactly that kernel,
    larger σ a 4th-order recursive (Deriche) filter whose cost does not grow with σ.
    ``sigma == 0`` is the identity; any σ works on any size, 1×1 included.

    ``direction``: 0 NONE; 1 UP (256 rounds of blur at σ/16, each followed by a
    per-pixel max with the original: bright areas grow softly); 2 DOWN (the same with
    min). The state stays float32 between rounds.
    """

def invert(img: _Image, *, include_alpha: bool = False) -> _Image:
    """``255 − x`` (uint8) or ``1 − x`` (float32)."""

def levels(
    img: _Image,
    input_low: float,
    input_high: float,
    output_low: float,
    output_high: float,
    *,
    include_alpha: bool = False,
) -> _Image:
    """``clamp((x − in_low)/(in_high − in_low)·(out_high − out_low) + out_low, 0, 1)``, values in 0..1.

    uint8 results equal ``rint(255·curve(x/255))`` computed in float64 (round half to
    even). ``input_high <= input_low`` raises ``ValueError``.
    """

def channels(img: _Image, sources: Sequence[int]) -> _Image:
    """Rebuild channels: ``sources`` holds 4 ChannelSource numbers for outputs r, g, b, a.

    R=0, G=1, B=2, A=3, ZERO=4, ONE=5, DISCARD=6 (drops that output). On 1- and
    3-channel inputs a missing A reads as ONE (opaque) and a 1-channel image gives its
    channel for R, G and B. The outputs kept (in r, g, b, a order) must number 1, 3 or 4.
    """

def rescale(img: _Image, width: int, height: int, mode: int = 0, filter: str = "lanczos") -> _Image:
    """Resample to ``width`` × ``height`` (antialiased when downscaling).

    ``mode``: 0 STRICT (stretch), 2 CROP (scale to cover, centre-crop), 3 FIT (scale to
    fit, centre, pad with transparent black; a 3-channel input gains an alpha channel,
    255 over the image and 0 in the padding; a 1-channel input pads with 0).
    ``filter``: ``"lanczos"`` (Lanczos3), ``"bicubic"`` (Catmull-Rom), ``"bilinear"``,
    ``"nearest"``, ``"area"`` (box; when the source is a whole multiple of the output in
    both directions, the exact mean of each block, rounded half up for uint8). Channels
    are resampled independently, alpha included and not premultiplied.
    """

def crop(img: _Image, top: int, left: int, width: int, height: int) -> _Image:
    """Copy of the region; it must lie fully inside the image, else ``ValueError``."""

def encode_png(
    img: npt.NDArray[np.uint8], fast: bool = False, text: Mapping[str, str] | None = None
) -> bytes:
    """Encode a uint8 image as 8-bit grey, RGB or RGBA PNG.

    Both modes filter rows adaptively and compress row slices on several threads.
    Default mode: zlib level 1 with the RLE strategy. ``fast``: literals and runs of
    zeros under a Huffman code fitted to each slice, the filter chosen on every 4th row
    and kept for the rows between (several times faster, about 15 % larger). ``text`` entries become tEXt chunks (iTXt when a value is not Latin-1);
    keywords must be 1–79 Latin-1 characters.
    """

def decode_png(data: bytes, max_pixels: int) -> npt.NDArray[np.uint8]:
    """Decode to H×W×C uint8: grey → 1, RGB → 3, RGBA → 4 channels; grey+alpha and palettes
    with transparency → RGBA; palettes → RGB; low bit depths expanded, 16-bit stripped to
    the high byte; interlaced images supported.

    Raises ``ImageTooLargeError`` when the header declares more than ``max_pixels``
    pixels (checked before anything is allocated) and ``ImageDecodeError`` for corrupt
    or truncated data.
    """

def png_info(data: bytes) -> tuple[int, int]:
    """``(width, height)`` read from the PNG header alone (``ImageDecodeError`` if malformed)."""
