import pickle
import re

import pytest
import torch
import torch.nn.functional as F
import transformers
from audio_helpers import noisy_tone
from model_tester import ModelTesterMixin, assert_invalid
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification, pipeline
from transformers.models.audio_spectrogram_transformer import feature_extraction_audio_spectrogram_transformer

from specformers import (
    ASiTModel,
    ASTConfig,
    ASTForAudioClassification,
    ASTModel,
    MASTForAudioClassification,
    SpectrogramFeatureExtractor,
)
from specformers.families import family
from specformers.modeling.spectrogram_vit import resize_position_grid


class TestAST(ModelTesterMixin):
    family = family("ast")
    frames = 128

    def expected_hidden_shapes(self, config, batch, frames):
        patches = 12 * ((frames - 16) // 10 + 1)
        return [(batch, 2 + patches, config.hidden_size)] * (config.num_hidden_layers + 1)


# ---------------------------------------------------------------- configuration


def test_presets_and_validation(tmp_path):
    base = ASTConfig.from_preset("ast-base")
    assert (base.hidden_size, base.num_hidden_layers, base.num_attention_heads, base.intermediate_size) == (
        768, 12, 12, 3072)
    assert base.patch_grid == (12, 101)  # 1212 patches for 1024 frames
    assert ASTConfig.from_preset("ast-tiny", hidden_size=96, num_attention_heads=3).hidden_size == 96
    with pytest.raises(ValueError, match="Unknown ASTConfig preset"):
        ASTConfig.from_preset("ast-huge")
    assert_invalid(ASTConfig(hidden_size=100), ASTModel, "hidden_size=100 must be divisible by num_attention_heads=12",
                   tmp_path)
    assert_invalid(ASTConfig(token_order="diagonal"), ASTForAudioClassification, "token_order", tmp_path)
    assert_invalid(ASTConfig(target_frames=8), ASTModel, "patch_size=16 is larger", tmp_path)
    with pytest.raises(ValueError, match="hidden_size=65 must be divisible by num_attention_heads=2"):
        ASTConfig.from_preset("ast-tiny", hidden_size=65)
    # built step by step, as transformers allows: only the finished config is checked
    config = ASTConfig(hidden_size=32)
    config.num_attention_heads = 4
    assert ASTModel(config).encoder.layers[0].attention.head_dim == 8
    assert ASTConfig(patch_stride=[16, 8]).patch_stride == (16, 8)


def test_ast_base_parameter_count():
    # AST-Base with 527 AudioSet classes: 86.2 M backbone + head (the AST paper's 87 M)
    model = ASTForAudioClassification(ASTConfig(num_labels=527))
    assert 86e6 < sum(p.numel() for p in model.parameters()) < 88.5e6


# ---------------------------------------------------------------- run-time position embeddings


def test_position_grid_is_centre_cut_when_the_input_is_shorter():
    model = ASTModel(ASTConfig.from_preset("ast-tiny", target_frames=256)).eval()  # grid 12 x 25
    learned = model.embeddings.position_embeddings[0, 2:].reshape(12, 25, -1)
    used = model.embeddings.patch_position_embeddings((12, 11))[0].reshape(12, 11, -1)
    torch.testing.assert_close(used, learned[:, 25 // 2 - 11 // 2 :][:, :11])


def test_position_grid_is_interpolated_when_the_input_is_longer():
    grid = torch.arange(10.0).expand(1, 1, 4, 10).clone()  # value = time index
    grown = resize_position_grid(grid, (4, 20))
    assert grown.shape == (1, 1, 4, 20)
    torch.testing.assert_close(grown[0, 0, 0], grown[0, 0, 3])  # frequency axis untouched
    # bilinear (align_corners=False) keeps a ramp a ramp away from the clamped edges
    torch.testing.assert_close(grown[0, 0, 0, 1:-1], torch.arange(1, 19) / 2 - 0.25)
    both = resize_position_grid(torch.randn(1, 3, 12, 10), (6, 30))
    assert both.shape == (1, 3, 6, 30)
    assert resize_position_grid(torch.randn(1, 3, 8, 8), (12, 5), "bicubic").shape == (1, 3, 12, 5)


# ---------------------------------------------------------------- transformers' AST checkpoints


def transformers_ast(tmp_path, num_labels=3, **overrides):
    config = transformers.ASTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                                    max_length=100, num_labels=num_labels, **overrides)
    model = transformers.ASTForAudioClassification(config).eval()
    with torch.no_grad():  # transformers zero-initialises tokens and positions: make every weight count
        for parameter in model.parameters():
            parameter.normal_(0, 0.2)
    v4_dir, v5_dir = tmp_path / "v4", tmp_path / "v5"
    model.save_pretrained(v4_dir)  # every transformers 5 release writes the v4 (Hub) names
    v5_dir.mkdir()
    (v5_dir / "config.json").write_text((v4_dir / "config.json").read_text())
    save_file({to_v5_name(k): v for k, v in load_file(v4_dir / "model.safetensors").items()},
              v5_dir / "model.safetensors", metadata={"format": "pt"})
    return model, v4_dir, v5_dir


def to_v5_name(key: str) -> str:
    """The in-memory names of transformers >= 5.2x's AST (what `torch.save(model.state_dict())` writes)."""
    for old, new in [(r"encoder\.layer\.", "layers."), (r"attention\.attention\.query", "attention.q_proj"),
                     (r"attention\.attention\.key", "attention.k_proj"),
                     (r"attention\.attention\.value", "attention.v_proj"),
                     (r"attention\.output\.dense", "attention.o_proj"), (r"intermediate\.dense", "mlp.fc1"),
                     (r"(layers\.\d+)\.output\.dense", r"\1.mlp.fc2")]:
        key = re.sub(old, new, key)
    return key


def test_loads_transformers_checkpoints_in_both_namings(tmp_path):
    reference, v4_dir, v5_dir = transformers_ast(tmp_path)
    from safetensors import safe_open

    with safe_open(v4_dir / "model.safetensors", "pt") as f:
        assert any(".attention.attention.query." in key for key in f.keys())
    with safe_open(v5_dir / "model.safetensors", "pt") as f:
        assert any(".attention.q_proj." in key for key in f.keys())
    inputs = torch.randn(2, 100, 128)
    expected = reference(inputs).logits
    for directory in (v4_dir, v5_dir):
        ours = ASTForAudioClassification.from_pretrained(directory).eval()
        assert ours.config.layer_norm_eps == 1e-12 and ours.config.target_frames == 100
        torch.testing.assert_close(ours(inputs).logits, expected, atol=1e-4, rtol=0)
    base = ASTModel.from_pretrained(v4_dir).eval()
    torch.testing.assert_close(base(inputs).last_hidden_state,
                               reference.audio_spectrogram_transformer(inputs).last_hidden_state, atol=1e-4, rtol=0)


def test_transformers_checkpoint_with_other_strides_and_labels(tmp_path):
    reference, v4_dir, _ = transformers_ast(tmp_path, num_labels=4, frequency_stride=16, time_stride=12,
                                            id2label={0: "dog", 1: "rain", 2: "siren", 3: "speech"})
    inputs = torch.randn(1, 100, 128)
    ours = ASTForAudioClassification.from_pretrained(v4_dir).eval()
    assert ours.config.patch_stride == (16, 12) and ours.config.id2label[2] == "siren"
    torch.testing.assert_close(ours(inputs).logits, reference(inputs).logits, atol=1e-4, rtol=0)
    fine_tune = ASTForAudioClassification.from_pretrained(v4_dir, num_labels=7, ignore_mismatched_sizes=True)
    assert fine_tune.classifier.dense.out_features == 7


def test_both_libraries_ast_classes_still_resolve(tmp_path):
    _, v4_dir, _ = transformers_ast(tmp_path)
    assert type(AutoConfig.from_pretrained(v4_dir)) is transformers.ASTConfig
    assert type(AutoModelForAudioClassification.from_pretrained(v4_dir)) is transformers.ASTForAudioClassification
    ours_dir = tmp_path / "ours"
    ASTForAudioClassification(ASTConfig.from_preset("ast-tiny")).save_pretrained(ours_dir)
    assert type(AutoConfig.from_pretrained(ours_dir)) is ASTConfig
    assert type(AutoModelForAudioClassification.from_pretrained(ours_dir)) is ASTForAudioClassification
    assert ASTConfig.model_type == "specformers-ast" != transformers.ASTConfig.model_type


def test_a_converted_transformers_ast_keeps_its_extractor_settings(monkeypatch, tmp_path):
    """A transformers AST folder with its extractor (100 frames, speech-commands statistics): the extractor read
    by specformers, and the one the pipeline uses beside the converted model, have the checkpoint's settings."""
    reference, v4_dir, _ = transformers_ast(tmp_path)
    monkeypatch.setattr(feature_extraction_audio_spectrogram_transformer, "is_speech_available", lambda: False)
    their_extractor = transformers.ASTFeatureExtractor(max_length=100, mean=-6.845978, std=5.5654526)
    their_extractor.save_pretrained(v4_dir)
    ours = ASTForAudioClassification.from_pretrained(v4_dir).eval()
    assert ours.config._name_or_path == str(v4_dir)  # not the temporary converted copy
    extractor = SpectrogramFeatureExtractor.from_pretrained(v4_dir)
    clip = noisy_tone(24000)
    features = extractor(clip, sampling_rate=16000, return_tensors="pt")
    assert features["input_values"].shape == (1, 100, 128)
    their_features = their_extractor(clip, sampling_rate=16000, return_tensors="pt")
    torch.testing.assert_close(features["input_values"], their_features["input_values"], atol=1e-3, rtol=0)
    expected = ours(**features).logits.softmax(-1)[0]
    torch.testing.assert_close(expected, reference(**their_features).logits.softmax(-1)[0], atol=1e-3, rtol=0)

    # (a model object with an extractor *path* trips transformers' own pipeline(): it looks for a CTC decoder at None)
    classify = pipeline("audio-classification", model=ours,
                        feature_extractor=AutoFeatureExtractor.from_pretrained(v4_dir))
    assert type(classify.feature_extractor) is SpectrogramFeatureExtractor
    assert classify.feature_extractor.to_dict() == extractor.to_dict()
    for prediction in classify(clip, top_k=None):
        label_id = ours.config.label2id[prediction["label"]]
        assert prediction["score"] == pytest.approx(expected[label_id].item(), abs=1e-5)
    at_44k = classify({"array": noisy_tone(44100, rate=44100), "sampling_rate": 44100}, top_k=None)  # no torchaudio
    assert sum(p["score"] for p in at_44k) == pytest.approx(1.0, abs=1e-5)


def test_only_ast_classes_take_transformers_checkpoints(tmp_path):
    _, v4_dir, _ = transformers_ast(tmp_path)
    for cls in (MASTForAudioClassification, ASiTModel):
        with pytest.raises(ValueError, match="'audio-spectrogram-transformer' model.*ASTForAudioClassification: "
                                             "they convert"):
            cls.from_pretrained(v4_dir)


# ---------------------------------------------------------------- timm ImageNet initialisation


def timm_vit_state_dict(hidden=64, depth=2, side=24, distilled=True, classes=10):
    """A timm ViT/DeiT state dict with random values (names and shapes as timm's vit_*/deit_*)."""
    g = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=g)

    prefix = 2 if distilled else 1
    state = {"cls_token": rand(1, 1, hidden), "pos_embed": rand(1, prefix + side * side, hidden),
             "patch_embed.proj.weight": rand(hidden, 3, 16, 16), "patch_embed.proj.bias": rand(hidden),
             "norm.weight": rand(hidden), "norm.bias": rand(hidden), "head.weight": rand(classes, hidden),
             "head.bias": rand(classes)}
    if distilled:
        state.update({"dist_token": rand(1, 1, hidden), "head_dist.weight": rand(classes, hidden),
                      "head_dist.bias": rand(classes)})
    for i in range(depth):
        for name, shape in [("norm1", (hidden,)), ("attn.qkv", (3 * hidden, hidden)), ("attn.proj", (hidden, hidden)),
                            ("norm2", (hidden,)), ("mlp.fc1", (4 * hidden, hidden)), ("mlp.fc2", (hidden, 4 * hidden))]:
            state[f"blocks.{i}.{name}.weight"] = rand(*shape)
            state[f"blocks.{i}.{name}.bias"] = rand(shape[0])
    return state


def test_from_timm_deit_sums_rgb_and_centre_cuts_frequency_rows():
    state = timm_vit_state_dict(side=24, distilled=True)
    # a position grid whose value is the row index: after conversion frequency row f must hold row 6 + f
    rows = torch.arange(24.0)[:, None].expand(24, 24).reshape(1, 576, 1).expand(1, 576, 64)
    state["pos_embed"] = torch.cat([state["pos_embed"][:, :2], rows], dim=1)
    config = ASTConfig.from_preset("ast-tiny", intermediate_size=256, target_frames=1024)
    model = ASTModel.from_timm(state, config=config)
    embeddings = model.embeddings
    torch.testing.assert_close(embeddings.patch_embeddings.weight, state["patch_embed.proj.weight"].sum(1, True))
    torch.testing.assert_close(embeddings.prefix_tokens, torch.cat([state["cls_token"], state["dist_token"]], 1))
    torch.testing.assert_close(embeddings.position_embeddings[:, :2], state["pos_embed"][:, :2])
    grid = embeddings.position_embeddings[0, 2:, 0].reshape(12, 101)  # frequency-major
    torch.testing.assert_close(grid, (torch.arange(12.0) + 6)[:, None].expand(12, 101))
    torch.testing.assert_close(model.encoder.layers[1].attention.qkv.weight, state["blocks.1.attn.qkv.weight"])
    torch.testing.assert_close(model.layernorm.bias, state["norm.bias"])
    assert torch.isfinite(model(torch.randn(1, 1024, 128)).pooler_output).all()


def test_from_timm_plain_vit_copies_the_cls_token_and_interpolates_time():
    state = timm_vit_state_dict(side=14, distilled=False)
    # value = column index: time is interpolated from 14 columns to 101
    cols = torch.arange(14.0)[None, :].expand(14, 14).reshape(1, 196, 1).expand(1, 196, 64)
    state["pos_embed"] = torch.cat([state["pos_embed"][:, :1], cols], dim=1)
    model = ASTForAudioClassification.from_timm(state, num_labels=5, **{**ASTConfig.presets["ast-tiny"],
                                                                         "intermediate_size": 256,
                                                                         "target_frames": 1024})
    embeddings = model.vit.embeddings
    torch.testing.assert_close(embeddings.prefix_tokens, state["cls_token"].expand(1, 2, 64))
    grid = embeddings.position_embeddings[0, 2:, 0].reshape(12, 101)
    expected_time = F.interpolate(torch.arange(14.0)[None, None], size=101, mode="linear", align_corners=False)[0, 0]
    torch.testing.assert_close(grid, expected_time.expand(12, 101))
    assert model.classifier.dense.out_features == 5


def test_from_timm_rejects_a_mismatched_config():
    with pytest.raises(ValueError, match="width 64 but the config has hidden_size=768"):
        ASTModel.from_timm(timm_vit_state_dict())
    with pytest.raises(ValueError, match="2 blocks but config.num_hidden_layers is 4"):
        ASTModel.from_timm(timm_vit_state_dict(), **{**ASTConfig.presets["ast-tiny"], "num_hidden_layers": 4,
                                                      "intermediate_size": 256})


# ---------------------------------------------------------------- original AST repository checkpoints


def original_ast_checkpoint(model: ASTForAudioClassification) -> dict:
    """The same weights laid out as github.com/YuanGongND/ast saves them (DataParallel `module.` prefix)."""
    vit, state = model.vit, {}
    state["module.v.cls_token"] = vit.embeddings.prefix_tokens[:, :1]
    state["module.v.dist_token"] = vit.embeddings.prefix_tokens[:, 1:]
    state["module.v.pos_embed"] = vit.embeddings.position_embeddings
    state["module.v.patch_embed.proj.weight"] = vit.embeddings.patch_embeddings.weight
    state["module.v.patch_embed.proj.bias"] = vit.embeddings.patch_embeddings.bias
    for i, layer in enumerate(vit.encoder.layers):
        for theirs, ours in [("norm1", layer.layernorm_before), ("attn.qkv", layer.attention.qkv),
                             ("attn.proj", layer.attention.proj), ("norm2", layer.layernorm_after),
                             ("mlp.fc1", layer.mlp.fc1), ("mlp.fc2", layer.mlp.fc2)]:
            state[f"module.v.blocks.{i}.{theirs}.weight"] = ours.weight
            state[f"module.v.blocks.{i}.{theirs}.bias"] = ours.bias
    state["module.v.norm.weight"], state["module.v.norm.bias"] = vit.layernorm.weight, vit.layernorm.bias
    state["module.v.head.weight"] = torch.randn(1000, vit.config.hidden_size)  # unused timm heads ship too
    state["module.mlp_head.0.weight"] = model.classifier.layernorm.weight
    state["module.mlp_head.0.bias"] = model.classifier.layernorm.bias
    state["module.mlp_head.1.weight"] = model.classifier.dense.weight
    state["module.mlp_head.1.bias"] = model.classifier.dense.bias
    return {k: v.detach().clone() for k, v in state.items()}


def test_from_original_ast_pth(tmp_path):
    source = ASTForAudioClassification(ASTConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                                                 intermediate_size=256, target_frames=200, patch_stride=(10, 12),
                                                 num_labels=4)).eval()
    path = tmp_path / "audioset_10_10_0.4593.pth"
    torch.save(original_ast_checkpoint(source), path)
    model = ASTForAudioClassification.from_original_ast(path, target_frames=200, patch_stride=(10, 12)).eval()
    assert (model.config.hidden_size, model.config.num_attention_heads, model.config.num_labels) == (128, 2, 4)
    inputs = torch.randn(2, 200, 128)
    torch.testing.assert_close(model(inputs).logits, source(inputs).logits, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="target_frames=1024 and patch_stride=\\(10, 10\\) give 1214"):
        ASTForAudioClassification.from_original_ast(path)
    with pytest.raises(ValueError, match="Not an original AST checkpoint"):
        ASTForAudioClassification.from_original_ast({"module.mlp_head.1.weight": torch.zeros(2, 2)})


class _Payload:
    def __reduce__(self):
        return (print, ("code ran while unpickling",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's note about our hand-made pickle
def test_original_ast_checkpoints_are_unpickled_safely(tmp_path):
    path = tmp_path / "untrusted.pth"
    with open(path, "wb") as f:
        pickle.dump({"module.v.pos_embed": _Payload()}, f)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        ASTForAudioClassification.from_original_ast(path)
