"""The pretraining recipes as their authors ran them (docs: the fidelity page): schedules that a short run does not
squeeze, per-tensor or global clipping, weight-decay groups each model declares, ASiT's student-only stochastic
depth, waveform roll and frozen output layers, SS-MAST's optimisation and mixup order."""

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from audio_helpers import noisy_tone
from training_helpers import read_log, run_main

from specformers import (
    ASiTConfig,
    ASiTForPreTraining,
    ASTConfig,
    ASTForAudioClassification,
    MASTConfig,
    MASTModel,
    SpectrogramFeatureExtractor,
    SSMASTConfig,
    SSMASTForPreTraining,
)
from specformers.training import pretrain_asit, pretrain_ssmast
from specformers.training.arguments import PretrainingArguments
from specformers.training.loop import clip_gradients, parameter_groups
from specformers.training.schedules import cosine_schedule, linear_warmup
from specformers.training.views import ASiTCollator

ASIT = ["--config_name", "asit-tiny", "--per_device_train_batch_size", "4", "--learning_rate", "1e-3",
        "--logging_steps", "1", "--dataloader_num_workers", "0", "--target_frames", "96"]
SSMAST = ["--config_name", "mast-tiny", "--target_frames", "96", "--per_device_train_batch_size", "4",
          "--learning_rate", "3e-4", "--logging_steps", "1", "--dataloader_num_workers", "0"]


def test_a_warmup_longer_than_the_run_stays_part_way_up():
    np.testing.assert_allclose(linear_warmup(0.04, 0.07, 3, warmup_steps=91),
                               [0.04, 0.04 + 0.03 / 90, 0.04 + 0.06 / 90])
    np.testing.assert_allclose(cosine_schedule(1.0, 0.0, 4, warmup_steps=10), [0.0, 0.1, 0.2, 0.3])
    # a warm-up shorter than the run is unchanged: up, then the cosine from the peak
    schedule = cosine_schedule(1.0, 0.0, 6, warmup_steps=2)
    np.testing.assert_allclose(schedule[:3], [0.0, 0.5, 1.0])
    assert schedule[-1] < schedule[3] < 1.0


def test_asit_defaults_warm_up_by_epochs_and_freeze_the_output_layers_first(corpus, tmp_path):
    """13 readable clips in batches of 4: 3 steps an epoch. Default warm-ups (10 epochs of learning rate, 30 of
    teacher temperature) are longer than this 3-step run; the output layers stay frozen for 2 of its steps."""
    out = tmp_path / "asit"
    run_main(pretrain_asit.main, "--dataset_name", corpus, "--output_dir", out, "--max_steps", 3, *ASIT,
             "--checkpointing_steps", 1, "--freeze_last_layer_epochs", 0.67)
    log = read_log(out)
    assert [r["teacher_temperature"] for r in log] == pytest.approx([0.04 + 0.03 * s / 89 for s in range(3)])
    assert log[-1]["learning_rate"] == pytest.approx(1e-3 * 2 / 30)
    first, second, third = (ASiTForPreTraining.from_pretrained(out / f"checkpoint-{s}") for s in (1, 2, 3))
    for a, b, frozen in ((first, second, True), (second, third, False)):
        for x, y in zip(a.projection.output_layer_parameters(), b.projection.output_layer_parameters()):
            assert torch.equal(x, y) == frozen
        assert not torch.equal(a.projection.mlp[0].weight, b.projection.mlp[0].weight)  # the rest trains


def test_gradient_clipping_per_tensor_and_global():
    AcceleratorState._reset_state(reset_partial_state=True)
    accelerator = Accelerator(cpu=True)
    model = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(4)), torch.nn.Parameter(torch.zeros(9))])
    for mode, expected in (("per_tensor", (3.0, 1.0)), ("global", (3.0 * 10 / 101**0.5, 3.0 / 101**0.5))):
        model[0].grad, model[1].grad = torch.full((4,), 5.0), torch.full((9,), 1 / 3)  # norms 10 and 1
        clip_gradients(accelerator, model, 3.0, mode)
        assert [float(p.grad.norm()) for p in model] == pytest.approx(expected, rel=1e-5)
    AcceleratorState._reset_state(reset_partial_state=True)


def test_weight_decay_groups_follow_each_model():
    def exempt(model):
        groups = parameter_groups(model, 0.04)
        names = {id(p): n for n, p in model.named_parameters()}
        assert groups[0]["weight_decay"] == 0.04 and groups[1]["weight_decay"] == 0.0
        return {names[id(p)] for p in groups[1]["params"]}, {names[id(p)] for p in groups[0]["params"]}

    # ASiT (its authors): tokens and positions decay; biases and 1-D tensors do not; the frozen teacher is left out
    no_decay, decay = exempt(ASiTForPreTraining(ASiTConfig.from_preset("asit-tiny")))
    assert {"vit.embeddings.prefix_tokens", "vit.embeddings.position_embeddings"} <= decay
    assert "vit.encoder.layers.0.attention.qkv.bias" in no_decay and "vit.layernorm.weight" in no_decay
    assert not any(name.startswith("teacher_") for name in no_decay | decay)
    # AST (timm's DeiT recipe) exempts its tokens and positions; MAST (timm's MViTv2) its relative positions
    no_decay, decay = exempt(ASTForAudioClassification(ASTConfig.from_preset("ast-tiny", num_labels=3)))
    assert {"vit.embeddings.prefix_tokens", "vit.embeddings.position_embeddings"} <= no_decay
    assert "vit.encoder.layers.0.attention.qkv.weight" in decay
    no_decay, decay = exempt(MASTModel(MASTConfig.from_preset("mast-tiny", use_cls_token=True)))
    assert {"encoder.stages.0.layers.0.attention.rel_pos_time", "embeddings.cls_token"} <= no_decay
    # a wrapper keeps its encoder's choice
    ssmast = SSMASTForPreTraining(SSMASTConfig(backbone_config=ASTConfig.from_preset("ast-tiny")))
    assert "backbone.embeddings.position_embeddings" in exempt(ssmast)[0]


def test_asit_stochastic_depth_is_the_students_only():
    assert ASiTConfig.from_preset("asit-base").drop_path_rate == ASiTConfig.from_preset("asit-small").drop_path_rate \
        == 0.1
    model = ASiTForPreTraining(ASiTConfig.from_preset("asit-tiny", drop_path_rate=0.5)).train()
    inputs = torch.randn(4, 96, 128)
    assert model.teacher_vit.training is False  # the EMA teacher stays in eval mode
    torch.testing.assert_close(model.teacher_vit(inputs)[0], model.teacher_vit(inputs)[0], rtol=0, atol=0)
    assert not torch.equal(model.vit(inputs)[0], model.vit(inputs)[0])


def test_asit_rolls_the_waveform_before_cropping():
    extractor = SpectrogramFeatureExtractor.from_preset("speech_commands", target_frames=96)
    config = ASiTConfig.from_preset("asit-tiny")
    audio = noisy_tone(extractor.window_samples, seed=3)  # one window long: each crop is the whole clip
    collator = ASiTCollator(extractor, config, "audio", seed=0, roll_probability=1.0)
    views = collator([(5, {"audio": {"array": audio, "sampling_rate": 16000}})])["clean_views"][0]
    rng = collator.rng(5)
    rng.random()
    rolled = np.roll(audio, int(rng.integers(len(audio))))
    expected = extractor(rolled, sampling_rate=16000, return_tensors="pt")["input_values"][0]
    torch.testing.assert_close(views[0], expected)
    torch.testing.assert_close(views[1], expected)  # both crops come from the one rolled clip


def test_unset_optimisation_arguments_take_the_scripts_recipe():
    args = PretrainingArguments(output_dir="x", weight_decay=0.05).with_recipe(**pretrain_ssmast.RECIPE)
    assert (args.optimizer, args.lr_scheduler_type, args.max_grad_norm) == ("sgd", "constant", 0.0)
    assert args.weight_decay == args.weight_decay_end == 0.05  # given: kept; its end: constant
    asit = PretrainingArguments(output_dir="x").with_recipe(**pretrain_asit.RECIPE)
    assert (asit.optimizer, asit.clip_grad_mode, asit.weight_decay, asit.weight_decay_end) == (
        "adamw", "per_tensor", 0.04, 0.4)
    with pytest.raises(ValueError, match="--clip_grad_mode must be one of"):
        PretrainingArguments(output_dir="x", clip_grad_mode="layer").with_recipe(**pretrain_asit.RECIPE)


def test_ssmast_authors_recipe_and_the_other_settings(corpus, tmp_path):
    out = tmp_path / "authors"
    run_main(pretrain_ssmast.main, "--dataset_name", corpus, "--output_dir", out, "--max_steps", 3, *SSMAST)
    log = read_log(out)
    assert [r["teacher_momentum"] for r in log] == [0.999] * 3
    assert [r["learning_rate"] for r in log] == [3e-4] * 3  # constant: no warm-up, no decay
    other = tmp_path / "other"
    run_main(pretrain_ssmast.main, "--dataset_name", corpus, "--output_dir", other, "--max_steps", 3, *SSMAST,
             "--teacher_momentum", 0.99, "--teacher_momentum_schedule", "cosine", "--optimizer", "adamw",
             "--lr_scheduler_type", "cosine", "--config_overrides", "mixup_position=after_crop")
    log = read_log(other)
    momenta = [r["teacher_momentum"] for r in log]
    assert momenta[0] == pytest.approx(0.99) and momenta[0] < momenta[1] < momenta[2] < 1
    assert SSMASTForPreTraining.from_pretrained(other / "checkpoint-3").config.mixup_position == "after_crop"
    assert all(np.isfinite(r["loss"]) for r in log)


def test_mast_presets_with_the_authors_stem():
    for name in ("mast-small-ast-stem", "mast-base-ast-stem", "mast-tiny-ast-stem"):
        config = MASTConfig.from_preset(name)
        assert (config.patch_kernel_size, config.patch_stride, config.patch_padding) == ((16, 16), (10, 10), (0, 0))
        assert config.patch_grid_for(1024) == (12, 101)
    assert MASTConfig.from_preset("mast-base-ast-stem").depths == MASTConfig.from_preset("mast-base").depths
    model = MASTModel(MASTConfig.from_preset("mast-tiny-ast-stem")).eval()
    assert model(torch.randn(2, 96, 128)).pooler_output.shape == (2, model.config.hidden_size)
