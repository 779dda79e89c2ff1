"""The engine conformance suite of sfumato.testing, run on the tiny-sd model."""

from __future__ import annotations

import pytest
from sfumato.testing import EngineConformance, load_engine


@pytest.fixture(scope="module")
def conformance_engine(cache_dir: str):
    # Through the plugin's entry point, as the server builds it. The kit asks for byte-identical
    # pixels alone and in a batch: the promise of batch_mode "sequential". The default "batched"
    # mode matches to float rounding (±1 on a few pixels), checked in test_batch_modes.py.
    return load_engine("diffusers", plugins=["diffusers"], model="tiny-sd", cache_dir=cache_dir,
                       options={"batch_mode": "sequential"})


class TestTinySdConformance(EngineConformance):
    pass
