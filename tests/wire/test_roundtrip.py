"""encode -> decode is the identity on generated messages."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from sfumato.wire import (
    I64,
    U64,
    Answer,
    AnswerMeta,
    Artifact,
    ArtifactType,
    ChannelSource,
    DiffusionSampler,
    ExtendedParameter,
    ExtendedParameters,
    FinishReason,
    GaussianDirection,
    HiresFixParameters,
    ImageAdjustment,
    ImageAdjustmentChannels,
    ImageAdjustmentCrop,
    ImageAdjustmentGaussian,
    ImageAdjustmentInvert,
    ImageAdjustmentRescale,
    ImageParameters,
    Prompt,
    PromptParameters,
    RescaleMode,
    Request,
    SamplerParameters,
    ScheduleParameters,
    StepParameter,
    Tensor,
    TransformType,
    Upscaler,
)
from sfumato.wire_codec import decode_message, encode_message

u64 = st.integers(0, 2**64 - 1).map(U64)
i64 = st.integers(-(2**63), 2**63 - 1).map(I64)
u32 = st.integers(0, 2**32 - 1)
f32 = st.floats(width=32, allow_nan=False)
text = st.text(max_size=12)


def maybe(strategy):
    return st.none() | strategy


class Dilate(msgspec.Struct, rename="camel"):
    radius: U64 = U64(0)
    soft: bool = False


PLUGIN_ADJUSTMENTS = {"dilate": Dilate}

adjustments = st.one_of(
    st.builds(ImageAdjustment, blur=st.builds(ImageAdjustmentGaussian, sigma=f32,
                                              direction=st.sampled_from(GaussianDirection))),
    st.builds(ImageAdjustment, invert=st.just(ImageAdjustmentInvert())),
    st.builds(ImageAdjustment, channels=st.builds(ImageAdjustmentChannels, r=maybe(st.sampled_from(ChannelSource)),
                                                  a=maybe(st.sampled_from(ChannelSource)))),
    st.builds(ImageAdjustment, rescale=st.builds(ImageAdjustmentRescale, height=u64, width=u64,
                                                 mode=st.sampled_from(RescaleMode),
                                                 algorithm_hint=st.lists(text, max_size=2))),
    st.builds(ImageAdjustment, crop=st.builds(ImageAdjustmentCrop, top=u64, left=u64, width=u64, height=u64)),
    st.builds(lambda radius, soft: ImageAdjustment(extra={"dilate": Dilate(radius=radius, soft=soft)}),
              u64, st.booleans()),
)

data_members = st.one_of(
    st.fixed_dictionaries({}),
    st.fixed_dictionaries({"binary": st.binary(max_size=64)}),
    st.fixed_dictionaries({"text": text}),
    st.fixed_dictionaries({"tensor": st.builds(Tensor, shape=st.lists(i64, max_size=3),
                                               data=st.binary(max_size=16))}),
)

artifacts = st.builds(
    lambda data, **fields: Artifact(**data, **fields),
    data_members,
    id=u64, type=st.sampled_from(ArtifactType), mime=text, magic=maybe(text), index=u32,
    finish_reason=st.sampled_from(FinishReason), seed=u32, uuid=text, size=u64,
    adjustments=st.lists(adjustments, max_size=2), post_adjustments=st.lists(adjustments, max_size=1),
)

answers = st.builds(
    Answer, answer_id=text, request_id=text, received=u64, created=u64,
    meta=maybe(st.builds(AnswerMeta, gpu_id=maybe(text), engine_id=maybe(text))),
    artifacts=st.lists(artifacts, max_size=3),
)

prompts = st.one_of(
    st.builds(Prompt, text=text, parameters=maybe(st.builds(PromptParameters, init=maybe(st.booleans()),
                                                            weight=maybe(f32)))),
    st.builds(Prompt, artifact=artifacts),
)

transforms = st.one_of(
    st.builds(TransformType, diffusion=st.sampled_from([m.value for m in DiffusionSampler] + ["SAMPLER_UNIPC"])),
    st.builds(TransformType, upscaler=st.sampled_from(Upscaler)),
)

extension_values = st.one_of(
    st.builds(ExtendedParameter, name=text, float_value=f32),
    st.builds(ExtendedParameter, name=text, int_value=u64),
    st.builds(ExtendedParameter, name=text, str_value=text),
)

images = st.builds(
    ImageParameters, height=maybe(u64), width=maybe(u64), seed=st.lists(u32, max_size=3),
    samples=maybe(u64), steps=maybe(u64), transform=maybe(transforms),
    parameters=st.lists(st.builds(
        StepParameter, scaled_step=f32,
        sampler=maybe(st.builds(SamplerParameters, eta=maybe(f32), cfg_scale=maybe(f32), sampling_steps=maybe(u64))),
        schedule=maybe(st.builds(ScheduleParameters, start=maybe(f32), end=maybe(f32)))), max_size=2),
    extension=maybe(st.builds(ExtendedParameters, parameters=st.lists(extension_values, max_size=2))),
    hires=maybe(st.builds(HiresFixParameters, enable=st.booleans(), oos_fraction=maybe(f32))),
    tiling=maybe(st.booleans()),
)

json_values = st.recursive(st.none() | st.booleans() | st.integers(-1000, 1000) | text,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                           max_leaves=6)

requests = st.builds(
    Request, engine_id=text, request_id=text, requested_type=st.sampled_from(ArtifactType),
    prompt=st.lists(prompts, max_size=3), image=maybe(images), accept=text,
    extras=maybe(st.dictionaries(text, json_values, max_size=3)),
)


def roundtrip(message):
    return decode_message(encode_message(message), type(message), adjustments=PLUGIN_ADJUSTMENTS)


@settings(max_examples=200, deadline=None)
@given(answers)
def test_answer_roundtrip(answer: Answer) -> None:
    assert roundtrip(answer) == answer


@settings(max_examples=200, deadline=None)
@given(requests)
def test_request_roundtrip(request: Request) -> None:
    assert roundtrip(request) == request


@settings(max_examples=100, deadline=None)
@given(requests)
def test_encoding_is_one_compact_line(request: Request) -> None:
    encoded = encode_message(request)
    assert b"\n" not in encoded and not encoded.startswith(b"{ ")
