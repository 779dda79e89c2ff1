"""Step counting across the pipeline calls ("phases") of one batch."""

from __future__ import annotations

from sfumato.engines import StepProgress


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

    def step(self, phase_total: int) -> None:
        self.in_phase += 1
        total = self.completed + phase_total * (1 + self.phases_after_current)
        self.report(self.completed + self.in_phase, max(total, self.completed + self.in_phase))

    def end_phase(self) -> None:
        self.completed += self.in_phase
        self.in_phase = 0
        self.phases_after_current = max(0, self.phases_after_current - 1)
