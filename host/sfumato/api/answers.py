"""Finished images → ``Answer`` messages (API.md §5)."""

from __future__ import annotations

import uuid

from sfumato import wire
from sfumato.jobs.state import ImageResult, JobState


def answer_for(state: JobState, result: ImageResult) -> wire.Answer:
    job = state.job
    artifact = wire.Artifact(
        id=wire.U64(result.index),
        type=wire.ArtifactType.ARTIFACT_IMAGE,
        mime="image/png",
        binary=result.png,
        index=result.index,
        seed=result.seed,
        uuid=str(uuid.uuid4()),
        size=wire.U64(len(result.png)),
        finish_reason=wire.FinishReason.FILTER if result.filtered else wire.FinishReason.NULL,
    )
    return wire.Answer(
        answer_id=f"{job.request_id}-{result.index}",
        request_id=job.request_id,
        received=wire.U64(state.received_ms),
        created=wire.U64(result.created_ms),
        meta=wire.AnswerMeta(engine_id=job.engine_id),
        artifacts=[artifact],
    )
