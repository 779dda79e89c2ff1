"""Running an image network over overlapping tiles, blended so that no seam shows.

Tiles are evenly sized (at most ``tile`` input pixels a side) and neighbours overlap by at
least ``overlap`` pixels. In each overlap the outer quarter on either side is dropped (a
tile's border pixels see the zero padding, not the neighbour's content) and the middle
half is a linear cross-fade; the weights of all tiles add up to one everywhere. Tiles run
through the network several to a forward pass, within a pixel budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

Network = Callable[[torch.Tensor], torch.Tensor]


def tile_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` covering ``0..length``: tiles of one size ≤ ``tile`` overlapping by ≥ ``overlap``."""
    if tile <= 0 or length <= tile:
        return [(0, length)]
    count = math.ceil((length - overlap) / (tile - overlap))
    size = min(tile, math.ceil((length + (count - 1) * overlap) / count))
    # Starts spread evenly from 0 to length - size; rounding down keeps each gap ≤ size - overlap.
    starts = [(index * (length - size)) // (count - 1) for index in range(count)]
    return [(start, start + size) for start in starts]


def pass_count(height: int, width: int, tile: int, overlap: int, batch_pixels: int) -> int:
    """Forward passes :func:`run_tiled` makes over one image of ``height`` × ``width``."""
    rows, columns = tile_spans(height, tile, overlap), tile_spans(width, tile, overlap)
    tile_pixels = (rows[0][1] - rows[0][0]) * (columns[0][1] - columns[0][0])
    return len(tiles_per_pass(len(rows) * len(columns), tile_pixels, batch_pixels))


def tiles_per_pass(tiles: int, tile_pixels: int, batch_pixels: int) -> list[int]:
    """How many tiles each forward pass takes: as few passes as ``batch_pixels`` allows, evenly filled.

    Even passes repeat one input shape, which backends cache their kernels for; a pass
    always takes at least one tile, however large.
    """
    most = max(1, batch_pixels // max(tile_pixels, 1))
    passes = math.ceil(tiles / most)
    return [tiles // passes + (index < tiles % passes) for index in range(passes)]


def _weights(spans: list[tuple[int, int]], index: int, scale: int, device: torch.device) -> torch.Tensor:
    """1-D blend weights of tile ``index`` along one axis, in output pixels."""
    start, end = spans[index]
    size = (end - start) * scale
    centres = torch.arange(size, device=device, dtype=torch.float32) + 0.5
    weights = torch.ones(size, device=device, dtype=torch.float32)
    if index > 0:  # the overlap with the previous tile, at this tile's start
        band = (spans[index - 1][1] - start) * scale
        weights = weights * _fade_in(centres, band)
    if index < len(spans) - 1:  # the overlap with the next tile, at this tile's end
        band = (end - spans[index + 1][0]) * scale
        weights = weights * _fade_in(size - centres, band)
    return weights


def _fade_in(distance: torch.Tensor, band: int) -> torch.Tensor:
    """0 for the first quarter of the band, a linear rise over its middle half, 1 beyond."""
    if band <= 0:
        return torch.ones_like(distance)
    margin = band / 4
    return ((distance - margin) / (band - 2 * margin)).clamp(0.0, 1.0)


def run_tiled(
    network: Network,
    image: torch.Tensor,
    scale: int,
    tile: int,
    overlap: int,
    before_pass: Callable[[], None] = lambda: None,
    after_pass: Callable[[], None] = lambda: None,
    batch_pixels: int = 0,
) -> torch.Tensor:
    """``network`` (N×C×H×W → N×C×sH×sW) applied to ``image`` tile by tile.

    Tiles (all of one size) go through the network together, as many per forward pass as
    fit in ``batch_pixels`` input pixels (0: one tile per pass). ``before_pass`` runs before
    each forward pass (a cancel check), ``after_pass`` after it (progress). The result is
    float32 on the image's device.
    """
    batch, channels, height, width = image.shape
    rows = tile_spans(height, tile, overlap)
    columns = tile_spans(width, tile, overlap)
    if len(rows) == 1 and len(columns) == 1:
        before_pass()
        result = network(image).float()
        after_pass()
        return result
    output = torch.zeros((batch, channels, height * scale, width * scale), dtype=torch.float32, device=image.device)
    row_weights = [_weights(rows, index, scale, image.device) for index in range(len(rows))]
    column_weights = [_weights(columns, index, scale, image.device) for index in range(len(columns))]
    tiles = [(row, column) for row in range(len(rows)) for column in range(len(columns))]
    tile_pixels = batch * (rows[0][1] - rows[0][0]) * (columns[0][1] - columns[0][0])
    first = 0
    for count in tiles_per_pass(len(tiles), tile_pixels, batch_pixels):
        group = tiles[first : first + count]
        first += count
        before_pass()
        inputs = [image[:, :, slice(*rows[row]), slice(*columns[column])] for row, column in group]
        pieces = network(inputs[0] if count == 1 else torch.cat(inputs)).float()
        for index, (row, column) in enumerate(group):
            (top, bottom), (left, right) = rows[row], columns[column]
            weight = row_weights[row][:, None] * column_weights[column][None, :]
            target = output[:, :, top * scale : bottom * scale, left * scale : right * scale]
            target.addcmul_(pieces[index * batch : (index + 1) * batch], weight)  # in place: no blended copy
        del pieces
        after_pass()
    # The weights add up to one unless a tile's two bands meet (tiny tiles): then normalise.
    row_total = _coverage(rows, row_weights, scale)
    column_total = _coverage(columns, column_weights, scale)
    if not (_is_one(row_total) and _is_one(column_total)):
        output.div_(row_total[:, None] * column_total[None, :])
    return output


def _is_one(total: torch.Tensor) -> bool:
    return bool(((total - 1).abs() <= 1e-6).all())


def _coverage(spans: list[tuple[int, int]], weights: list[torch.Tensor], scale: int) -> torch.Tensor:
    total = torch.zeros(spans[-1][1] * scale, dtype=torch.float32, device=weights[0].device)
    for (start, end), weight in zip(spans, weights):
        total[start * scale : end * scale] += weight
    return total.clamp_min(1e-6)
