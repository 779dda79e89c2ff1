"""Adapter for the shared peer benchmark (``imageops_peers.py --impl bench.sfumato_adapter``).

The peers process every channel, so ours are called with ``include_alpha=True``.
PNG levels: ``None`` (library default) maps to our ``fast`` mode, which sits in the same
row as fpng; ``1`` and ``"1+rle"`` map to our default mode (zlib-rs level 1, RLE);
levels 6 and 9 have no equivalent and are skipped.
"""

from __future__ import annotations

from sfumato import _ops

name = "sfumato"
DECODE_LIMIT = 1 << 31


def blur(x, sigma):
    return _ops.blur(x, sigma, include_alpha=True)


def levels(x, in_lo, in_hi, out_lo, out_hi):
    return _ops.levels(x, in_lo, in_hi, out_lo, out_hi, include_alpha=True)


def swizzle_bgra(x):
    return _ops.channels(x, [2, 1, 0, 3])


def alpha_one(x):
    return _ops.channels(x, [0, 1, 2, 5])


def invert(x):
    return _ops.invert(x, include_alpha=True)


def resize(x, w, h, method):
    return _ops.rescale(x, w, h, 0, method)


def crop(x, top, left, h, w):
    return _ops.crop(x, top, left, w, h)


def png_encode(x, level):
    if level is None:
        return _ops.encode_png(x, fast=True)
    if level in (1, "1+rle"):
        return _ops.encode_png(x)
    return None


def png_decode(data):
    return _ops.decode_png(data, DECODE_LIMIT)
