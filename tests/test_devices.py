"""The scripts run where Accelerate puts them; the CPU only when asked or when several processes have no
accelerator (then gloo)."""

import os

import pytest

from specformers.training import devices

SOURCES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "training")


@pytest.mark.parametrize("asked, world_size, accelerator, cpu", [
    (False, None, None, True),  # nothing else there
    (False, "2", None, True),  # several CPU processes: gloo
    (False, None, "cuda", False),  # Accelerate's choice
    (False, "2", "cuda", False),
    (False, None, "xpu", False),
    (False, None, "mps", False),  # one process on a Mac's GPU
    (False, "2", "mps", True),  # MPS has no collective backend
    (True, None, "cuda", True),  # --use_cpu
    (True, "2", "xpu", True),
])
def test_the_cpu_only_when_asked_or_nothing_else(asked, world_size, accelerator, cpu, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    if world_size:
        monkeypatch.setenv("WORLD_SIZE", world_size)
    monkeypatch.setattr(devices, "accelerator_type", lambda: accelerator)
    assert devices.run_on_cpu(asked) is cpu


def test_no_script_names_a_device_type():
    """Device choice lives in devices.py; elsewhere a hard-coded CUDA check would send MPS/XPU users to the CPU."""
    for name in os.listdir(SOURCES):
        if name.endswith(".py") and name != "devices.py":
            with open(os.path.join(SOURCES, name)) as f:
                assert "torch.cuda" not in f.read(), name
