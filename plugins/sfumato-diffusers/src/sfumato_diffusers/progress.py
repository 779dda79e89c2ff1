"""Step counting across the pipeline calls ("phases") of one batch."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from sfumato.engines import StepProgress
from sfumato_diffusers.previews import BatchPreviews


def _takes_preview(report: Callable[..., Any]) -> bool:
    """Whether ``report`` accepts ``preview=`` (hosts since the events API; test harnesses may not)."""
    try:
        parameters = inspect.signature(report).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "preview" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


class StepCounter:
    """Reports ``progress(done, total)`` after every sampler step.

    A phase's step count is only known once its pipeline has set its timesteps
    (strength and 2nd-order samplers change it), so the phases still to come are
    estimated from the current one.
    """

    def __init__(self, report: StepProgress, phases: int) -> None:
        self.report = report
        self.phases_after_current = max(0, phases - 1)
        self.completed = 0
        self.in_phase = 0
        self.previews = _takes_preview(report)
        self.board: BatchPreviews | None = None  # set by the engine: previews of the whole batch

    def preview_for(self, run_tasks: Sequence[object], latents: object) -> Callable[[], Any] | None:
        if self.board is None or latents is None or not self.previews:
            return None
        return self.board.for_step(run_tasks, latents)

    def step(self, phase_total: int, preview: Callable[[], Any] | None = None) -> None:
        self.in_phase += 1
        total = self.completed + phase_total * (1 + self.phases_after_current)
        done = self.completed + self.in_phase
        if preview is not None and self.previews:
            self.report(done, max(total, done), preview=preview)
        else:
            self.report(done, max(total, done))

    def end_phase(self) -> None:
        self.completed += self.in_phase
        self.in_phase = 0
        self.phases_after_current = max(0, self.phases_after_current - 1)
