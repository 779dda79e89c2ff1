"""Non-image results (``requestedType`` other than ARTIFACT_IMAGE), free of wire details.

An engine that declares an artifact type in ``EngineDescription.output_types`` returns,
for a job asking for it, one or more :class:`OutputArtifact` in
``GeneratedImage.outputs``; the host turns each into one Answer artifact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMAGE = "ARTIFACT_IMAGE"
LATENT = "ARTIFACT_LATENT"
TENSOR = "ARTIFACT_TENSOR"
TOKENS = "ARTIFACT_TOKENS"
EMBEDDING = "ARTIFACT_EMBEDDING"
CLASSIFICATIONS = "ARTIFACT_CLASSIFICATIONS"
MASK = "ARTIFACT_MASK"

# Types an engine must produce itself; the final mask is the host's (it composites with it).
ENGINE_OUTPUT_TYPES = (LATENT, TENSOR, TOKENS, EMBEDDING, CLASSIFICATIONS)
LATENT_TYPES = (LATENT, TENSOR)


@dataclass(frozen=True)
class OutputArtifact:
    """One non-image result. Exactly one of ``tensor``, ``tokens`` or ``text`` is set.

    ``tensor``: any numeric numpy array (sent as a tensors.Tensor, raw little-endian bytes).
    ``tokens``: (id, text) pairs, sent as Tokens with ``tokenizer_id``.
    ``text``: UTF-8 text (``mime`` says what it holds, e.g. ``application/json``).
    """

    type: str
    tensor: np.ndarray | None = None
    tokens: tuple[tuple[int, str], ...] | None = None
    tokenizer_id: str | None = None
    text: str | None = None
    mime: str = ""
    flagged: bool = False

    def __post_init__(self) -> None:
        present = [name for name in ("tensor", "tokens", "text") if getattr(self, name) is not None]
        if len(present) != 1:
            raise ValueError(f"OutputArtifact needs exactly one of tensor, tokens or text, got {present or 'none'}")


def check_outputs(job: object, outputs: object) -> tuple[OutputArtifact, ...]:
    """The engine's outputs for one task, checked against what the job asked for (ValueError if wrong)."""
    requested = getattr(job, "requested_type", IMAGE)
    if not isinstance(outputs, tuple | list) or not all(isinstance(o, OutputArtifact) for o in outputs):
        raise ValueError(f"GeneratedImage.outputs must be a tuple of OutputArtifact, got {type(outputs).__name__}")
    if requested not in ENGINE_OUTPUT_TYPES:
        return ()
    if not outputs:
        raise ValueError(f"the job asked for {requested} and generate() returned no outputs")
    wrong = [o.type for o in outputs if o.type != requested]
    if wrong:
        raise ValueError(f"the job asked for {requested} and generate() returned {wrong[0]}")
    return tuple(outputs)
