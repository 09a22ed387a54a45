import json
import os

import numpy as np
import pytest
import torch
from audio_helpers import chirp, noisy_tone
from transformers import AutoFeatureExtractor
from transformers.models.audio_spectrogram_transformer import feature_extraction_audio_spectrogram_transformer
from transformers.testing_utils import CaptureLogger

import specformers  # noqa: F401  (registers the Auto classes)
from specformers import SpectrogramFeatureExtractor
from specformers.feature_extraction import feature_extraction_fbank
from specformers.feature_extraction.feature_extraction_fbank import PRESETS, kaldi_mel_filterbank

FIXTURE_DIR = os.path.join(os.path.dirname(__file__), "fixtures")
# Lengths around the hop (160) and frame (400) boundaries, 1 s, 10 s, and longer than 1024 frames.
LENGTHS = [401, 559, 16000, 16001, 16123, 24567, 160000, 170000]


def transformers_numpy_extractor(monkeypatch, **kwargs):
    """transformers' ASTFeatureExtractor forced onto its numpy path (the one that needs no torchaudio)."""
    monkeypatch.setattr(feature_extraction_audio_spectrogram_transformer, "is_speech_available", lambda: False)
    return feature_extraction_audio_spectrogram_transformer.ASTFeatureExtractor(**kwargs)


@pytest.mark.parametrize("num_samples", LENGTHS)
def test_matches_transformers_ast_extractor(monkeypatch, num_samples):
    reference = transformers_numpy_extractor(monkeypatch)
    ours = SpectrogramFeatureExtractor()
    clip = noisy_tone(num_samples, seed=num_samples)
    expected = reference(clip, sampling_rate=16000, return_tensors="np")["input_values"][0]
    got = ours(clip, sampling_rate=16000, return_tensors="np")["input_values"][0]
    assert got.shape == expected.shape == (1024, 128)
    np.testing.assert_allclose(got, expected, atol=1e-3, rtol=0)


def test_noiseless_tones_agree_to_float32_precision(monkeypatch):
    """Without a noise floor, mel bins ~150 dB below a tone (power near the 1.2e-7 log floor) are below float32
    resolution. There torchaudio's float32 kaldi.fbank and transformers' float64 numpy path differ too: measured
    on these chirps, max 6.9e-4 to 9.8e-4, with 0.4 % to 2.7 % of the values off by more than 1e-4."""
    reference = transformers_numpy_extractor(monkeypatch)
    ours = SpectrogramFeatureExtractor()
    for clip in (chirp(24000), chirp(160000), chirp(16000) + noisy_tone(16000, noise=0.0)):
        expected = reference(clip, sampling_rate=16000, return_tensors="np")["input_values"][0]
        got = ours(clip, sampling_rate=16000, return_tensors="np")["input_values"][0]
        difference = np.abs(got - expected)
        assert difference.max() < 2e-3
        assert np.mean(difference > 1e-4) < 0.03 and np.median(difference) < 1e-5


@pytest.mark.parametrize("preset", sorted(name for name, values in PRESETS.items() if "sampling_rate" not in values))
def test_presets_match_transformers_with_the_same_statistics(monkeypatch, preset):
    settings = PRESETS[preset]
    reference = transformers_numpy_extractor(monkeypatch, max_length=settings["target_frames"],
                                             mean=settings["norm_mean"], std=settings["norm_std"])
    ours = SpectrogramFeatureExtractor.from_preset(preset)
    clips = [chirp(24000) + noisy_tone(24000, seed=2, noise=0.01), noisy_tone(70000, seed=3)]
    expected = np.stack(reference(clips, sampling_rate=16000, return_tensors="np")["input_values"])
    got = ours(clips, sampling_rate=16000, return_tensors="np")["input_values"]
    assert got.shape == (2, settings["target_frames"], 128)
    np.testing.assert_allclose(got, expected, atol=1e-3, rtol=0)


def test_asit_32k_preset_matches_a_kaldi_fbank_built_from_transformers_audio_utils():
    """The ASiT authors' fbank: Kaldi settings at 32 kHz (800-sample frames every 320, 1024-point FFT, 128 mel bins
    from 20 Hz to 16 kHz). transformers' AST extractor is fixed to 16 kHz, so the reference is its own recipe
    rebuilt from transformers.audio_utils at 32 kHz."""
    from transformers.audio_utils import mel_filter_bank, spectrogram, window_function

    ours = SpectrogramFeatureExtractor.from_preset("asit-32k")
    assert (ours.sampling_rate, ours.frame_length, ours.hop_length, ours.fft_size) == (32000, 800, 320, 1024)
    clip = chirp(96000, rate=32000, high=14000) + noisy_tone(96000, rate=32000, seed=4)
    filters = mel_filter_bank(num_frequency_bins=513, num_mel_filters=128, min_frequency=20, max_frequency=16000,
                              sampling_rate=32000, norm=None, mel_scale="kaldi", triangularize_in_mel_space=True)
    fbank = spectrogram(clip.astype(np.float64), window_function(800, "hann", periodic=False), frame_length=800,
                        hop_length=320, fft_length=1024, power=2.0, center=False, preemphasis=0.97,
                        mel_filters=filters, log_mel="log", mel_floor=1.192092955078125e-07, remove_dc_offset=True).T
    expected = np.zeros((592, 128), dtype=np.float32)
    expected[: len(fbank)] = fbank[:592]
    expected = (expected - ours.norm_mean) / (2 * ours.norm_std)
    got = ours(clip, sampling_rate=32000, return_tensors="np")["input_values"][0]
    np.testing.assert_allclose(got, expected, atol=1e-3, rtol=0)


def test_matches_kaldi_fbank_fixture():
    """Against torchaudio.compliance.kaldi.fbank, via outputs committed once from a torchaudio environment
    (tests/fixtures/make_kaldi_fixture.py): torchaudio cannot be installed beside the CPU torch used here."""
    with open(os.path.join(FIXTURE_DIR, "kaldi_fbank.json")) as f:
        fixture = json.load(f)
    ours = SpectrogramFeatureExtractor(do_normalize=False, target_frames=fixture["target_frames"])
    for case in fixture["cases"]:
        clip = chirp(case["num_samples"]) + noisy_tone(case["num_samples"], seed=case["seed"])
        assert float(np.sum(clip, dtype=np.float64)) == pytest.approx(case["input_sum"], abs=1e-4)
        got = ours(clip, sampling_rate=16000, return_tensors="np")["input_values"][0, : case["frames"]]
        expected = np.asarray(case["fbank_rows"], dtype=np.float32)
        # normalised values are log-mel / (2 * 4.5689974): compare at the normalised tolerance
        np.testing.assert_allclose(got[case["row_indices"]] / (2 * 4.5689974), expected / (2 * 4.5689974), atol=1e-3)


def test_matches_torchaudio_kaldi_fbank_where_it_imports():
    kaldi = pytest.importorskip("torchaudio.compliance.kaldi", reason="torchaudio does not import beside this torch")
    ours = SpectrogramFeatureExtractor()
    for num_samples in LENGTHS:
        clip = noisy_tone(num_samples, seed=num_samples)
        fbank = kaldi.fbank(torch.from_numpy(clip)[None], sample_frequency=16000, window_type="hanning",
                            num_mel_bins=128, dither=0.0, frame_shift=10)
        expected = torch.zeros(1024, 128)
        expected[: min(len(fbank), 1024)] = fbank[:1024]
        expected = (expected - ours.norm_mean) / (2 * ours.norm_std)
        got = ours(clip, sampling_rate=16000, return_tensors="pt")["input_values"][0]
        torch.testing.assert_close(got, expected, atol=1e-3, rtol=0)


def test_mel_filterbank_matches_transformers_kaldi_filters():
    from transformers.audio_utils import mel_filter_bank

    ours = kaldi_mel_filterbank(128, 512, 16000, 20.0, 8000.0)
    reference = mel_filter_bank(num_frequency_bins=257, num_mel_filters=128, min_frequency=20, max_frequency=8000,
                                sampling_rate=16000, norm=None, mel_scale="kaldi", triangularize_in_mel_space=True)
    assert ours.shape == (257, 128)
    np.testing.assert_allclose(ours.numpy(), reference, atol=1e-6)
    assert torch.all(ours[-1] == 0) and torch.all(ours[0] == 0)  # Nyquist bin unused (Kaldi); 0 Hz below 20 Hz


def test_batch_equals_one_by_one_and_keeps_order():
    extractor = SpectrogramFeatureExtractor(target_frames=300)
    clips = [noisy_tone(n, seed=n) for n in (16000, 48000, 5000, 40123)]
    batch = extractor(clips, sampling_rate=16000, return_tensors="pt")["input_values"]
    assert batch.shape == (4, 300, 128) and batch.dtype == torch.float32
    for clip, row in zip(clips, batch):
        alone = extractor(clip, sampling_rate=16000, return_tensors="pt")["input_values"][0]
        torch.testing.assert_close(row, alone, atol=1e-5, rtol=0)


def test_padding_and_truncation():
    extractor = SpectrogramFeatureExtractor(target_frames=200)
    short = extractor(noisy_tone(16000), sampling_rate=16000, return_tensors="pt")["input_values"][0]
    frames = 1 + (16000 - 400) // 160  # 98
    padded_value = (0.0 - extractor.norm_mean) / (2 * extractor.norm_std)
    assert torch.all(short[frames:] == padded_value)
    assert not torch.any(short[frames - 1] == padded_value)
    long_clip = noisy_tone(80000)
    truncated = extractor(long_clip, sampling_rate=16000, return_tensors="pt")["input_values"][0]
    first_part = extractor(long_clip[: 400 + 160 * 199], sampling_rate=16000, return_tensors="pt")["input_values"][0]
    torch.testing.assert_close(truncated, first_part)


def test_return_types():
    extractor = SpectrogramFeatureExtractor(target_frames=100)
    clips = [noisy_tone(8000), noisy_tone(9000)]
    as_list = extractor(clips, sampling_rate=16000)["input_values"]
    assert isinstance(as_list, list) and all(isinstance(a, np.ndarray) and a.shape == (100, 128) for a in as_list)
    assert isinstance(extractor(clips, sampling_rate=16000, return_tensors="np")["input_values"], np.ndarray)
    with pytest.raises(ValueError, match="return_tensors"):
        extractor(clips, sampling_rate=16000, return_tensors="tf")
    with pytest.raises(TypeError, match="max_len"):  # a misspelt argument is not swallowed
        extractor(clips, sampling_rate=16000, max_len=50)


def test_input_forms_agree():
    extractor = SpectrogramFeatureExtractor(target_frames=100)
    clip = noisy_tone(16000)
    expected = extractor(clip, sampling_rate=16000, return_tensors="pt")["input_values"]
    forms = [clip.tolist(), torch.from_numpy(clip), clip.astype(np.float64), [clip], clip[None],
             {"array": clip, "sampling_rate": 16000}, [{"array": clip, "sampling_rate": 16000}]]
    for form in forms:
        got = extractor(form, sampling_rate=16000, return_tensors="pt")["input_values"]
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_integer_pcm_is_scaled():
    extractor = SpectrogramFeatureExtractor(target_frames=100)
    pcm16 = np.round(noisy_tone(16000) * 32767).astype(np.int16)
    as_float = pcm16.astype(np.float32) / 32768
    expected = extractor(as_float, sampling_rate=16000, return_tensors="pt")["input_values"]
    torch.testing.assert_close(extractor(pcm16, sampling_rate=16000, return_tensors="pt")["input_values"], expected,
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(
        extractor(torch.from_numpy(pcm16), sampling_rate=16000, return_tensors="pt")["input_values"], expected,
        atol=1e-5, rtol=0)
    pcm32 = pcm16.astype(np.int32) << 16
    torch.testing.assert_close(extractor(pcm32, sampling_rate=16000, return_tensors="pt")["input_values"], expected,
                               atol=1e-5, rtol=0)


def test_multichannel_is_mixed_down():
    extractor = SpectrogramFeatureExtractor(target_frames=100)
    left, right = noisy_tone(16000, seed=1), chirp(16000)
    expected = extractor((left + right) / 2, sampling_rate=16000, return_tensors="pt")["input_values"]
    channels_first = np.stack([left, right])
    for stereo in (channels_first, channels_first.T, torch.from_numpy(channels_first)):
        got = extractor([stereo], sampling_rate=16000, return_tensors="pt")["input_values"]
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_other_sampling_rates_are_resampled():
    extractor = SpectrogramFeatureExtractor(target_frames=100)
    at_16k = extractor(noisy_tone(16000, rate=16000, noise=0.0), sampling_rate=16000, return_tensors="pt")
    for rate in (8000, 44100):
        other = extractor(noisy_tone(rate, rate=rate, noise=0.0), sampling_rate=rate, return_tensors="pt")
        assert other["input_values"].shape == (1, 100, 128)
        # same tone, same features (up to resampling error, away from the band edges 8 kHz input lacks)
        diff = (other["input_values"] - at_16k["input_values"])[0, 2:95, :100].abs()
        assert diff.mean() < 0.02, (rate, diff.mean())
    # a dict item carries its own rate
    mixed = extractor([{"array": noisy_tone(8000, rate=8000, noise=0.0), "sampling_rate": 8000}], return_tensors="pt")
    assert mixed["input_values"].shape == (1, 100, 128)
    with pytest.raises(ValueError, match="8000 Hz.*expects 16000 Hz"):
        extractor(noisy_tone(8000, rate=8000), sampling_rate=8000, resample=False)
    with pytest.raises(ValueError, match="resample"):
        SpectrogramFeatureExtractor(resample=False)(noisy_tone(8000, rate=8000), sampling_rate=8000)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros(0, dtype=np.float32), "item 0 is empty"),
        ([noisy_tone(), np.zeros(0, dtype=np.float32)], "item 1 is empty"),
        ([noisy_tone(), np.array([0.1, np.nan] * 500, dtype=np.float32)], "item 1 contains NaN"),
        (np.array([0.1, np.inf] * 500), "item 0 contains NaN or infinite"),
        (np.zeros((2, 2, 1000), dtype=np.float32), "3-D array"),
        ([np.zeros((2, 2, 1000), dtype=np.float32)], "item 0 has shape"),
        (np.ones(1000, dtype=bool), "unsupported dtype bool"),
        (np.ones(1000, dtype=np.complex64), "unsupported dtype complex64"),
        (["a", "b"], "item 0 cannot be read: cannot decode a: .*No such file"),  # strings are paths
        ([noisy_tone(1000), [0.1, [0.2, 0.3]]], "item 1"),
        (noisy_tone(399), "399 samples, shorter than one 25 ms frame"),
        (noisy_tone(16000)[:, None], "pass it inside a list"),
        ([], "empty list"),
        ("clip.wav", "item 0 cannot be read: cannot decode clip.wav"),
        (12.5, "Unsupported audio input of type float"),
        ({"audio": noisy_tone()}, "without 'array' and 'sampling_rate'"),
    ],
)
def test_bad_input_raises_a_clear_error(bad, message):
    with pytest.raises(ValueError, match=message):
        SpectrogramFeatureExtractor()(bad, sampling_rate=16000)


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="Mel range"):
        SpectrogramFeatureExtractor(low_freq=9000)
    with pytest.raises(ValueError, match="norm_std"):
        SpectrogramFeatureExtractor(norm_std=0.0)
    with pytest.raises(ValueError, match="Unknown feature-extractor preset"):
        SpectrogramFeatureExtractor.from_preset("imagenet")


def test_save_and_load_through_auto_feature_extractor(tmp_path):
    extractor = SpectrogramFeatureExtractor.from_preset("esc50", norm_mean=-5.0)
    extractor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["feature_extractor_type"] == "SpectrogramFeatureExtractor"
    assert not any(key.startswith("_") for key in saved)
    loaded = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert isinstance(loaded, SpectrogramFeatureExtractor)
    assert (loaded.target_frames, loaded.norm_mean, loaded.norm_std) == (512, -5.0, PRESETS["esc50"]["norm_std"])
    clip = noisy_tone(30000)
    torch.testing.assert_close(loaded(clip, sampling_rate=16000, return_tensors="pt")["input_values"],
                               extractor(clip, sampling_rate=16000, return_tensors="pt")["input_values"])


def test_device_argument_and_tensor_device():
    extractor = SpectrogramFeatureExtractor(target_frames=50)
    out = extractor(torch.from_numpy(noisy_tone(8000)), sampling_rate=16000, return_tensors="pt", device="cpu")
    assert out["input_values"].device.type == "cpu"
    if torch.cuda.is_available():
        clip = torch.from_numpy(noisy_tone(8000))
        on_gpu = extractor(clip, sampling_rate=16000, return_tensors="pt", device="cuda")["input_values"]
        assert on_gpu.device.type == "cuda"
        torch.testing.assert_close(on_gpu.cpu(), out["input_values"], atol=1e-4, rtol=0)


def test_normalization_stats_helper_matches_a_direct_computation():
    extractor = SpectrogramFeatureExtractor(target_frames=120)
    clips = [noisy_tone(n, seed=n) for n in (8000, 16000, 24000)] + [chirp(12000)]
    raw = SpectrogramFeatureExtractor(target_frames=120, do_normalize=False)
    features = raw(clips, sampling_rate=16000, return_tensors="pt")["input_values"].double()
    stats = extractor.compute_normalization_stats(clips, sampling_rate=16000, batch_size=3)
    assert stats["norm_mean"] == pytest.approx(features.mean().item(), abs=1e-5)
    assert stats["norm_std"] == pytest.approx(features.std(unbiased=False).item(), abs=1e-5)

    valid = torch.cat([f[: 1 + (len(c) - 400) // 160] for f, c in zip(features, clips)])
    unpadded = extractor.compute_normalization_stats(
        [{"array": c, "sampling_rate": 16000} for c in clips], include_padding=False)
    assert unpadded["norm_mean"] == pytest.approx(valid.mean().item(), abs=1e-5)
    assert unpadded["norm_std"] == pytest.approx(valid.std(unbiased=False).item(), abs=1e-5)
    normalised = SpectrogramFeatureExtractor(target_frames=120, **stats)(clips, sampling_rate=16000,
                                                                          return_tensors="pt")["input_values"]
    assert normalised.mean().abs() < 1e-4 and normalised.std().item() == pytest.approx(0.5, abs=1e-3)


def test_settings_changed_after_construction_take_effect():
    extractor = SpectrogramFeatureExtractor(target_frames=100)
    extractor(noisy_tone(), sampling_rate=16000)  # caches the window and filters
    extractor.num_mel_bins, extractor.target_frames, extractor.sampling_rate = 64, 50, 8000
    clip = noisy_tone(8000, rate=8000)
    got = extractor(clip, sampling_rate=8000, return_tensors="pt")["input_values"]
    expected = SpectrogramFeatureExtractor(sampling_rate=8000, num_mel_bins=64, target_frames=50)(
        clip, sampling_rate=8000, return_tensors="pt")["input_values"]
    assert got.shape == (1, 50, 64)
    torch.testing.assert_close(got, expected)


# ---------------------------------------------------------------- transformers' conventions


def captured_log():
    """Everything the extractor logs, warnings said once per process included (their memory is cleared)."""
    feature_extraction_fbank.logger.warning_once.cache_clear()
    return CaptureLogger(feature_extraction_fbank.logger)


def test_reads_a_folder_saved_by_transformers_ast_extractor(monkeypatch, tmp_path):
    """A speech-commands AST's extractor: 128 frames and that corpus' statistics, under transformers' names."""
    settings = {"max_length": 128, "mean": PRESETS["speech_commands"]["norm_mean"],
                "std": PRESETS["speech_commands"]["norm_std"]}
    reference = transformers_numpy_extractor(monkeypatch, return_attention_mask=True, **settings)
    reference.save_pretrained(tmp_path)
    ours = SpectrogramFeatureExtractor.from_pretrained(tmp_path)
    assert (ours.target_frames, ours.norm_mean, ours.norm_std) == (128, settings["mean"], settings["std"])
    assert ours.return_attention_mask and ours.feature_size == 1
    clips = [noisy_tone(30000, seed=1), chirp(9000) + noisy_tone(9000, seed=2)]
    expected = np.stack(reference(clips, sampling_rate=16000, return_tensors="np")["input_values"])
    got = ours(clips, sampling_rate=16000, return_tensors="np")["input_values"]
    assert got.shape == expected.shape == (2, 128, 128)
    np.testing.assert_allclose(got, expected, atol=1e-3, rtol=0)
    # the same settings given by hand, and keyword overrides under either name
    by_hand = SpectrogramFeatureExtractor(**settings)
    assert (by_hand.target_frames, by_hand.norm_mean, by_hand.norm_std) == (128, settings["mean"], settings["std"])
    assert SpectrogramFeatureExtractor.from_preset("esc50", max_length=100, std=5.0).to_dict() == \
        SpectrogramFeatureExtractor.from_preset("esc50", target_frames=100, norm_std=5.0).to_dict()
    assert SpectrogramFeatureExtractor.from_pretrained(tmp_path, target_frames=256).target_frames == 256
    assert SpectrogramFeatureExtractor.from_pretrained(tmp_path, max_length=64).target_frames == 64
    assert not SpectrogramFeatureExtractor.from_pretrained(tmp_path, return_attention_mask=False).return_attention_mask
    # importing specformers leaves transformers' own extractor to transformers
    native = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert type(native).__name__ == "ASTFeatureExtractor" and native.max_length == 128


def test_settings_that_cannot_be_honoured_are_refused_or_reported(tmp_path):
    with pytest.raises(ValueError, match="target_frames=512 and max_length=128 .* disagree"):
        SpectrogramFeatureExtractor(target_frames=512, max_length=128)
    with pytest.raises(ValueError, match="feature_size=2: it is the channel count"):
        SpectrogramFeatureExtractor(feature_size=2)
    with pytest.raises(ValueError, match="padding_side='left'"):
        SpectrogramFeatureExtractor(padding_side="left")
    with captured_log() as log:
        SpectrogramFeatureExtractor(hop_ms=5)
    assert "ignores the unknown setting(s) ['hop_ms']" in log.out
    # folders saved by earlier specformers versions carry feature_size = num_mel_bins
    SpectrogramFeatureExtractor().save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({**saved, "feature_size": 128}))
    assert SpectrogramFeatureExtractor.from_pretrained(tmp_path).feature_size == 1


def test_serialisation_round_trips(tmp_path):
    extractor = SpectrogramFeatureExtractor.from_preset("speech_commands", return_attention_mask=True, low_freq=30.0)
    values = extractor.to_dict()
    assert values["feature_size"] == 1 and values["target_frames"] == 128 and "max_length" not in values
    assert SpectrogramFeatureExtractor.from_dict(values).to_dict() == values
    assert SpectrogramFeatureExtractor(**json.loads(extractor.to_json_string())).to_dict() == values
    extractor.to_json_file(tmp_path / "extractor.json")
    assert SpectrogramFeatureExtractor.from_json_file(tmp_path / "extractor.json").to_dict() == values
    extractor.save_pretrained(tmp_path / "saved")
    assert AutoFeatureExtractor.from_pretrained(tmp_path / "saved").to_dict() == values


def test_call_takes_transformers_padding_arguments():
    extractor = SpectrogramFeatureExtractor(target_frames=100)
    clips = [noisy_tone(8000, seed=1), noisy_tone(24000, seed=2)]  # 48 and 148 frames
    frames = [extractor.num_frames(len(clip)) for clip in clips]
    alone = [SpectrogramFeatureExtractor(target_frames=n)(clip, sampling_rate=16000, return_tensors="np")
             ["input_values"][0] for clip, n in zip(clips, frames)]

    # max_length is the frame count, as target_frames
    np.testing.assert_array_equal(extractor(clips, sampling_rate=16000, max_length=60, return_tensors="np")
                                  ["input_values"],
                                  SpectrogramFeatureExtractor(target_frames=60)(clips, sampling_rate=16000,
                                                                                return_tensors="np")["input_values"])
    # no padding, no truncation: each clip at its own length
    ragged = extractor(clips, sampling_rate=16000, padding=False, truncation=False)["input_values"]
    assert [r.shape for r in ragged] == [(48, 128), (148, 128)]
    for got, expected in zip(ragged, alone):
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="different lengths \\(48 to 148 frames\\).*padding=True"):
        extractor(clips, sampling_rate=16000, padding=False, truncation=False, return_tensors="pt")
    # padding to the longest, rounded up to a multiple
    longest = extractor(clips, sampling_rate=16000, padding="longest", truncation=False, pad_to_multiple_of=32,
                        return_attention_mask=True, return_tensors="pt")
    assert longest["input_values"].shape == (2, 160, 128) and longest["attention_mask"].dtype == torch.int32
    assert longest["attention_mask"].sum(dim=1).tolist() == frames
    torch.testing.assert_close(longest["input_values"][0, :48], torch.from_numpy(alone[0]), atol=1e-5, rtol=0)
    assert torch.all(longest["input_values"][0, 48:] == extractor.padded_frame_value)
    # truncation=False with the default padding leaves the long clip long
    kept = extractor(clips, sampling_rate=16000, truncation=False)["input_values"]
    assert [k.shape[0] for k in kept] == [100, 148]
    # padding=True truncates to max_length first
    assert extractor(clips, sampling_rate=16000, padding=True, max_length=120, return_tensors="np")[
        "input_values"].shape == (2, 120, 128)
    with pytest.raises(ValueError, match="is not a valid PaddingStrategy"):
        extractor(clips, sampling_rate=16000, padding="shortest")
    with pytest.raises(ValueError, match="truncation must be True or False"):
        extractor(clips, sampling_rate=16000, truncation="only_first")


def test_arguments_without_effect_are_reported():
    extractor = SpectrogramFeatureExtractor(target_frames=100)
    with captured_log() as log:
        extractor(noisy_tone(8000), sampling_rate=16000, padding=False, pad_to_multiple_of=8)
        extractor(noisy_tone(8000), sampling_rate=16000, padding=True, truncation=False, max_length=50)
    assert "pad_to_multiple_of has no effect with padding=False" in log.out
    assert "max_length has no effect with padding=True and truncation=False" in log.out


def test_attention_mask_marks_audio_frames():
    extractor = SpectrogramFeatureExtractor(target_frames=100, return_attention_mask=True)
    clips = [noisy_tone(8000), noisy_tone(40000)]
    with captured_log() as log:
        out = extractor(clips, sampling_rate=16000, return_tensors="np")
    assert "attend to every frame" in log.out  # says that the models do not apply it
    assert out["attention_mask"].shape == (2, 100) and out["attention_mask"].dtype == np.int32
    assert out["attention_mask"].sum(axis=1).tolist() == [48, 100]
    assert out["attention_mask"][0, :48].all() and not out["attention_mask"][0, 48:].any()
    assert "attention_mask" not in extractor(clips, sampling_rate=16000, return_attention_mask=False)


def test_pad_handles_waveforms_as_transformers_sequence_extractors_do():
    """`pad()` of raw audio against transformers' Wav2Vec2 extractor (a SequenceFeatureExtractor for mono audio)."""
    from transformers import Wav2Vec2FeatureExtractor

    reference = Wav2Vec2FeatureExtractor(feature_size=1, padding_value=0.0, return_attention_mask=True,
                                         do_normalize=False)
    ours = SpectrogramFeatureExtractor(return_attention_mask=True)
    waves = [noisy_tone(1000, seed=1), noisy_tone(2500, seed=2), noisy_tone(1700, seed=3)]
    cases = [{}, {"padding": "max_length", "max_length": 3000}, {"max_length": 1200, "truncation": True},
             {"pad_to_multiple_of": 512}, {"padding": False, "max_length": 900, "truncation": True}]
    for kwargs in cases:
        for as_tensor in (False, True):
            items = [{"input_values": torch.from_numpy(w) if as_tensor else w} for w in waves]
            got = ours.pad(items, **kwargs)
            expected = reference.pad([dict(i) for i in items], **kwargs)
            for key in ("input_values", "attention_mask"):
                for g, e in zip(got[key], expected[key]):
                    np.testing.assert_array_equal(np.asarray(g), np.asarray(e))
            assert isinstance(got["input_values"][0], torch.Tensor) == as_tensor


def test_pad_of_spectrograms_matches_the_extractors_own_padding():
    """Trainer's DataCollatorWithPadding calls pad() on the extractor's output: padded frames must be the ones
    `__call__` writes, and the mask the one it returns."""
    extractor = SpectrogramFeatureExtractor(target_frames=100)
    clips = [noisy_tone(8000, seed=1), noisy_tone(20000, seed=2)]
    ragged = extractor(clips, sampling_rate=16000, padding=False)["input_values"]
    padded = extractor.pad([{"input_values": r, "labels": i} for i, r in enumerate(ragged)], return_tensors="pt",
                           return_attention_mask=True)
    direct = extractor(clips, sampling_rate=16000, padding=True, return_attention_mask=True, return_tensors="pt")
    torch.testing.assert_close(padded["input_values"], direct["input_values"])
    assert torch.equal(padded["attention_mask"], direct["attention_mask"].to(padded["attention_mask"].dtype))
    assert padded["labels"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="pad\\(\\) takes mono waveforms \\(samples,\\) or spectrograms"):
        extractor.pad({"input_values": [np.zeros((2, 4000), dtype=np.float32)]})
