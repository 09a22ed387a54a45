"""benchmarks/mast_long_to_short.py's parts: the long-clip corpus, and the "leading rows" reading it runs for
comparison, which must compute what a MAST reading its tables' first rows computes (the behaviour before the fix)."""

import numpy as np
import pytest
import soundfile
import torch
from audio_helpers import noisy_tone
from training_helpers import load_benchmark

from specformers import MASTConfig, MASTModel
from specformers.modeling import modeling_mast


@pytest.fixture(scope="module")
def benchmark():
    return load_benchmark("mast_long_to_short")


def test_long_clips_join_four_keyword_clips(benchmark, tmp_path):
    lengths = [16000, 12000, 16000, 9000, 16000, 14000, 16000, 16000, 11000]
    for i, length in enumerate(lengths):
        folder = tmp_path / "kws" / "train" / ("yes" if i % 2 else "no")
        folder.mkdir(parents=True, exist_ok=True)
        soundfile.write(folder / f"{i}.wav", noisy_tone(length, seed=i), 16000)
    out = benchmark.build_long_clips(str(tmp_path / "kws"), str(tmp_path / "long"))
    joined = sorted((tmp_path / "long" / "train").iterdir())
    assert len(joined) == 2  # 9 clips -> two of 4, one left over
    durations = [soundfile.info(path).frames for path in joined]
    assert all(4 * 9000 <= d <= 4 * 16000 for d in durations) and sum(durations) <= sum(lengths)
    assert benchmark.build_long_clips(str(tmp_path / "kws"), out) == out  # built once


def test_the_leading_rows_reading_is_the_old_behaviour(benchmark, monkeypatch):
    torch.manual_seed(0)
    long = MASTModel(MASTConfig.from_preset("mast-tiny", target_frames=400)).eval()
    with torch.no_grad():
        for name, parameter in long.named_parameters():
            if "rel_pos" in name:
                parameter.normal_(0, 0.5)
    short = MASTModel(MASTConfig.from_preset("mast-tiny", target_frames=96)).eval()
    weights = long.state_dict()
    for key, value in short.state_dict().items():
        if key.endswith(("rel_pos_freq", "rel_pos_time")):
            weights[key] = weights[key][: value.shape[0]]  # what a short grid read before: the first rows
    short.load_state_dict(weights)
    inputs = torch.randn(2, 96, 128)
    centred = long(inputs).last_hidden_state
    monkeypatch.setattr(modeling_mast, "fit_relative_table", benchmark.leading_rows)
    leading = long(inputs).last_hidden_state
    torch.testing.assert_close(leading, short(inputs).last_hidden_state, atol=1e-5, rtol=0)
    assert (leading - centred).abs().max() > 1e-2
    np.testing.assert_array_equal(benchmark.VARIANTS, ("centre", "leading"))
