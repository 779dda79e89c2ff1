"""options.cpu_threads sizes torch's CPU thread pools at load; 0 (auto) leaves a core to the server."""

from __future__ import annotations

import pytest
import torch
from _support import make_engine

from sfumato_diffusers.options import parse_options
from sfumato_diffusers.threads import SERVER_CORES, auto_threads, available_cores


def test_an_explicit_count_is_applied_at_load(cache_dir):
    before = torch.get_num_threads()
    try:
        make_engine("tiny-sd", cache_dir, cpu_threads=2, device="cpu")
        assert torch.get_num_threads() == 2
        make_engine("tiny-sd", cache_dir, cpu_threads=1, device="cpu")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_auto_leaves_the_server_a_core_on_cpu_and_leaves_accelerators_alone():
    assert auto_threads(torch.device("cpu")) == max(1, available_cores() - SERVER_CORES)
    assert auto_threads(torch.device("cuda")) is None


@pytest.mark.parametrize("value", [-1, True, "2", 1.5])
def test_bad_values_are_refused_naming_the_option(value):
    with pytest.raises(ValueError, match="options.cpu_threads"):
        parse_options({"cpu_threads": value})
