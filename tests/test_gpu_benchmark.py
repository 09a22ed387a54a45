"""benchmarks/bench_gpu.py stops with a clear message where there is no CUDA GPU (as on the CI machines)."""

import pytest
import torch
from training_helpers import load_benchmark


def test_refuses_without_a_cuda_gpu(monkeypatch, tmp_path):
    bench_gpu = load_benchmark("bench_gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="measures a CUDA GPU, and torch sees none here") as stop:
        bench_gpu.main(["--output", str(tmp_path / "gpu.json")])
    assert "Run it on a machine with an NVIDIA GPU" in str(stop.value)
    assert not (tmp_path / "gpu.json").exists()
