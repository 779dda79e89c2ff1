"""Planning image work from shapes, the shared image-work budget, and the per-client rate buckets."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from sfumato import wire
from sfumato.adjust import ImageLimit, plan_adjustments
from sfumato.api.rate_limit import TokenBuckets
from sfumato.errors import Code, RpcError
from sfumato.jobs.image_work import ImageWorkBudget
from sfumato.plugins import load_plugins

LIMIT = ImageLimit(max_pixels=4096 * 4096, max_side=8192)


@pytest.fixture(scope="module")
def registry():
    return load_plugins(strict=True, only=["adjustments"]).adjustments


def test_plan_follows_shapes_through_the_chain(registry):
    chain = [
        wire.ImageAdjustment(rescale=wire.ImageAdjustmentRescale(width=wire.U64(1000), height=wire.U64(500))),
        wire.ImageAdjustment(crop=wire.ImageAdjustmentCrop(top=wire.U64(0), left=wire.U64(0), width=wire.U64(300), height=wire.U64(200))),
        wire.ImageAdjustment(channels=wire.ImageAdjustmentChannels(g=wire.ChannelSource.CHANNEL_DISCARD,
                                                                   b=wire.ChannelSource.CHANNEL_DISCARD)),
        wire.ImageAdjustment(blur=wire.ImageAdjustmentGaussian(sigma=2.0)),
    ]
    shape, peak = plan_adjustments((10, 10, 3), chain, registry, path="a", limit=LIMIT)
    assert shape == (200, 300, 1)
    # the rescale dominates: 1000×500×3 out, its float32 copy, and the tiny input
    assert peak == 300 + 1_500_000 + 4 * 1_500_000


def test_plan_refuses_the_step_that_breaks_the_limit(registry):
    chain = [wire.ImageAdjustment(invert=wire.ImageAdjustmentInvert()),
             wire.ImageAdjustment(rescale=wire.ImageAdjustmentRescale(width=wire.U64(16384), height=wire.U64(16384)))]
    with pytest.raises(RpcError) as error:
        plan_adjustments((8, 8, 4), chain, registry, path="prompt[1].artifact.adjustments", limit=LIMIT)
    assert error.value.code == Code.INVALID_ARGUMENT
    assert "prompt[1].artifact.adjustments[1].rescale: the image would be 16384×16384" in error.value.message


def run(coroutine):
    return asyncio.run(coroutine)


def test_budget_grants_in_order_and_holds_until_the_thread_ends():
    async def scenario() -> list[str]:
        budget = ImageWorkBudget(slots=2, max_bytes=100, wait_seconds=5)
        order: list[str] = []
        gate = threading.Event()

        def work(name: str, wait: bool) -> str:
            if wait:
                gate.wait(5)
            order.append(name)
            return name

        first = asyncio.ensure_future(budget.run(80, work, "big", True))
        await asyncio.sleep(0.05)
        assert budget.used_bytes == 80
        second = asyncio.ensure_future(budget.run(50, work, "second", False))
        third = asyncio.ensure_future(budget.run(10, work, "third", False))  # fits, but waits its turn
        await asyncio.sleep(0.05)
        assert not second.done() and not third.done()
        first.cancel()  # the client went away: the bytes stay reserved while the thread runs
        await asyncio.sleep(0.05)
        assert budget.used_bytes == 80 and not second.done()
        gate.set()
        assert await second == "second" and await third == "third"
        assert budget.used_bytes == 0 and budget.active == 0
        return order

    order = run(scenario())
    assert order[0] == "big" and sorted(order[1:]) == ["second", "third"]


def test_budget_refuses_too_large_and_times_out_when_busy():
    async def scenario() -> None:
        budget = ImageWorkBudget(slots=1, max_bytes=100, wait_seconds=0.2)
        with pytest.raises(RpcError) as error:
            await budget.run(101, lambda: None)
        assert error.value.code == Code.INVALID_ARGUMENT and "limits.image_work_bytes" in error.value.message
        holder = asyncio.ensure_future(budget.run(1, time.sleep, 0.6))
        await asyncio.sleep(0.05)
        with pytest.raises(RpcError) as error:
            await budget.run(1, lambda: None)
        assert error.value.code == Code.RESOURCE_EXHAUSTED and error.value.retry_after_seconds
        await holder
        assert await budget.run(1, lambda: "free") == "free"

    run(scenario())


def test_token_buckets_allow_a_burst_then_the_pace():
    now = [0.0]
    buckets = TokenBuckets(per_minute=6, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(6)] == [0.0] * 6
    assert buckets.take("a") == pytest.approx(10.0)  # one token every 10 s
    assert buckets.take("b") == 0.0  # clients are counted apart
    now[0] += 10.0
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
