"""train_classifier's protocol options: --freeze_encoder (linear probe), --layer_decay, --balanced_sampling and
--drop_path_rate, on the parts and end to end."""

import collections

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from safetensors.torch import load_file
from test_train_classifier import SCRATCH, TINY, classify, tones  # noqa: F401 (`tones`: a fixture)
from torch.utils.data import DataLoader
from training_helpers import run_main
from transformers import AutoModelForAudioClassification

from specformers import (
    ASiTConfig,
    ASiTModel,
    ASTConfig,
    ASTForAudioClassification,
    MASTConfig,
    MASTForAudioClassification,
    MASTModel,
)
from specformers.training import train_classifier
from specformers.training.fine_tuning import (
    BalancedSampler,
    freeze_encoder,
    label_balanced_weights,
    layer_decay_groups,
    layer_depths,
)


def test_layer_depths_follow_the_blocks_of_a_vit_and_of_mast_stages():
    vit = ASTForAudioClassification(ASTConfig.from_preset("ast-tiny", target_frames=48, num_labels=2))
    depths = layer_depths(vit)
    layers = vit.config.num_hidden_layers
    assert depths["vit.embeddings.patch_embeddings.weight"] == depths["vit.embeddings.position_embeddings"] == 0
    assert depths["vit.encoder.layers.0.attention.qkv.weight"] == 1
    assert depths[f"vit.encoder.layers.{layers - 1}.mlp.fc2.bias"] == layers
    assert depths["vit.layernorm.weight"] == depths["classifier.dense.weight"] == layers + 1

    mast = MASTForAudioClassification(MASTConfig.from_preset("mast-tiny", target_frames=48, num_labels=2))
    depths = layer_depths(mast)
    blocks = sum(mast.config.depths)
    assert depths["mast.embeddings.projection.weight"] == 0
    assert depths["mast.encoder.stages.0.layers.0.attention.qkv.weight"] == 1
    first_of_last_stage = sum(mast.config.depths[:-1]) + 1
    assert depths[f"mast.encoder.stages.{len(mast.config.depths) - 1}.layers.0.mlp.fc1.weight"] == first_of_last_stage
    assert depths["classifier.weight"] == blocks + 1
    assert max(depths.values()) == blocks + 1


def test_layer_decay_groups_scale_the_learning_rate_per_depth():
    model = ASTForAudioClassification(ASTConfig.from_preset("ast-tiny", target_frames=48, num_labels=2))
    layers = model.config.num_hidden_layers
    decay_names = {n for n, p in model.named_parameters() if p.ndim > 1}
    groups = layer_decay_groups(model, 1e-3, 0.5, 0.05, decay_names)
    rates = collections.defaultdict(set)
    for group in groups:
        rates[group["depth"]].add(group["lr"])
        assert group["weight_decay"] == (0.05 if all(p.ndim > 1 for p in group["params"]) else 0.0)
    assert {depth: rate for depth, (rate,) in rates.items()} == pytest.approx(
        {depth: 1e-3 * 0.5 ** (layers + 1 - depth) for depth in range(layers + 2)})
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_frozen_encoder_gets_no_gradient_and_stays_in_eval_mode():
    config = ASTConfig.from_preset("ast-tiny", target_frames=48, num_labels=2, drop_path_rate=0.5,
                                   hidden_dropout_prob=0.3)
    model = ASTForAudioClassification(config)
    freeze_encoder(model)
    model.train()
    inputs = torch.randn(3, 48, config.num_mel_bins)
    first, second = model(inputs).logits, model(inputs).logits
    torch.testing.assert_close(first, second)  # no dropout, no stochastic depth in the encoder
    assert not model.vit.training and model.classifier.training
    first.sum().backward()
    assert all(p.grad is None for p in model.vit.parameters())
    assert model.classifier.dense.weight.grad is not None


def test_balanced_weights_are_ast_s_label_frequency_weights():
    targets = np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 0, 0]], dtype=np.float32)
    weights = label_balanced_weights(targets)  # counts 4, 1, 1
    np.testing.assert_allclose(weights, [0.25, 0.25, 0.25, 1.0, 1.25, 0.25])


def test_balanced_sampler_balances_classes_and_follows_the_epoch_through_accelerate():
    labels = np.array([0] * 90 + [1] * 10)
    weights = label_balanced_weights(np.eye(2, dtype=np.float32)[labels])
    sampler = BalancedSampler(weights, seed=3)
    loader = Accelerator(cpu=True).prepare(DataLoader(list(range(100)), sampler=sampler, batch_size=10))
    drawn = {}
    for epoch in (0, 1):
        loader.set_epoch(epoch)
        drawn[epoch] = torch.cat(list(loader)).tolist()
    assert drawn[0] != drawn[1] and len(drawn[0]) == 100
    sampler.set_epoch(0)
    assert list(sampler) == drawn[0]  # the draws depend on (seed, epoch) only: resumable, the same on every process
    share = np.mean(labels[drawn[0] + drawn[1]] == 1)
    assert 0.35 < share < 0.65  # 10 % of the clips, half of the draws


def test_linear_probe_end_to_end_leaves_the_encoder_as_loaded(tones, tmp_path):  # noqa: F811
    encoder = tmp_path / "encoder"
    ASiTModel(ASiTConfig.from_preset("asit-tiny", target_frames=48)).save_pretrained(encoder)
    out = tmp_path / "probe"
    classify("--dataset_name", tones, "--output_dir", out, "--model_name_or_path", encoder, "--do_train",
             "--max_steps", 3, "--freeze_encoder", "--drop_path_rate", 0.2)
    before, after = load_file(encoder / "model.safetensors"), load_file(out / "model.safetensors")
    assert set(before) == {name.removeprefix("vit.") for name in after if name.startswith("vit.")}
    for name, tensor in before.items():
        assert torch.equal(after[f"vit.{name}"], tensor), name
    model = AutoModelForAudioClassification.from_pretrained(out)
    assert model.config.drop_path_rate == 0.2
    assert "freeze_encoder" in (out / "README.md").read_text()


def test_layer_decay_and_balanced_sampling_end_to_end(tones, tmp_path):  # noqa: F811
    out = tmp_path / "decay"
    run_main(train_classifier.main, "--dataset_name", tones, "--output_dir", out, *SCRATCH["mast"], "--do_train",
             "--max_steps", 2, "--layer_decay", 0.5, "--balanced_sampling", *TINY, "--save_strategy", "steps",
             "--save_steps", 2)  # after TINY's --save_strategy no
    state = torch.load(out / "checkpoint-2" / "optimizer.pt", weights_only=True)
    rates = sorted({group["initial_lr"] for group in state["param_groups"]})
    blocks = sum(MASTConfig.from_preset("mast-tiny").depths)
    expected = sorted({3e-3 * 0.5 ** (blocks + 1 - depth) for depth in range(blocks + 2)})
    np.testing.assert_allclose(rates, expected)


def test_probe_on_embeddings_trains_the_head_that_evaluation_then_scores_alike(tones, tmp_path):  # noqa: F811
    encoder = tmp_path / "encoder"
    MASTModel(MASTConfig.from_preset("mast-tiny", target_frames=48)).save_pretrained(encoder)
    probe = tmp_path / "probe"
    metrics = classify("--dataset_name", tones, "--output_dir", probe, "--model_name_or_path", encoder,
                       "--do_train", "--do_eval", "--max_steps", 20, "--freeze_encoder", "--probe_on_embeddings",
                       "--balanced_sampling", "--learning_rate", 0.05)
    before, after = load_file(encoder / "model.safetensors"), load_file(probe / "model.safetensors")
    assert all(torch.equal(after[f"mast.{name}"], tensor) for name, tensor in before.items())
    assert metrics["train_skipped_clips"] == 1  # broken.wav, left out when embedding
    # the saved classifier, scored the usual way (clip by clip through the encoder), gets the probe's scores
    rescored = classify("--model_name_or_path", probe, "--dataset_name", tones, "--output_dir", tmp_path / "again",
                        "--do_eval")
    assert rescored["eval_accuracy"] == metrics["eval_accuracy"] > 1 / 3
    assert rescored["eval_loss"] == pytest.approx(metrics["eval_loss"], rel=1e-4)


def test_bad_protocol_options_are_refused(tones, tmp_path):  # noqa: F811
    def refused(match, *flags):
        with pytest.raises(ValueError, match=match):
            classify("--dataset_name", tones, "--output_dir", tmp_path / "x", *SCRATCH["ast"], "--do_train",
                     "--max_steps", 1, *flags)
    refused("--freeze_encoder", "--probe_on_embeddings")
    refused("remove --mixup", "--freeze_encoder", "--probe_on_embeddings", "--mixup", 0.5)
    refused("only the head trains", "--freeze_encoder", "--layer_decay", 0.75)


def test_balanced_sampling_on_a_stream_and_a_bad_decay_are_refused(tones, tmp_path):  # noqa: F811
    with pytest.raises(ValueError, match="interleave_datasets"):
        classify("--dataset_name", tones, "--output_dir", tmp_path / "s", *SCRATCH["ast"], "--do_train",
                 "--max_steps", 1, "--streaming", "--balanced_sampling")
    with pytest.raises(ValueError, match="--layer_decay"):
        classify("--dataset_name", tones, "--output_dir", tmp_path / "d", *SCRATCH["ast"], "--do_train",
                 "--max_steps", 1, "--layer_decay", 1.5)
