"""Finished images → ``Answer`` messages (API.md §5).

A job asking for a non-image ``requestedType`` gets one artifact per output the
engine returned (docs/api.md, "Non-image outputs"); ARTIFACT_MASK is the final
composite mask, made here from the job.
"""

from __future__ import annotations

import uuid

import msgspec
import numpy as np

from sfumato import wire
from sfumato.images import encode_png
from sfumato.jobs import outputs
from sfumato.jobs.outputs import OutputArtifact
from sfumato.jobs.state import ImageResult, JobState
from sfumato.wire_codec import to_json_value

# numpy dtype → tensors.Dtype; data goes out as raw little-endian bytes.
_WIRE_DTYPES = {
    "float32": wire.Dtype.DT_FLOAT32,
    "float64": wire.Dtype.DT_FLOAT64,
    "float16": wire.Dtype.DT_FLOAT16,
    "uint8": wire.Dtype.DT_UINT8,
    "int8": wire.Dtype.DT_INT8,
    "int16": wire.Dtype.DT_INT16,
    "int32": wire.Dtype.DT_INT32,
    "int64": wire.Dtype.DT_INT64,
    "bool": wire.Dtype.DT_BOOL,
}


_line_encoder = msgspec.json.Encoder()


def answer_line(state: JobState, result: ImageResult) -> bytes:
    """One NDJSON line ``{"result": Answer}`` of a Generate stream, encoded in one pass: the
    image's base64 is written once into the line instead of into an Answer that is then copied."""
    return _line_encoder.encode_lines(({"result": to_json_value(answer_for(state, result))},))


def answer_for(state: JobState, result: ImageResult) -> wire.Answer:
    job = state.job
    requested = getattr(job, "requested_type", outputs.IMAGE)
    if requested == outputs.MASK:
        artifacts = [_mask_artifact(job.composite_mask, result)]
    elif result.outputs:
        artifacts = [_output_artifact(output, result, position) for position, output in enumerate(result.outputs)]
    else:
        artifacts = [_image_artifact(result)]
    return wire.Answer(
        answer_id=f"{job.request_id}-{result.index}",
        request_id=job.request_id,
        received=wire.U64(state.received_ms),
        created=wire.U64(result.created_ms),
        meta=wire.AnswerMeta(engine_id=job.engine_id),
        artifacts=artifacts,
    )


def _finish_reason(filtered: bool) -> wire.FinishReason:
    return wire.FinishReason.FILTER if filtered else wire.FinishReason.NULL


def _image_artifact(result: ImageResult) -> wire.Artifact:
    return wire.Artifact(
        id=wire.U64(result.index),
        type=wire.ArtifactType.ARTIFACT_IMAGE,
        mime="image/png",
        binary=result.png,
        index=result.index,
        seed=result.seed,
        uuid=str(uuid.uuid4()),
        size=wire.U64(len(result.png)),
        finish_reason=_finish_reason(result.filtered),
    )


def _mask_artifact(mask: np.ndarray, result: ImageResult) -> wire.Artifact:
    """The composite mask as a greyscale PNG: white = generated, black = kept from the init image."""
    grey = (np.clip(mask, 0.0, 1.0) * 255.0).round().astype(np.uint8)[:, :, None]
    png = encode_png(grey)
    return wire.Artifact(
        id=wire.U64(result.index),
        type=wire.ArtifactType.ARTIFACT_MASK,
        mime="image/png",
        binary=png,
        index=result.index,
        seed=result.seed,
        uuid=str(uuid.uuid4()),
        size=wire.U64(len(png)),
    )


def wire_tensor(array: np.ndarray) -> wire.Tensor:
    dtype = _WIRE_DTYPES.get(array.dtype.name)
    if dtype is None:
        raise ValueError(f"no tensors.Dtype for numpy {array.dtype}")
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return wire.Tensor(dtype=dtype, shape=[wire.I64(dim) for dim in array.shape], data=data)


def _output_artifact(output: OutputArtifact, result: ImageResult, position: int) -> wire.Artifact:
    fields: dict = {}
    if output.tensor is not None:
        fields["tensor"] = wire_tensor(output.tensor)
        size = output.tensor.nbytes
    elif output.tokens is not None:
        tokens = [wire.Token(id=token_id, text=text) for token_id, text in output.tokens]
        fields["tokens"] = wire.Tokens(tokens=tokens, tokenizer_id=output.tokenizer_id)
        size = len(tokens)
    else:
        fields["text"] = output.text
        size = len((output.text or "").encode())
    return wire.Artifact(
        id=wire.U64(position),
        type=wire.ArtifactType(output.type),
        mime=output.mime,
        index=result.index,
        seed=result.seed,
        uuid=str(uuid.uuid4()),
        size=wire.U64(size),
        finish_reason=_finish_reason(output.flagged or result.filtered),
        **fields,
    )
