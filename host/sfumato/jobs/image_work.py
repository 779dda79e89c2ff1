"""The bound on image work (decoding and adjusting prompt images) across all requests.

Each request first plans its images from their declared sizes and the adjustment
chains (no pixel is decoded), then reserves that many bytes and one of the work
slots; it waits, oldest first, while others hold them, and gets 429 after
``limits.image_work_wait_seconds``. So N hostile requests at once cannot take more
than ``limits.image_work_bytes`` of memory for images, however large each is.
"""

from __future__ import annotations

import asyncio
import io
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from PIL import Image

from sfumato import _ops
from sfumato.adjust import ImageLimit, Shape, plan_adjustments, validate_adjustments
from sfumato.config import LimitSettings
from sfumato.errors import Code, RpcError, invalid
from sfumato.images import PNG_SIGNATURE
from sfumato.records import AdjustmentSpec

IMAGE_KINDS = ("ARTIFACT_IMAGE", "ARTIFACT_MASK")
T = TypeVar("T")
# Channels assumed before decoding: the most a decoded image can have.
MAX_CHANNELS = 4


def declared_shape(data: bytes) -> Shape | None:
    """(height, width, 4) from the image header alone; None when unreadable (decoding reports why)."""
    try:
        if data.startswith(PNG_SIGNATURE):
            width, height = _ops.png_info(data)
        else:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Exception:  # noqa: BLE001 - any header the decoders cannot read is reported by them later
        return None
    return int(height), int(width), MAX_CHANNELS


def plan_request_images(prompts: Sequence[Any], limits: LimitSettings, registry: Mapping[str, AdjustmentSpec]) -> int:
    """Bytes a request's image work may need at its peak; 400 if any intermediate image breaks the limit."""
    limit = ImageLimit(limits.max_input_pixels, limits.max_input_side)
    total = 0
    for position, prompt in enumerate(prompts[: limits.max_prompts]):
        artifact = prompt.artifact
        kind = getattr(artifact.type, "value", artifact.type) if artifact is not None else None
        if kind not in IMAGE_KINDS or artifact.binary is None:
            continue
        path = f"prompt[{position}].artifact"
        shape = declared_shape(artifact.binary)  # no copy: this runs on the event loop
        if shape is None or not limit.allows(shape):
            continue  # decoding refuses it with the precise reason
        pre = list(artifact.adjustments or ())
        post = list(artifact.post_adjustments or ())
        validate_adjustments(pre, registry, path=path + ".adjustments")
        validate_adjustments(post, registry, path=path + ".postAdjustments")
        adjusted, peak = plan_adjustments(shape, pre, registry, path=path + ".adjustments", limit=limit)
        retained = _nbytes(adjusted)
        if kind == "ARTIFACT_MASK":
            final, post_peak = plan_adjustments(adjusted, post, registry, path=path + ".postAdjustments", limit=limit)
            peak = max(peak, retained + post_peak)
            retained += _nbytes(final) + 8 * adjusted[0] * adjusted[1]  # two float32 mask planes
        total += max(peak, retained)
    return total


def _nbytes(shape: Shape) -> int:
    return shape[0] * shape[1] * shape[2]


class ImageWorkBudget:
    """Work threads and bytes shared by every request's image work, granted oldest first.

    The reservation lasts until the work's thread has finished, even when the request
    that asked for it is cancelled meanwhile: memory is what is bounded, not waiting.
    """

    def __init__(self, *, slots: int, max_bytes: int, wait_seconds: float) -> None:
        self.slots = slots
        self.max_bytes = max_bytes
        self.wait_seconds = wait_seconds
        self.active = 0
        self.used_bytes = 0
        self._waiting: deque[object] = deque()
        self._released = asyncio.Event()
        self._threads = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="sfumato-images")

    async def run(self, nbytes: int, work: Callable[..., T], *args: Any) -> T:
        """Run ``work(*args)`` on an image thread once ``nbytes`` and a thread are free."""
        await self._acquire(nbytes)
        future = asyncio.get_running_loop().run_in_executor(self._threads, work, *args)
        future.add_done_callback(lambda _: self._release(nbytes))
        return await asyncio.shield(future)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    def _fits(self, ticket: object, nbytes: int) -> bool:
        return self._waiting[0] is ticket and self.active < self.slots and self.used_bytes + nbytes <= self.max_bytes

    def _wake(self) -> None:
        self._released.set()
        self._released = asyncio.Event()

    async def _acquire(self, nbytes: int) -> None:
        if nbytes > self.max_bytes:
            raise invalid(
                f"prompt: the images of this request need about {nbytes >> 20} MiB to decode and adjust; "
                f"the server allows {self.max_bytes >> 20} MiB (limits.image_work_bytes): use smaller images or sizes"
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        ticket = object()
        self._waiting.append(ticket)
        try:
            while not self._fits(ticket, nbytes):
                released = self._released
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise RpcError(
                        Code.RESOURCE_EXHAUSTED,
                        "the server is busy decoding and adjusting other requests' images "
                        "(limits.image_work_bytes, limits.image_work_slots); retry later",
                        retry_after_seconds=min(self.wait_seconds, 5.0),
                    )
                try:
                    await asyncio.wait_for(released.wait(), remaining)
                except TimeoutError:
                    pass
        finally:
            self._waiting.remove(ticket)
            self._wake()  # the next in line may fit now, or the head changed
        self.active += 1
        self.used_bytes += nbytes

    def _release(self, nbytes: int) -> None:
        self.active -= 1
        self.used_bytes -= nbytes
        self._wake()
