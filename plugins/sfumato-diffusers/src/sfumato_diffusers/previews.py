"""Cheap previews of a batch in progress: a linear map from the latents to RGB, per model family.

A VAE decode per step would cost about as much as a step; projecting the latent channels
onto RGB with a fixed 4×3 matrix (fitted by the community against the VAE's decodes,
published for SD 1.x/2.x and SDXL) costs a few microseconds and needs no extra network.
The image comes out at latent resolution (1/8 of the output per side).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

# Rows: latent channels; columns: R, G, B. Output is about -1..1.
SD_LATENT_RGB = np.array(
    [
        [0.298, 0.207, 0.208],
        [0.187, 0.286, 0.173],
        [-0.158, 0.189, 0.264],
        [-0.184, -0.271, -0.473],
    ],
    dtype=np.float32,
)
SDXL_LATENT_RGB = np.array(
    [
        [0.3920, 0.4054, 0.4549],
        [-0.2634, -0.0196, 0.0653],
        [0.0568, 0.1687, -0.0755],
        [-0.3112, -0.2359, -0.2076],
    ],
    dtype=np.float32,
)
SDXL_LATENT_BIAS = np.array([0.1084, -0.0175, -0.0011], dtype=np.float32)


def project(latents: np.ndarray, xl: bool) -> list[np.ndarray]:
    """B×C×h×w latents → B images h×w×3 uint8.

    A model with other than 4 latent channels (a test model, a new family) gets its
    first three channels, each stretched to its own range: a rough picture, never an error.
    """
    latents = np.asarray(latents, dtype=np.float32)
    if latents.shape[1] == 4:
        matrix, bias = (SDXL_LATENT_RGB, SDXL_LATENT_BIAS) if xl else (SD_LATENT_RGB, 0.0)
        rgb = np.einsum("bchw,cr->bhwr", latents, matrix) + bias
        rgb = (rgb + 1.0) * 127.5
    else:
        channels = np.moveaxis(latents[:, :3], 1, -1)
        if channels.shape[-1] < 3:
            channels = np.repeat(channels[..., :1], 3, axis=-1)
        low = channels.min(axis=(1, 2), keepdims=True)
        high = channels.max(axis=(1, 2), keepdims=True)
        rgb = (channels - low) / np.maximum(high - low, 1e-6) * 255.0
    return list(np.clip(rgb, 0, 255).astype(np.uint8))


class BatchPreviews:
    """The latest preview of every task of a batch, across its pipeline calls (runs).

    A task whose run has not started yet shows mid-grey; one whose run has finished
    keeps its last preview.
    """

    def __init__(self, tasks: Sequence[object], xl: bool) -> None:
        self.positions = {id(task): position for position, task in enumerate(tasks)}
        self.tasks = len(tasks)
        self.xl = xl
        self.latest: dict[int, np.ndarray] = {}

    def for_step(self, run_tasks: Sequence[object], latents: object) -> Callable[[], list[np.ndarray]]:
        """A preview function for the host: it projects ``latents`` (of ``run_tasks``) only if called."""
        positions = [self.positions[id(task)] for task in run_tasks]

        def preview() -> list[np.ndarray]:
            tensor = latents.detach().float().cpu().numpy()  # type: ignore[attr-defined]
            for position, image in zip(positions, project(tensor[: len(positions)], self.xl)):
                self.latest[position] = image
            shape = next(iter(self.latest.values())).shape
            grey = np.full(shape, 128, dtype=np.uint8)
            return [self.latest.get(position, grey) for position in range(self.tasks)]

        return preview
