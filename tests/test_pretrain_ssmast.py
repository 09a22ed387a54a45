"""training/pretrain_ssmast.py end to end on generated audio, with MAST and AST backbones."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from training_helpers import read_log, run_main

from specformers import ASTForAudioClassification, MASTForAudioClassification, MASTModel, SSMASTForPreTraining
from specformers.training import pretrain_ssmast

TINY = ["--config_name", "mast-tiny", "--target_frames", "96", "--per_device_train_batch_size", "4",
        "--learning_rate", "3e-4", "--warmup_steps", "1", "--logging_steps", "1", "--dataloader_num_workers", "0"]


def pretrain(*argv):
    return run_main(pretrain_ssmast.main, *argv)


def test_mast_pretrains_and_exports_the_encoder(corpus, tmp_path):
    out = tmp_path / "mast"
    state = pretrain("--dataset_name", corpus, "--output_dir", out, "--max_steps", 3, *TINY)
    assert state.step == 3
    log = read_log(out)
    for record in log:
        assert np.isfinite(record["loss"]) and 0 < record["embedding_std"] < 1
        assert -1 <= record["positive_similarity"] <= 1
    model = MASTForAudioClassification.from_pretrained(out, num_labels=4)
    assert model.config.target_frames == 96
    assert model(torch.randn(2, 96, 128)).logits.shape == (2, 4)


def test_ast_backbone(corpus, tmp_path):
    out = tmp_path / "ast"
    pretrain("--dataset_name", corpus, "--output_dir", out, "--max_steps", 2, *TINY, "--backbone", "ast",
             "--config_name", "ast-tiny")
    assert ASTForAudioClassification.from_pretrained(out, num_labels=2).config.hidden_size == 64
    with pytest.raises(ValueError, match="--backbone must be one of"):
        pretrain("--dataset_name", corpus, "--output_dir", tmp_path / "x", "--max_steps", 1, *TINY,
                 "--backbone", "vit", "--config_name", "")


def test_resume_reproduces_the_uninterrupted_run_mixup_memory_included(corpus, tmp_path):
    common = ["--dataset_name", corpus, "--max_steps", 6, "--checkpointing_steps", 3, *TINY,
              "--config_overrides", "mixup_memory_size=6"]
    pretrain(*common, "--output_dir", tmp_path / "whole")
    pretrain(*common, "--output_dir", tmp_path / "split", "--stop_after_steps", 3)
    pretrain(*common, "--output_dir", tmp_path / "split", "--resume_from_checkpoint", "latest")
    whole, split = read_log(tmp_path / "whole"), read_log(tmp_path / "split")
    assert [r["step"] for r in split] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(whole, split):
        assert a["loss"] == b["loss"] and a["embedding_std"] == b["embedding_std"], a["step"]
    # a checkpoint holds the whole pretraining model: fine-tuning it directly is refused, pointing at the encoder
    checkpoint = tmp_path / "split" / "checkpoint-6"
    with pytest.raises(ValueError, match="SS-MAST pretraining checkpoint: fine-tune the encoder"):
        MASTForAudioClassification.from_pretrained(checkpoint)
    student = SSMASTForPreTraining.from_pretrained(checkpoint).backbone  # the way out the message gives
    torch.testing.assert_close(student.state_dict(), MASTModel.from_pretrained(tmp_path / "split").state_dict(),
                               rtol=0, atol=0)


def test_a_collapse_is_reported(corpus, tmp_path):
    out = tmp_path / "collapse"
    pretrain("--dataset_name", corpus, "--output_dir", out, "--max_steps", 4, *TINY, "--learning_rate", "3e-2",
             "--warmup_steps", "0")
    log = read_log(out)
    collapsed = [r for r in log if r.get("collapse_warning")]
    assert collapsed and all(r["embedding_std"] < 0.25 / 16 for r in collapsed)
    assert all(r["embedding_std"] >= 0.25 / 16 for r in log if not r.get("collapse_warning"))


@pytest.mark.several_processes
def test_two_processes_see_the_whole_global_batch_as_negatives(corpus, tmp_path):
    """2 processes x 2 clips against 1 process x 4 clips: same data, same augmentation, same mixup memory; with
    negatives gathered from both processes the losses must be those of the single process."""
    common = ["-m", "specformers.training.pretrain_ssmast", "--dataset_name", str(corpus), "--max_steps", "3",
              "--config_name", "mast-tiny", "--target_frames", "96", "--learning_rate", "3e-4", "--warmup_steps",
              "1", "--logging_steps", "1", "--dataloader_num_workers", "0", "--config_overrides",
              "patch_drop_rate=0.0"]
    single = subprocess.run([sys.executable, *common, "--output_dir", str(tmp_path / "single"),
                             "--per_device_train_batch_size", "4"], capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-3000:]
    double = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                             "2", *common, "--output_dir", str(tmp_path / "double"), "--per_device_train_batch_size",
                             "2"], capture_output=True, text=True, timeout=300)
    assert double.returncode == 0, double.stderr[-3000:]
    summary = json.loads((tmp_path / "double" / "pretraining_state.json").read_text())
    assert len(summary["parameter_checksums"]) == 2 and len(set(summary["parameter_checksums"])) == 1
    card = (tmp_path / "double" / "README.md").read_text()  # the encoder's card, written by the main process
    assert yaml.safe_load(card.split("---")[1])["pipeline_tag"] == "feature-extraction"
    assert "pretrain_ssmast" in card and "@inproceedings{ghosh2023mast" in card and "3 optimizer steps" in card
    single_log, double_log = read_log(tmp_path / "single"), read_log(tmp_path / "double")
    assert len(single_log) == len(double_log) == 3
    for one, two in zip(single_log, double_log):
        assert two["loss"] == pytest.approx(one["loss"], rel=1e-4), one["step"]
        assert two["positive_similarity"] == pytest.approx(one["positive_similarity"], rel=1e-4)


def test_starts_from_a_saved_encoder(tmp_path):
    from specformers import MASTConfig, MASTModel, SpectrogramFeatureExtractor
    from specformers.training.arguments import ModelArguments

    encoder = MASTModel(MASTConfig.from_preset("mast-tiny"))
    encoder.save_pretrained(tmp_path / "encoder")  # e.g. MASTModel.from_timm(...) for the ImageNet start
    model = pretrain_ssmast.build_model(ModelArguments(model_name_or_path=str(tmp_path / "encoder"),
                                                       config_overrides="patch_drop_rate=0.1"),
                                        pretrain_ssmast.SSMASTArguments(),
                                        SpectrogramFeatureExtractor(target_frames=128))
    assert model.config.patch_drop_rate == 0.1
    for key, value in encoder.state_dict().items():
        torch.testing.assert_close(model.backbone.state_dict()[key], value)
        torch.testing.assert_close(model.teacher_backbone.state_dict()[key], value)
