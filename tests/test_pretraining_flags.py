"""The pretraining scripts' run-level flags: --gradient_checkpointing (same losses, blocks recomputed) and
--log_level."""

import logging

import datasets
import pytest
import transformers
from test_pretrain_asit import TINY
from training_helpers import read_log, run_main

from specformers.modeling import spectrogram_vit
from specformers.training import pretrain_asit


def test_gradient_checkpointing_recomputes_the_blocks_and_changes_nothing_else(corpus, tmp_path, monkeypatch):
    calls = []  # attention calls in training mode: the student's (the EMA teacher runs in eval mode)
    forward = spectrogram_vit.SpectrogramViTAttention.forward

    def counted(self, *args, **kwargs):
        calls.append(self.training)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(spectrogram_vit.SpectrogramViTAttention, "forward", counted)
    runs = {}
    for flag in ([], ["--gradient_checkpointing"]):
        calls.clear()
        out = tmp_path / ("checkpointed" if flag else "plain")
        run_main(pretrain_asit.main, "--dataset_name", corpus, "--output_dir", out, "--max_steps", 3, *TINY, *flag)
        runs[bool(flag)] = (read_log(out), calls.count(True))
    (plain, plain_calls), (checkpointed, checkpointed_calls) = runs[False], runs[True]
    assert checkpointed_calls == 2 * plain_calls  # each student block runs again in the backward pass
    for a, b in zip(plain, checkpointed):
        for term in ("loss", "global", "local", "reconstruction"):
            assert b[term] == pytest.approx(a[term], rel=1e-5), (a["step"], term)


@pytest.fixture
def restore_verbosity():
    levels = (transformers.utils.logging.get_verbosity(), datasets.utils.logging.get_verbosity(),
              logging.getLogger("specformers").level)
    yield
    transformers.utils.logging.set_verbosity(levels[0])
    datasets.utils.logging.set_verbosity(levels[1])
    logging.getLogger("specformers").setLevel(levels[2])


def test_log_level(corpus, tmp_path, caplog, restore_verbosity):
    caplog.set_level(logging.DEBUG)
    argv = ["--dataset_name", corpus, "--max_steps", 2, "--checkpointing_steps", 1, *TINY]
    run_main(pretrain_asit.main, *argv, "--output_dir", tmp_path / "info")
    saved = [r for r in caplog.records if r.name.startswith("specformers") and "Saved" in r.getMessage()]
    assert len(saved) == 3 and {r.levelname for r in saved} == {"INFO"}  # 2 checkpoints and the encoder
    caplog.clear()
    run_main(pretrain_asit.main, *argv, "--output_dir", tmp_path / "warning", "--log_level", "warning")
    assert not [r for r in caplog.records if r.name.startswith(("specformers", "transformers", "datasets"))
                and r.levelno < logging.WARNING]
    with pytest.raises(ValueError, match="--log_level must be one of"):
        run_main(pretrain_asit.main, *argv, "--output_dir", tmp_path / "x", "--log_level", "loud")
