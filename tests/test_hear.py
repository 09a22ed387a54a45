"""specformers.hear: the HEAR 2021 API, checked by the `hearvalidator` package and against the encoder's own outputs."""

import json

import numpy as np
import pytest
import torch
import transformers
from audio_helpers import noisy_tone

from specformers import (
    ASiTConfig,
    ASiTModel,
    ASTConfig,
    ASTForAudioClassification,
    MASTConfig,
    MASTModel,
    SpectrogramFeatureExtractor,
    hear,
)
from specformers.long_audio import window_starts

FRAMES = 96
MODELS = {"ast": (ASTForAudioClassification, ASTConfig, "ast-tiny"), "mast": (MASTModel, MASTConfig, "mast-tiny"),
          "asit": (ASiTModel, ASiTConfig, "asit-tiny")}


def extractor():
    return SpectrogramFeatureExtractor.from_preset("speech_commands", target_frames=FRAMES)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved folder per family: an AST classifier (its head is left out), a MAST and an ASiT encoder."""
    folders = {}
    for key, (model_class, config_class, preset) in MODELS.items():
        folder = tmp_path_factory.mktemp(key)
        torch.manual_seed(0)
        model_class(config_class.from_preset(preset, target_frames=FRAMES, num_labels=3)).save_pretrained(folder)
        extractor().save_pretrained(folder)
        folders[key] = folder
    return folders


@pytest.mark.parametrize("key", MODELS)
def test_hearvalidator_accepts_every_family(key, saved):
    from hearvalidator import validate  # the test extra's; imported here, as it imports TensorFlow
    checker = validate.ValidateModel("specformers.hear", str(saved[key]), device="cpu")
    checker()  # raises hearvalidator's ModelError on any failed check
    assert checker.model.sample_rate == 16000 and checker.model.timestamp_embedding_size > 0


def clips(count, seconds, seed=0):
    return torch.stack([torch.from_numpy(noisy_tone(int(16000 * seconds), freq=300 + 200 * i, seed=seed + i))
                        for i in range(count)]).float()


@pytest.mark.parametrize("key", MODELS)
def test_scene_embeddings_are_the_pooled_output_averaged_over_windows(key, saved):
    model = hear.load_model(str(saved[key]), batch_size=3)
    encoder, fe = model.encoder, model.feature_extractor
    audio = clips(2, 2.3)  # 2.3 s: three windows of 0.975 s, the last flush with the end
    starts = window_starts(audio.shape[1], fe.window_samples, fe.window_samples)
    assert len(starts) == 3
    expected = []
    for clip in audio:
        pieces = [clip[s:s + fe.window_samples] for s in starts]
        with torch.no_grad():
            pooled = encoder(**fe(pieces, sampling_rate=16000, return_tensors="pt")).pooler_output
        expected.append(pooled.mean(0))
    scene = hear.get_scene_embeddings(audio, model)
    assert scene.dtype == torch.float32 and scene.shape == (2, model.scene_embedding_size)
    torch.testing.assert_close(scene, torch.stack(expected), atol=1e-5, rtol=1e-5)
    # a batch is each clip on its own
    torch.testing.assert_close(hear.get_scene_embeddings(audio[1:], model)[0], scene[1], atol=1e-5, rtol=1e-5)


def test_timestamp_embeddings_interpolate_the_time_columns(saved):
    """AST tiny: patches 16 frames wide every 10, so column j is centred at 87.5 + 100 j ms; with a 12.5 ms hop the
    stamps fall on the columns and half way between them."""
    model = hear.load_model(str(saved["ast"]), hop_ms=12.5)
    encoder, fe = model.encoder, model.feature_extractor
    audio = clips(2, 0.9)  # one window
    embeddings, stamps = hear.get_timestamp_embeddings(audio, model)
    assert stamps.shape == embeddings.shape[:2] and embeddings.shape[2] == model.timestamp_embedding_size
    assert stamps[0, 0] == 0 and stamps[0, -1] == 900 and torch.allclose(stamps.diff(), torch.tensor(12.5))
    with torch.no_grad():
        tokens = encoder(**fe(list(audio), sampling_rate=16000, return_tensors="pt")).last_hidden_state
    grid = encoder.config.patch_grid_for(FRAMES)
    columns = tokens[:, 2:].unflatten(1, grid).mean(1)  # AST's tokens are frequency-major after its 2 prefix ones
    at = {round(float(t), 1): i for i, t in enumerate(stamps[0])}
    torch.testing.assert_close(embeddings[:, at[87.5]], columns[:, 0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(embeddings[:, at[387.5]], columns[:, 3], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(embeddings[:, at[137.5]], (columns[:, 0] + columns[:, 1]) / 2, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(embeddings[:, at[0.0]], columns[:, 0])  # before the first centre: the first column
    # only columns inside the clip: the last one at or before 900 ms
    last = max(t for t in at if t <= 887.5 and (t - 87.5) % 100 == 0)
    torch.testing.assert_close(embeddings[:, -1], embeddings[:, at[last]])


def test_long_clips_get_columns_from_every_window_in_time_order(saved):
    model = hear.load_model(str(saved["mast"]))
    audio = clips(1, 3.0)
    columns, times = model.time_columns(audio)
    assert (times.diff() > 0).all() and times[-1] <= 3000 and len(times) == columns.shape[1]
    assert times[0] < 975 < times[-1]  # the second window's columns follow the first's
    embeddings, stamps = hear.get_timestamp_embeddings(audio, model)
    assert stamps.shape == (1, 61) and torch.isfinite(embeddings).all()


def test_bad_inputs_say_what_is_wrong(saved, tmp_path):
    model = hear.load_model(str(saved["asit"]))
    with pytest.raises(ValueError, match=r"\(clips, samples\)"):
        hear.get_scene_embeddings(torch.zeros(16000), model)
    with pytest.raises(ValueError, match="NaN"):
        hear.get_timestamp_embeddings(torch.full((1, 16000), float("nan")), model)
    with pytest.raises(ValueError, match="no default weights"):
        hear.load_model()
    other = tmp_path / "bert"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="bert"):
        hear.load_model(str(other))


def test_a_model_on_another_dtype_and_numpy_audio(saved):
    model = hear.load_model(str(saved["asit"]))
    audio = clips(2, 1.0).numpy()
    reference = hear.get_scene_embeddings(audio, model)
    model.encoder.to(torch.bfloat16)
    scene = hear.get_scene_embeddings(np.asarray(audio), model)
    assert scene.dtype == torch.float32
    torch.testing.assert_close(scene, reference, atol=0.1, rtol=0.1)


def test_a_transformers_ast_checkpoint_embeds_as_transformers_computes_it(tmp_path):
    config = transformers.ASTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                                    max_length=FRAMES, num_labels=3)
    torch.manual_seed(0)
    transformers.ASTForAudioClassification(config).save_pretrained(tmp_path)
    reference_extractor = transformers.ASTFeatureExtractor(max_length=FRAMES)
    reference_extractor.save_pretrained(tmp_path)
    model = hear.load_model(str(tmp_path))
    audio = clips(2, 0.9)
    reference = transformers.ASTModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        features = reference_extractor(list(audio.numpy()), sampling_rate=16000, return_tensors="pt")
        expected = reference(**features).pooler_output
    torch.testing.assert_close(hear.get_scene_embeddings(audio, model), expected, atol=1e-3, rtol=1e-3)
