import os
import sys

import pytest
import torch
from model_tester import ModelTesterMixin, assert_invalid
from safetensors.torch import load_file

from specformers import ASTModel, MASTConfig, MASTForAudioClassification, MASTModel
from specformers.families import family
from specformers.modeling.layers import drop_patches
from specformers.modeling.modeling_mast import (
    fit_relative_table,
    relative_position_index,
    table_zero_row,
    zero_distance_row,
)

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "mvitv2_tiny.safetensors")


class TestMAST(ModelTesterMixin):
    family = family("mast")
    frames = 128

    def expected_hidden_shapes(self, config, batch, frames):
        # 128 x 128 -> patches 32 x 32 -> stages 32 x 32, 16 x 16, 8 x 8, 4 x 4 at widths 32, 64, 128, 256
        return [(batch, 1024, 32), (batch, 1024, 32), (batch, 256, 64), (batch, 64, 128), (batch, 16, 256)]

    def test_grid_sizes_travel_with_the_hidden_states(self):
        model = MASTModel(self.make_config()).eval()
        out = model(self.make_inputs(frames=100), output_hidden_states=True)
        # 100 frames: time 25 -> 25 -> 13 -> 7 -> 4 (pooling rounds up)
        assert out.grid_sizes == ((32, 25), (32, 25), (16, 13), (8, 7), (4, 4))
        for states, (freq, time) in zip(out.hidden_states, out.grid_sizes):
            assert states.shape[1] == freq * time
        assert model(self.make_inputs()).grid_sizes == ((4, 4),)


# ---------------------------------------------------------------- configuration


def test_presets_follow_the_paper():
    small, base = MASTConfig.from_preset("mast-small"), MASTConfig.from_preset("mast-base")
    assert small.depths == (1, 2, 11, 2) and base.depths == (2, 3, 16, 3)
    assert (small.drop_path_rate, base.drop_path_rate) == (0.1, 0.3)
    assert [small.stage_dim(i) for i in range(4)] == [96, 192, 384, 768]
    assert [small.stage_heads(i) for i in range(4)] == [1, 2, 4, 8]
    assert small.stage_kv_strides() == [4, 2, 1, 1]
    assert small.stage_grids() == [(32, 256), (16, 128), (8, 64), (4, 32)]  # the paper's grids, 128 x 1024
    assert 33e6 < sum(p.numel() for p in MASTModel(small).parameters()) < 35e6  # the paper's 34 M
    authors_stem = MASTConfig(patch_kernel_size=16, patch_stride=10, patch_padding=0)
    assert authors_stem.patch_grid_for(1024) == (12, 101)


def test_the_authors_patch_stem_runs():
    config = MASTConfig.from_preset("mast-tiny", patch_kernel_size=16, patch_stride=10, patch_padding=0, num_labels=2)
    out = MASTForAudioClassification(config).eval()(torch.randn(2, 128, 128), output_hidden_states=True)
    assert out.logits.shape == (2, 2)
    assert [tuple(h.shape[1:]) for h in out.hidden_states] == [(144, 32), (144, 32), (36, 64), (9, 128), (4, 256)]


def test_config_overrides_with_tuples_round_trip(tmp_path):
    config = MASTConfig(embed_dim=32, depths=[1, 1, 1, 1], num_heads=1, patch_stride=(4, 2))
    config.save_pretrained(tmp_path)
    loaded = MASTConfig.from_pretrained(tmp_path)
    assert loaded.depths == (1, 1, 1, 1) and loaded.patch_stride == (4, 2) and loaded.hidden_size == 256


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"depths": (1, 2, 11)}, "q_stride has 4 entries but depths has 3 stages"),
        ({"depths": (1, 0, 1, 1)}, "depths must be positive"),
        ({"pool_kernel_size": 9, "num_mel_bins": 32}, "pool_kernel_size=9 is larger than the 8 x 256 patch grid"),
        ({"pool_kernel_size": 4}, "pool_kernel_size must be odd"),
        ({"patch_kernel_size": 64, "patch_padding": 0, "num_mel_bins": 32}, "patch_kernel_size=64 is larger than "
                                                                            "num_mel_bins=32"),
        ({"embed_dim": 96, "num_heads": 5}, "embed_dim=96 must be divisible by num_heads=5"),
        ({"kv_stride": 0}, "strides must be >= 1"),
    ],
)
def test_bad_configs_are_refused_where_transformers_validates(overrides, message, tmp_path):
    assert_invalid(MASTConfig(**overrides), MASTModel, message, tmp_path)
    with pytest.raises(ValueError, match=message):
        MASTConfig.from_preset("mast-small", **overrides)


# ---------------------------------------------------------------- pooling attention pieces


def test_relative_position_index_by_hand():
    # 4 queries over 2 keys pooled by 2: key spacing is stretched to 2 query steps; distance 0 sits at row 2
    assert relative_position_index(4, 2, torch.device("cpu")).tolist() == [[2, 0], [3, 1], [4, 2], [5, 3]]
    assert relative_position_index(3, 3, torch.device("cpu")).tolist() == [[2, 1, 0], [3, 2, 1], [4, 3, 2]]
    assert (zero_distance_row(4, 2), zero_distance_row(3, 3), zero_distance_row(2, 4)) == (2, 2, 3)
    # a table's row of distance 0 follows from its length and the block's pooling strides
    assert table_zero_row(2 * 32 - 1, q_stride=1, kv_stride=4) == zero_distance_row(32, 8) == 28
    assert table_zero_row(2 * 32 - 1, q_stride=2, kv_stride=1) == zero_distance_row(16, 32) == 31


@pytest.mark.parametrize("configured, run, strides", [
    ((32, 8), (8, 2), (1, 4)),  # keys pooled by 4 (q > k), shorter than configured
    ((16, 16), (5, 5), (1, 1)),  # q = k, shorter
    ((16, 32), (4, 8), (2, 1)),  # queries pooled by 2 (q < k), shorter
    ((12, 3), (12, 3), (1, 4)),  # as configured
    ((8, 2), (32, 8), (1, 4)),  # q > k, longer than configured
    ((5, 5), (16, 16), (1, 1)),  # q = k, longer
    ((4, 8), (16, 32), (2, 1)),  # q < k, longer
])
def test_every_pair_reads_the_row_of_its_distance(configured, run, strides):
    """A table whose row holds the distance it stands for, read through the run-time index: on a shorter grid (or
    the configured one) every (query, key) pair reads its own distance; on a longer one the table is stretched
    about distance 0, so a pair reads its distance times the stretch (where that lies inside the table)."""
    (q_table, k_table), (q, k) = configured, run
    rows = 2 * max(q_table, k_table) - 1
    table = (torch.arange(rows, dtype=torch.float64) - zero_distance_row(q_table, k_table))[:, None]
    length = 2 * max(q, k) - 1
    read = fit_relative_table(table, length, *strides)[relative_position_index(q, k, torch.device("cpu"))][..., 0]
    distance = (torch.arange(q)[:, None] * max(k / q, 1.0) - torch.arange(k)[None, :] * max(q / k, 1.0)).double()
    assert read[distance == 0].eq(0).all() and (distance == 0).any()
    if length <= rows:
        torch.testing.assert_close(read, distance.floor(), rtol=0, atol=0)
    else:
        expected = distance.floor() * rows / length
        inside = (expected >= table.min()) & (expected <= table.max())
        assert inside.float().mean() > 0.8
        torch.testing.assert_close(read[inside], expected[inside], rtol=0, atol=1e-12)


def randomised_tables(model):
    """Relative-position tables far from their near-zero initialisation, so that every row read matters."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "rel_pos" in name:
                parameter.normal_(0, 0.5)
    return model


def test_a_shorter_input_reads_the_centre_rows_of_the_tables():
    """The papers' protocol: configured (pretrained) for 1024 frames, run on 96."""
    torch.manual_seed(0)
    long = randomised_tables(MASTModel(MASTConfig.from_preset("mast-tiny", target_frames=1024))).eval()
    short = MASTModel(MASTConfig.from_preset("mast-tiny", target_frames=96)).eval()
    weights, leading = long.state_dict(), long.state_dict()
    for key, value in short.state_dict().items():
        if key.endswith(("rel_pos_freq", "rel_pos_time")):
            rows, length = weights[key].shape[0], value.shape[0]
            weights[key] = weights[key][(rows - length) // 2:(rows + length) // 2]
            leading[key] = leading[key][:length]
    short.load_state_dict(weights)
    inputs = torch.randn(2, 96, 128)
    torch.testing.assert_close(long(inputs).last_hidden_state, short(inputs).last_hidden_state, atol=1e-5, rtol=0)
    short.load_state_dict(leading)  # what reading the leading rows (timm's way) would compute instead
    assert (long(inputs).last_hidden_state - short(inputs).last_hidden_state).abs().max() > 1e-2


def test_longer_input_equals_a_model_configured_with_the_stretched_tables():
    short = randomised_tables(MASTModel(MASTConfig.from_preset("mast-tiny", target_frames=128))).eval()
    long = MASTModel(MASTConfig.from_preset("mast-tiny", target_frames=256)).eval()
    weights = short.state_dict()
    for key, value in long.state_dict().items():
        if key.endswith(("rel_pos_freq", "rel_pos_time")):
            block = long.get_submodule(key.rsplit(".", 1)[0])
            weights[key] = fit_relative_table(weights[key], value.shape[0], block.q_stride, block.kv_stride)
    long.load_state_dict(weights)
    inputs = torch.randn(2, 256, 128)
    torch.testing.assert_close(short(inputs).last_hidden_state, long(inputs).last_hidden_state, atol=1e-5, rtol=1e-4)


def test_a_checkpoint_loads_at_another_length(tmp_path):
    """Saved for one `target_frames`, loaded with another: the tables are fitted as the run-time path fits them,
    so the logits match on clips of the new length (and of any shorter length when shrinking)."""
    torch.manual_seed(0)
    long = randomised_tables(MASTForAudioClassification(
        MASTConfig.from_preset("mast-tiny", target_frames=1024, num_labels=3))).eval()
    long.save_pretrained(tmp_path / "long")
    short = MASTForAudioClassification.from_pretrained(tmp_path / "long", target_frames=96).eval()
    assert short.config.target_frames == 96 and short.config._name_or_path == str(tmp_path / "long")
    table = short.mast.encoder.stages[0].layers[0].attention.rel_pos_time
    assert table.shape[0] < long.mast.encoder.stages[0].layers[0].attention.rel_pos_time.shape[0]
    for frames in (96, 64):
        inputs = torch.randn(2, frames, 128)
        torch.testing.assert_close(short(inputs).logits, long(inputs).logits, atol=1e-5, rtol=0)
    base = MASTModel.from_pretrained(tmp_path / "long", config=MASTConfig.from_pretrained(tmp_path / "long",
                                                                                           target_frames=96)).eval()
    inputs = torch.randn(2, 96, 128)
    torch.testing.assert_close(base(inputs).last_hidden_state, long.mast(inputs).last_hidden_state, atol=1e-5, rtol=0)
    short.save_pretrained(tmp_path / "short")
    grown = MASTForAudioClassification.from_pretrained(tmp_path / "short", target_frames=160).eval()
    inputs = torch.randn(2, 160, 128)
    torch.testing.assert_close(grown(inputs).logits, short(inputs).logits, atol=1e-5, rtol=0)


def test_eager_and_sdpa_agree_with_a_cls_token_and_odd_grids():
    model = MASTForAudioClassification(MASTConfig.from_preset("mast-tiny", use_cls_token=True, num_labels=4)).eval()
    inputs = torch.randn(2, 150, 128)
    sdpa = model(inputs).logits
    model.config._attn_implementation = "eager"
    torch.testing.assert_close(model(inputs).logits, sdpa, atol=1e-5, rtol=1e-4)
    out = model.mast(inputs, output_hidden_states=True, output_attentions=True)
    assert out.last_hidden_state.shape[1] == 1 + 4 * 5  # cls + the last stage grid
    assert out.hidden_states[0].shape[1] == 1 + 32 * 38
    assert len(out.attentions) == sum(model.config.depths)


def test_patch_drop_zeroes_the_asked_fraction_and_keeps_the_grid():
    tokens = torch.randn(3, 50, 8)
    dropped = drop_patches(tokens, 0.2)
    zero_rows = (dropped == 0).all(dim=-1)
    assert zero_rows.sum(dim=1).tolist() == [10, 10, 10]
    torch.testing.assert_close(dropped[~zero_rows], tokens[~zero_rows])
    assert not torch.equal(zero_rows[0], zero_rows[1])  # each sample drops its own patches

    model = MASTModel(MASTConfig.from_preset("mast-tiny"))
    inputs = torch.randn(2, 128, 128)
    model.eval()
    torch.testing.assert_close(model(inputs, patch_drop_rate=0.2).last_hidden_state, model(inputs).last_hidden_state)
    model.train()
    torch.manual_seed(1)
    plain = model(inputs).last_hidden_state
    torch.manual_seed(1)
    with_drop = model(inputs, patch_drop_rate=0.2, output_hidden_states=True)
    assert with_drop.last_hidden_state.shape == plain.shape and not torch.allclose(with_drop.last_hidden_state, plain)
    patches = with_drop.hidden_states[0]
    assert ((patches == 0).all(dim=-1).sum(dim=1) == round(0.2 * 1024)).all()
    with pytest.raises(ValueError, match="patch_drop_rate"):
        model(inputs, patch_drop_rate=1.0)


# ---------------------------------------------------------------- timm MViTv2 weights


def timm_stage_outputs(model, spectrogram):
    """timm's tokens after every stage for a `(batch, frames, mel_bins)` spectrogram."""
    tokens, grid = model.patch_embed(spectrogram.transpose(1, 2)[:, None])
    outputs = []
    for stage in model.stages:
        tokens, grid = stage(tokens, grid)
        outputs.append(tokens)
    return outputs


def test_from_timm_matches_the_committed_timm_fixture():
    """tests/fixtures/make_mvitv2_fixture.py ran a tiny timm MViTv2 once; CI checks the mapping without timm."""
    fixture = load_file(FIXTURE)
    weights = {k.removeprefix("weights."): v for k, v in fixture.items() if k.startswith("weights.")}
    config = MASTConfig(depths=(1, 1, 1, 1), embed_dim=8, num_heads=1, target_frames=128, drop_path_rate=0.0)
    for attention in ("sdpa", "eager"):
        model = MASTModel.from_timm(weights, config=config).eval()
        model.config._attn_implementation = attention
        out = model(fixture["input.128"], output_hidden_states=True)  # timm's own (square) size
        for stage in range(4):
            torch.testing.assert_close(out.hidden_states[stage + 1], fixture[f"stage{stage}.128"], atol=1e-5, rtol=0)
        torch.testing.assert_close(out.last_hidden_state, fixture["features.128"], atol=1e-5, rtol=0)
        # On a smaller grid timm reads the tables' leading rows (distance 0 meets the row of another distance);
        # MAST reads the centre rows instead, so it departs from timm there.
        shorter = model(fixture["input.120"]).last_hidden_state
        assert (shorter - fixture["features.120"]).abs().max() > 1e-3


def test_from_timm_matches_timm_mvitv2_small_where_timm_imports():
    timm = pytest.importorskip("timm", reason="timm needs torchvision, which does not import beside this torch")
    torch.manual_seed(0)
    # a square 128 x 128 input: the size timm is built for (on smaller grids timm reads its tables' leading rows)
    reference = timm.create_model("mvitv2_small", pretrained=False, img_size=128, in_chans=1, num_classes=0).eval()
    with torch.no_grad():
        for name, parameter in reference.named_parameters():
            if "rel_pos" in name or "norm" in name:
                parameter.add_(torch.randn_like(parameter) * 0.05)
    model = MASTModel.from_timm(reference, config=MASTConfig(target_frames=128)).eval()
    for frames in (128,):
        spectrogram = torch.randn(1, frames, 128)
        with torch.no_grad():
            expected = timm_stage_outputs(reference, spectrogram)
            out = model(spectrogram, output_hidden_states=True)
        for ours, theirs in zip(out.hidden_states[1:], expected):
            torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_from_timm_rejects_other_shapes():
    fixture = load_file(FIXTURE)
    weights = {k.removeprefix("weights."): v for k, v in fixture.items() if k.startswith("weights.")}
    with pytest.raises(ValueError, match=r"depths \(1, 1, 1, 1\) and embed_dim 8; the config has depths \(1, 2, 11"):
        MASTModel.from_timm(weights)
    with pytest.raises(ValueError, match="use_cls_token=False"):
        MASTModel.from_timm(weights, depths=(1, 1, 1, 1), embed_dim=8, use_cls_token=True)
    classifier = MASTForAudioClassification.from_timm(weights, depths=(1, 1, 1, 1), embed_dim=8, num_labels=5)
    assert classifier.classifier.out_features == 5
    torch.testing.assert_close(classifier.mast.layernorm.weight, weights["norm.weight"])


def test_from_timm_by_name_needs_timm_and_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # as where timm is not installed
    with pytest.raises(ImportError, match=r"timm model name, which needs timm .*pip install \"specformers\[timm\]\""):
        MASTModel.from_timm("mvitv2_small")
    with pytest.raises(ImportError, match=r"specformers\[timm\]"):
        ASTModel.from_timm("deit_base_distilled_patch16_384")
