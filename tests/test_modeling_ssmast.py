import math

import pytest
import torch
from model_tester import assert_invalid
from transformers import AutoModelForPreTraining

from specformers import (
    ASTConfig,
    ASTForAudioClassification,
    ASTModel,
    MASTConfig,
    MASTModel,
    SSMASTConfig,
    SSMASTForPreTraining,
)
from specformers.modeling.pretraining_ssmast import info_nce


def test_info_nce_by_hand():
    queries = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    keys = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    loss = info_nce(queries, keys, torch.tensor([0, 1]), temperature=0.5)
    # query 0: logits (2, 1.2), positive 0; query 1: logits (0, 1.6), positive 1
    expected = (-math.log(math.exp(2) / (math.exp(2) + math.exp(1.2)))
                - math.log(math.exp(1.6) / (1 + math.exp(1.6)))) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("backbone, encoder_class", [(MASTConfig.from_preset("mast-tiny"), MASTModel),
                                                     (ASTConfig.from_preset("ast-tiny"), ASTModel)])
def test_symmetric_loss_from_the_embeddings(backbone, encoder_class):
    model = SSMASTForPreTraining(SSMASTConfig(backbone_config=backbone, patch_drop_rate=0.0)).train()
    assert type(model.backbone) is encoder_class and model.projection.out_features == 256
    views = torch.randn(3, 2, 128, 128)
    out = model(views)
    student = torch.stack([model.embed(views[:, v], teacher=False) for v in range(2)])
    teacher = torch.stack([model.embed(views[:, v], teacher=True) for v in range(2)])
    torch.testing.assert_close(student.norm(dim=-1), torch.ones(2, 3))
    targets = torch.arange(3)
    expected = info_nce(student[0], teacher[1], targets, 0.07) + info_nce(student[1], teacher[0], targets, 0.07)
    torch.testing.assert_close(out.loss, expected)
    torch.testing.assert_close(out.positive_similarity,
                               ((student[0] * teacher[1]).sum(-1) + (student[1] * teacher[0]).sum(-1)).mean() / 2)
    torch.testing.assert_close(out.embedding_std, student.flatten(0, 1).std(0).mean())


def test_teacher_gets_no_gradient_and_follows_by_ema():
    model = SSMASTForPreTraining(SSMASTConfig(backbone_config=MASTConfig.from_preset("mast-tiny"))).train()
    assert not model.teacher_backbone.training
    model(torch.randn(2, 2, 128, 128)).loss.backward()
    student, teacher = model.student_and_teacher_parameters()
    assert all(p.grad is not None for p in student) and all(p.grad is None and not p.requires_grad for p in teacher)
    before = [t.clone() for t in teacher]
    with torch.no_grad():
        for p in student:
            p.mul_(2.0)
    model.update_teacher(0.99)
    for old, new, s in zip(before, teacher, student):
        torch.testing.assert_close(new, 0.99 * old + 0.01 * s)


def test_patch_drop_reaches_the_student_only():
    model = SSMASTForPreTraining(SSMASTConfig(backbone_config=MASTConfig.from_preset("mast-tiny"),
                                              patch_drop_rate=0.5)).train()
    views = torch.randn(2, 128, 128)
    torch.manual_seed(0)
    dropped = model.embed(views, teacher=False)
    model.config.patch_drop_rate = 0.0
    torch.manual_seed(0)
    assert not torch.allclose(dropped, model.embed(views, teacher=False))
    torch.manual_seed(1)
    teacher_a = model.embed(views, teacher=True)
    torch.manual_seed(2)
    torch.testing.assert_close(model.embed(views, teacher=True), teacher_a)  # no randomness in the teacher


def test_ast_patch_drop_zeroes_patch_content_but_keeps_positions():
    model = ASTModel(ASTConfig.from_preset("ast-tiny")).train()
    tokens, _ = model.embeddings(torch.randn(1, 128, 128), patch_drop_rate=0.25)
    patches = tokens[0, 2:] - model.embeddings.position_embeddings[0, 2:]
    dropped = (patches.abs().sum(-1) < 1e-6).sum().item()
    assert dropped == round(0.25 * patches.shape[0])


def test_saves_loads_and_exports_the_encoder(tmp_path):
    model = SSMASTForPreTraining(SSMASTConfig(backbone_config=ASTConfig.from_preset("ast-tiny", target_frames=96)))
    model.save_pretrained(tmp_path / "pretraining")
    loaded = AutoModelForPreTraining.from_pretrained(tmp_path / "pretraining")
    assert type(loaded) is SSMASTForPreTraining and type(loaded.backbone) is ASTModel
    assert loaded.config.backbone.target_frames == 96
    for a, b in zip(loaded.state_dict().values(), model.state_dict().values()):
        torch.testing.assert_close(a, b)
    model.backbone.save_pretrained(tmp_path / "encoder")
    classifier = ASTForAudioClassification.from_pretrained(tmp_path / "encoder", num_labels=3).eval()
    inputs = torch.randn(2, 96, 128)
    torch.testing.assert_close(classifier.vit(inputs).pooler_output, model.backbone.eval()(inputs).pooler_output)


def test_bad_configs(tmp_path):
    assert_invalid(SSMASTConfig(contrastive_temperature=0.0), SSMASTForPreTraining,
                   "contrastive_temperature must be positive", tmp_path)
    assert_invalid(SSMASTConfig(patch_drop_rate=1.0), SSMASTForPreTraining, "patch_drop_rate", tmp_path)
    config = SSMASTConfig()
    assert isinstance(config.backbone, MASTConfig) and config.backbone.depths == (1, 2, 11, 2)
