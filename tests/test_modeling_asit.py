import math

import numpy as np
import pytest
import torch
from model_tester import ModelTesterMixin, assert_invalid
from transformers import AutoModelForPreTraining

from specformers import ASiTConfig, ASiTForAudioClassification, ASiTForPreTraining, ASiTModel
from specformers.families import family
from specformers.modeling.pretraining_asit import ASiTLoss, draw_rectangles, gmml_corrupt


class TestASiT(ModelTesterMixin):
    family = family("asit")
    frames = 96

    def expected_hidden_shapes(self, config, batch, frames):
        return [(batch, 1 + 8 * ((frames - 16) // 16 + 1), config.hidden_size)] * (config.num_hidden_layers + 1)


def tiny_config(**overrides):
    return ASiTConfig.from_preset("asit-tiny", **overrides)


# ---------------------------------------------------------------- configuration and layout


def test_asit_base_layout(tmp_path):
    config = ASiTConfig.from_preset("asit-base")
    assert config.patch_grid == (8, 37) and config.num_prefix_tokens == 1  # 296 patches of a 592-frame input
    assert (config.token_order, config.position_resize, config.patch_stride) == ("time_major", "bicubic", (16, 16))
    small = ASiTConfig.from_preset("asit-small")
    assert (small.hidden_size, small.num_attention_heads) == (384, 6)
    assert_invalid(ASiTConfig(patch_stride=(10, 10)), ASiTModel, "patch_stride must be \\(16, 16\\)", tmp_path)
    assert_invalid(ASiTConfig(local_loss_tokens="some"), ASiTForPreTraining, "local_loss_tokens", tmp_path)
    assert_invalid(ASiTConfig(gmml_min_coverage=0.8, gmml_max_coverage=0.6), ASiTForPreTraining, "gmml_min_coverage",
                   tmp_path)


def test_tokens_are_time_major():
    model = ASiTModel(tiny_config()).eval()
    with torch.no_grad():
        model.embeddings.position_embeddings.zero_()
        model.embeddings.patch_embeddings.bias.zero_()
    spectrogram = torch.zeros(1, 96, 128)
    spectrogram[0, 3 * 16 + 5, 2 * 16 + 7] = 1.0  # a pixel in time patch 3, frequency patch 2
    tokens, grid = model.embeddings(spectrogram)
    nonzero = tokens[0, 1:].abs().sum(-1).nonzero().flatten().tolist()
    assert grid == (8, 6) and nonzero == [3 * 8 + 2]


# ---------------------------------------------------------------- GMML corruption


def test_rectangles_reach_the_coverage_and_stay_within_bounds():
    rng = np.random.default_rng(0)
    mask = np.zeros((592, 128), dtype=bool)
    draw_rectangles(mask, 0.6, 0.3, rng)
    assert 0.6 <= mask.mean() < 0.6 + 0.3 * 0.3 + 1e-9  # stops at the first block over the target


def test_gmml_corruption_zeroes_or_copies_within_the_mask():
    config = tiny_config(gmml_alien_probability=0.5)
    spectrograms = torch.randn(16, 96, 128) + 5.0  # no natural zeros
    corrupted, mask = gmml_corrupt(spectrograms, config, np.random.default_rng(1))
    assert corrupted.shape == mask.shape == spectrograms.shape and mask.dtype == torch.bool
    torch.testing.assert_close(corrupted[~mask], spectrograms[~mask])  # untouched outside the mask
    coverage = mask.float().mean(dim=(1, 2))
    zeroed = torch.stack([(corrupted[i][mask[i]] == 0).all() for i in range(16)])
    assert zeroed.any() and (~zeroed).any()  # both kinds happened
    assert torch.all((coverage[zeroed] >= 0.5) & (coverage[zeroed] < 0.7 + 0.09))
    assert torch.all((coverage[~zeroed] >= 0.3) & (coverage[~zeroed] < 0.3 + 0.09))
    for i in torch.nonzero(~zeroed).flatten().tolist():  # alien pixels come from one other clip
        copied = corrupted[i][mask[i]]
        assert any(torch.equal(copied, spectrograms[j][mask[i]]) for j in range(16) if j != i)
    # pixel-level, not aligned to the 16 x 16 patches: some patch is only partly corrupted
    share = torch.nn.functional.avg_pool2d(mask.float()[:, None], 16)
    assert ((share > 0) & (share < 1)).any()
    again, again_mask = gmml_corrupt(spectrograms, config, np.random.default_rng(1))
    assert torch.equal(again, corrupted) and torch.equal(again_mask, mask)  # seeded: reproducible


# ---------------------------------------------------------------- loss


def test_loss_equals_a_hand_computed_value():
    config = tiny_config(global_output_size=2, local_output_size=2, student_temperature=0.5, center_momentum=0.9,
                         global_loss_weight=1.0, local_loss_weight=1.0, reconstruction_loss_weight=2.0)
    loss = ASiTLoss(config)
    loss.global_center.copy_(torch.tensor([0.2, 0.0]))
    # one clip, two views; teacher temperature 1 keeps the arithmetic small
    student_global = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    teacher_global = torch.tensor([[[0.2, 1.0]], [[1.2, 0.0]]])
    student_local = torch.tensor([[[[0.5, 0.0]]], [[[0.0, 0.0]]]])  # one patch token per view
    teacher_local = torch.tensor([[[[math.log(3.0), 0.0]]], [[[0.0, 0.0]]]])
    reconstruction = torch.tensor([1.0, 2.0, 3.0, 4.0]).reshape(2, 1, 1, 2)
    target = torch.zeros(2, 1, 1, 2)
    pixel_mask = torch.tensor([True, False, True, True]).reshape(2, 1, 1, 2)
    out = loss(student_global, teacher_global, student_local, teacher_local, torch.ones(2, 1, 1), reconstruction,
               target, pixel_mask, teacher_temperature=1.0)

    def softmax(a, b):
        return math.exp(a) / (math.exp(a) + math.exp(b)), math.exp(b) / (math.exp(a) + math.exp(b))

    def log_softmax(a, b):
        return tuple(math.log(p) for p in softmax(a, b))

    # teacher: centred (-0.2 on class 0); view 0 -> (0, 1), view 1 -> (1, 0)
    t0, t1 = softmax(0.0, 1.0), softmax(1.0, 0.0)
    s0, s1 = log_softmax(2.0, 0.0), log_softmax(0.0, 2.0)  # student / 0.5
    expected_global = (-(t1[0] * s0[0] + t1[1] * s0[1]) - (t0[0] * s1[0] + t0[1] * s1[1])) / 2
    l0, l1 = softmax(math.log(3.0), 0.0), softmax(0.0, 0.0)  # local: (0.75, 0.25) and (0.5, 0.5)
    ls0, ls1 = log_softmax(1.0, 0.0), log_softmax(0.0, 0.0)
    expected_local = (-(l0[0] * ls0[0] + l0[1] * ls0[1]) - (l1[0] * ls1[0] + l1[1] * ls1[1])) / 2
    expected_reconstruction = (1.0 + 3.0 + 4.0) / 3  # L1 over the three corrupted pixels
    assert out["global"].item() == pytest.approx(expected_global, abs=1e-6)
    assert out["local"].item() == pytest.approx(expected_local, abs=1e-6)
    assert out["reconstruction"].item() == pytest.approx(expected_reconstruction, abs=1e-6)
    assert out["loss"].item() == pytest.approx(expected_global + expected_local + 2 * expected_reconstruction,
                                               abs=1e-6)
    # centres move 10 % towards the teacher's batch means
    torch.testing.assert_close(loss.global_center, 0.9 * torch.tensor([0.2, 0.0]) + 0.1 * torch.tensor([0.7, 0.5]))
    torch.testing.assert_close(loss.local_center, 0.1 * torch.tensor([math.log(3.0) / 2, 0.0]))


def test_only_corrupted_tokens_count_when_configured():
    model = ASiTForPreTraining(tiny_config(local_loss_tokens="corrupted")).eval()
    clean = torch.randn(2, 2, 96, 128)
    mask = torch.zeros(2, 2, 96, 128, dtype=torch.bool)
    mask[:, :, :16, :16] = True  # exactly the first patch of each view
    seen = {}
    original = model.objective.forward

    def spy(*args, **kwargs):
        seen["weights"] = args[4]
        return original(*args, **kwargs)

    model.objective.forward = spy
    model(clean, clean.masked_fill(mask, 0.0), mask)
    weights = seen["weights"]
    assert weights.shape == (2, 2, 48) and weights.sum() == 4 and torch.all(weights[..., 0] == 1)


# ---------------------------------------------------------------- student, teacher and EMA


def test_pretraining_forward_backward_and_teacher():
    config = tiny_config()
    model = ASiTForPreTraining(config).train()
    for ours, theirs in zip(*model.student_and_teacher_parameters()):
        assert torch.equal(ours, theirs) and not theirs.requires_grad  # teacher starts as a frozen copy
    assert not model.teacher_vit.training and not model.teacher_projection.training
    clean = torch.randn(3, 2, 96, 128)
    corrupted, masks = zip(*(gmml_corrupt(clean[:, v], config, np.random.default_rng(v)) for v in range(2)))
    out = model(clean, torch.stack(corrupted, 1), torch.stack(masks, 1), teacher_temperature=0.04)
    assert out.reconstruction.shape == clean.shape
    for term in (out.global_loss, out.local_loss, out.reconstruction_loss):
        assert term.ndim == 0 and torch.isfinite(term) and term > 0
    out.loss.backward()
    student, teacher = model.student_and_teacher_parameters()
    assert all(p.grad is not None for p in student) and all(p.grad is None for p in teacher)
    assert model.reconstruction.to_pixels.weight.grad is not None

    before = [t.clone() for t in teacher]
    with torch.no_grad():
        for p in student:
            p.add_(1.0)
    model.update_teacher(0.9)
    for old, new, s in zip(before, teacher, student):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * s)


def test_pretraining_model_saves_and_exports_the_teacher(tmp_path):
    model = ASiTForPreTraining(tiny_config())
    with torch.no_grad():
        model.update_teacher(0.0)  # teacher = student, then move the student away
        for p in model.vit.parameters():
            p.add_(0.5)
    model.save_pretrained(tmp_path / "pretraining")
    loaded = AutoModelForPreTraining.from_pretrained(tmp_path / "pretraining")
    assert type(loaded) is ASiTForPreTraining
    for a, b in zip(loaded.state_dict().values(), model.state_dict().values()):
        torch.testing.assert_close(a, b)
    model.teacher_vit.save_pretrained(tmp_path / "encoder")
    classifier = ASiTForAudioClassification.from_pretrained(tmp_path / "encoder", num_labels=4).eval()
    inputs = torch.randn(2, 96, 128)
    torch.testing.assert_close(classifier.vit(inputs).last_hidden_state,
                               model.teacher_vit.eval()(inputs).last_hidden_state)


def test_reconstruction_head_equals_its_transposed_convolution():
    from specformers.modeling.pretraining_asit import ASiTReconstructionHead
    from specformers.modeling.spectrogram_vit import tokens_to_grid

    for order in ("time_major", "frequency_major"):
        head = ASiTReconstructionHead(tiny_config(token_order=order))
        torch.nn.init.normal_(head.to_pixels.bias)
        tokens = torch.randn(2, 48, 64)
        expected = head.to_pixels(tokens_to_grid(head.mlp(tokens), (8, 6), order))[:, 0].transpose(1, 2)
        torch.testing.assert_close(head(tokens, (8, 6)), expected)
