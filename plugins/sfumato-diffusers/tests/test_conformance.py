"""The engine conformance suite of sfumato.testing, run on the tiny-sd model."""

from __future__ import annotations

import pytest
from sfumato.testing import EngineConformance, load_engine


@pytest.fixture(scope="module")
def conformance_engine(cache_dir: str):
    # Through the plugin's entry point, as the server builds it.
    return load_engine("diffusers", plugins=["diffusers"], model="tiny-sd", cache_dir=cache_dir)


class TestTinySdConformance(EngineConformance):
    pass
