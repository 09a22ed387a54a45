"""bf16 mixed precision on the CPU: tiny pretraining runs of both methods train and save float32 weights
(fine-tuning in bf16: tests/test_train_classifier.py)."""

import numpy as np
import test_pretrain_asit
import test_pretrain_ssmast
import torch
from safetensors.torch import load_file
from training_helpers import read_log, run_main

from specformers.training import pretrain_asit, pretrain_ssmast


def assert_float32(folder):
    weights = load_file(folder / "model.safetensors")
    assert weights and {tensor.dtype for tensor in weights.values()} == {torch.float32}


def test_asit_pretraining_in_bf16(corpus, tmp_path):
    run_main(pretrain_asit.main, "--dataset_name", corpus, "--output_dir", tmp_path, "--max_steps", 16,
             *test_pretrain_asit.TINY, "--mixed_precision", "bf16", "--learning_rate", 3e-3)
    # the distillation terms rise while the teacher's temperature warms up; the reconstruction falls
    reconstruction = [record["reconstruction"] for record in read_log(tmp_path)]
    assert np.isfinite([record["loss"] for record in read_log(tmp_path)]).all()
    assert np.mean(reconstruction[-3:]) < 0.9 * np.mean(reconstruction[:3]), reconstruction
    assert_float32(tmp_path)
    assert_float32(tmp_path / "checkpoint-16")


def test_ssmast_pretraining_in_bf16_follows_float32(corpus, tmp_path):
    """SS-MAST's contrastive loss does not fall measurably in 16 steps on tones, in float32 either; a bf16 run
    must follow the float32 one step by step."""
    argv = ["--dataset_name", corpus, "--max_steps", 8, *test_pretrain_ssmast.TINY, "--optimizer", "adamw",
            "--learning_rate", 1e-3]
    run_main(pretrain_ssmast.main, *argv, "--output_dir", tmp_path / "fp32")
    run_main(pretrain_ssmast.main, *argv, "--output_dir", tmp_path / "bf16", "--mixed_precision", "bf16")
    fp32, bf16 = ([record["loss"] for record in read_log(tmp_path / run)] for run in ("fp32", "bf16"))
    assert np.isfinite(bf16).all() and bf16 != fp32  # bf16 did run: its rounding shows
    np.testing.assert_allclose(bf16, fp32, rtol=0.1)
    assert_float32(tmp_path / "bf16")
