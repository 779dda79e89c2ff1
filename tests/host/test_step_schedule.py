"""Step parameters keyed by scaledStep: the interpolation rule and what is refused."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from sfumato import wire
from sfumato.errors import RpcError
from sfumato.jobs.step_params import guidance_factor, resolve_step_values, value_at


def steps(*entries: dict) -> list[wire.StepParameter]:
    return msgspec.json.decode(msgspec.json.encode(list(entries)), type=list[wire.StepParameter])


def test_one_value_or_repeats_at_one_step_are_constant():
    values = resolve_step_values(steps({"sampler": {"cfgScale": 5}}, {"sampler": {"cfgScale": 9}}))
    assert values.cfg_scale == 5 and values.cfg_schedule == ()  # first entry wins, as before


def test_values_at_several_scaled_steps_make_a_sorted_schedule():
    values = resolve_step_values(
        steps({"scaledStep": 1, "sampler": {"cfgScale": 12}}, {"scaledStep": 0.25, "sampler": {"cfgScale": 4}})
    )
    assert values.cfg_schedule == ((0.25, 4.0), (1.0, 12.0))
    assert values.cfg_scale == 4.0  # the value at the first step


@pytest.mark.parametrize(
    ("position", "expected"),
    [(0.0, 4.0), (0.25, 4.0), (0.5, 6.0), (0.625, 7.0), (1.0, 10.0), (1.5, 10.0), (-1.0, 4.0)],
)
def test_value_at_is_linear_between_keys_and_flat_outside(position, expected):
    schedule = ((0.25, 4.0), (0.75, 8.0), (1.0, 10.0))
    assert value_at(schedule, position) == pytest.approx(expected)


def test_value_at_agrees_with_an_independent_piecewise_linear_reference():
    schedule = ((0.0, 2.0), (0.3, 9.0), (0.8, 3.0))
    for position in np.linspace(0, 1, 41):
        # Hand-written reference: find the segment and interpolate.
        if position >= 0.8:
            expected = 3.0
        elif position >= 0.3:
            expected = 9.0 + (3.0 - 9.0) * (position - 0.3) / 0.5
        else:
            expected = 2.0 + (9.0 - 2.0) * position / 0.3
        assert value_at(schedule, float(position)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("entries", "field", "words"),
    [
        (({"scaledStep": 1.5, "sampler": {"cfgScale": 7}},), "image.parameters[0].scaledStep", "0..1"),
        (({"scaledStep": 0, "sampler": {"cfgScale": 0.5}}, {"scaledStep": 1, "sampler": {"cfgScale": 7}}),
         "image.parameters[0].sampler.cfgScale", "above 1"),
        (({"scaledStep": 0, "sampler": {"cfgScale": 7}}, {"scaledStep": 1, "sampler": {"cfgScale": 70}}),
         "image.parameters[1].sampler.cfgScale", "0..50"),
        (({"scaledStep": 0.5, "sampler": {"cfgScale": 4}}, {"scaledStep": 0.5, "sampler": {"cfgScale": 5}},
          {"scaledStep": 1, "sampler": {"cfgScale": 6}}),
         "image.parameters[1].sampler.cfgScale", "one value"),
        (({"scaledStep": 0, "sampler": {"eta": 0.1}}, {"scaledStep": 1, "sampler": {"eta": 0.2}}),
         "image.parameters[1].sampler.eta", "only sampler.cfgScale"),
        (({"schedule": {"end": 1.2}},), "image.parameters[0].schedule.end", "0..1"),
    ],
)
def test_bad_schedules_name_the_field(entries, field, words):
    with pytest.raises(RpcError) as caught:
        resolve_step_values(steps(*entries))
    assert caught.value.message.startswith(field) and words in caught.value.message


def test_schedule_end_is_read():
    values = resolve_step_values(steps({"schedule": {"start": 0.8, "end": 0.25}}))
    assert (values.schedule_start, values.schedule_end) == (pytest.approx(0.8), 0.25)


def test_a_guidance_preset_gives_its_documented_strength_unless_a_strength_is_given():
    preset = resolve_step_values(steps({"guidance": {"guidancePreset": "GUIDANCE_PRESET_SLOW"}}))
    assert (preset.guidance_strength, preset.guidance_cutouts) == (0.5, 8)
    both = resolve_step_values(steps({"guidance": {"guidancePreset": "GUIDANCE_PRESET_SLOW",
                                                   "instances": [{"guidanceStrength": 0.1}]}}))
    assert both.guidance_strength == pytest.approx(0.1)
    assert resolve_step_values(steps({"guidance": {"guidancePreset": "GUIDANCE_PRESET_NONE"}})).guidance_strength is None


@pytest.mark.parametrize("field", [{"cutouts": {"count": 4, "gray": 0.5}},
                                   {"models": [{"alias": "clip"}]}, {"prompt": {"text": "x"}}])
def test_guidance_fields_not_honoured_are_501(field):
    with pytest.raises(RpcError) as caught:
        resolve_step_values(steps({"guidance": {"instances": [{"guidanceStrength": 1, **field}]}}))
    name = next(iter(field))
    assert caught.value.code.name == "UNIMPLEMENTED"
    assert caught.value.message.startswith(f"image.parameters[0].guidance.instances[0].{name}")


def test_a_guidance_schedule_is_normalised_segments_and_cutouts_count_is_read():
    values = resolve_step_values(steps({"guidance": {"instances": [{
        "guidanceStrength": 2, "cutouts": {"count": 6},
        "schedule": [{"duration": 1, "value": 1}, {"duration": 3, "value": 0.25}]}]}}))
    assert values.guidance_schedule == ((0.25, 1.0), (0.75, 0.25)) and values.guidance_cutouts == 6
    factors = [guidance_factor(values.guidance_schedule, position) for position in (0.0, 0.2, 0.25, 0.9, 1.0)]
    assert factors == [1.0, 1.0, 0.25, 0.25, 0.25]


@pytest.mark.parametrize(("guidance", "field"), [
    ({"instances": [{"schedule": [{"duration": 0, "value": 1}]}]}, "guidance.instances[0].schedule"),
    ({"instances": [{"schedule": [{"duration": 1, "value": -1}]}]}, "guidance.instances[0].schedule[0].value"),
    ({"instances": [{"cutouts": {"count": 0}}]}, "guidance.instances[0].cutouts.count"),
])
def test_bad_guidance_schedules_and_counts_are_400(guidance, field):
    with pytest.raises(RpcError) as caught:
        resolve_step_values(steps({"guidance": guidance}))
    assert caught.value.code.name == "INVALID_ARGUMENT" and caught.value.message.startswith(f"image.parameters[0].{field}")


def test_two_guidance_instances_are_501():
    with pytest.raises(RpcError) as caught:
        resolve_step_values(steps({"guidance": {"instances": [{"guidanceStrength": 1}, {"guidanceStrength": 2}]}}))
    assert caught.value.code.name == "UNIMPLEMENTED"
