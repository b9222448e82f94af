"""The suite's intra-op thread cap while decode workers run (``EvalOptions.auto_threads``)."""

import pytest
import torch

from zeroshot import encode
from zeroshot.options import EvalOptions


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(encode.os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("setting", "load", "workers", "inside"),
    [
        (True, 0.0, 1, 1),  # always: 2 cores - 1 worker
        (True, 0.0, 0, 2),  # no workers, nothing to share
        (False, 9.0, 1, 2),  # never
        ("load", 2.5, 1, 1),  # busy machine (load >= cores): capped
        ("load", 0.4, 1, 2),  # near idle: left alone
        ("load", 9.0, 4, 1),  # cap is at least 1 thread
    ],
)
def test_cap_follows_setting_and_load(two_cores, monkeypatch, setting, load, workers, inside):
    monkeypatch.setattr(encode.os, "getloadavg", lambda: (load, load, load))
    with encode._share_cores(EvalOptions(auto_threads=setting), workers):
        assert torch.get_num_threads() == inside
    assert torch.get_num_threads() == 2  # restored


def test_bad_setting_is_an_error(two_cores, monkeypatch):
    monkeypatch.setattr(encode.os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    with pytest.raises(ValueError, match="auto_threads must be True, False or 'load'"):
        with encode._share_cores(EvalOptions(auto_threads="yes"), 1):
            pass
    assert EvalOptions().auto_threads == "load"
