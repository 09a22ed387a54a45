"""The pieces of the classifier script, each against hand-computed values: shipped metric modules, confusion report,
AST's augmentations, label encoding and the collator."""

import json
import math

import numpy as np
import pytest
import torch
from audio_helpers import noisy_tone
from training_helpers import wav_bytes
from transformers import EvalPrediction

from specformers import SpectrogramFeatureExtractor
from specformers.feature_extraction.augmentations import noise_and_roll, spec_augment, waveform_mixup
from specformers.training.classification_data import (
    IGNORED,
    MULTI_LABEL,
    SINGLE_LABEL,
    ClassificationCollator,
    LabelEncoder,
    SkipCounter,
    readable_rows,
)
from specformers.training.confusion_report import confusion_matrix, per_class_report
from specformers.training.metrics import load_metric, make_compute_metrics


def test_accuracy_and_top_k():
    metric = load_metric(SINGLE_LABEL)
    scores = [[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5]]
    assert metric.compute(predictions=scores, references=[1, 2, 2]) == {"accuracy": 2 / 3}  # 3 classes: no top-5
    scores = np.array([[6, 5, 4, 3, 2, 1, 0]] * 3, dtype=np.float32)  # class 0 scores highest, class 6 lowest
    results = metric.compute(predictions=scores, references=[0, 4, 5])
    assert results == {"accuracy": 1 / 3, "top_5_accuracy": 2 / 3}  # class 5 is 6th


def test_audioset_metrics_by_hand():
    metric = load_metric(MULTI_LABEL)
    scores = [[0.9, 0.5], [0.8, 0.4], [0.3, 0.2], [0.1, 0.6]]
    targets = [[1, 1], [0, 1], [1, 1], [0, 1]]  # the second class has no negative: left out
    results = metric.compute(predictions=scores, references=targets)
    # class 0 ranked: 0.9 (+), 0.8 (-), 0.3 (+), 0.1 (-): precision 1 at the first hit, 2/3 at the second
    assert results["mAP"] == pytest.approx((1 + 2 / 3) / 2)
    assert results["mAUC"] == pytest.approx(3 / 4)  # 3 of the 4 positive-negative pairs are in order
    assert results["d_prime"] == pytest.approx(math.sqrt(2) * 0.6744897501960817)  # inverse normal CDF of 0.75
    assert results["scored_classes"] == 1


def test_confusion_report_by_hand():
    counts = confusion_matrix(np.array([0, 1, 1, 2, 2, 2]), np.array([0, 0, 1, 2, 2, 1]), 3)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 2]]
    report = per_class_report(counts, ["a", "b", "c"])
    assert report["a"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert report["c"]["precision"] == pytest.approx(2 / 3) and report["c"]["recall"] == 1.0


def test_spec_augment_masks_one_band_and_one_span():
    features = torch.randn(40, 16)
    rng = np.random.default_rng(0)
    for _ in range(20):
        masked = spec_augment(features, rng, freqm=5, timem=7, fill=9.0)
        hit = masked == 9.0
        bins, frames = hit.all(0).sum().item(), hit.all(1).sum().item()
        assert bins <= 4 and frames <= 6  # widths drawn from 0..max-1, as torchaudio's masking
        assert torch.equal(masked[~hit], features[~hit])
        if bins:  # the band is contiguous
            band = hit.all(0).nonzero().flatten()
            assert (band.diff() == 1).all()
    assert torch.equal(spec_augment(features, rng, 0, 0, 9.0), features)


def test_noise_and_roll():
    features = torch.arange(20.0)[:, None].repeat(1, 4)
    rolled = noise_and_roll(features, np.random.default_rng(1), max_noise=0.0)
    shift = int(-rolled[0, 0].item()) % 20  # row 0 now holds the row `shift` places before it
    assert torch.equal(rolled, torch.roll(features, shift, dims=0))
    noisy = noise_and_roll(torch.zeros(20, 4), np.random.default_rng(2), max_noise=0.1)
    assert (noisy >= 0).all() and (noisy < 0.1).all() and noisy.std() > 0


def test_waveform_mixup_formula():
    a, b = np.ones(4, np.float32), np.array([3.0, 3.0], np.float32)
    mixed = waveform_mixup(a, b, 0.25)
    expected = np.array([0.25 + 2.25, 0.25 + 2.25, 0.25, 0.25])
    np.testing.assert_allclose(mixed, expected - expected.mean())


def test_label_encoder():
    single = LabelEncoder(["cat", "dog"], None, SINGLE_LABEL, "validation")
    assert single.encode("dog") == 1
    with pytest.raises(ValueError, match="Label 'cow' in the 'validation' split is not one of the model's 2 labels"):
        single.encode("cow")
    multi = LabelEncoder(["cat", "dog", "owl"], None, MULTI_LABEL, "train")
    np.testing.assert_array_equal(multi.encode("owl, cat"), [1, 0, 1])
    np.testing.assert_array_equal(multi.encode(["dog"]), [0, 1, 0])


def _examples():
    rows = [(noisy_tone(12000, freq=300, seed=0), 16000, "low"), (noisy_tone(6000, rate=8000, freq=3000), 8000, "high"),
            (noisy_tone(16000, freq=2900, seed=2), 16000, "high")]
    examples = [{"audio": {"bytes": wav_bytes(clip, rate), "path": None}, "label": label} for clip, rate, label in rows]
    examples.insert(1, {"audio": {"bytes": b"not audio", "path": "broken.wav"}, "label": "low"})
    return rows, examples


def test_evaluation_collator_takes_the_first_window_and_resamples():
    extractor = SpectrogramFeatureExtractor.from_preset("speech_commands", target_frames=48)
    skipped = SkipCounter()
    collator = ClassificationCollator(extractor, LabelEncoder(["high", "low"], None, SINGLE_LABEL, "validation"),
                                      "audio", "label", skipped)
    rows, examples = _examples()
    batch = collator(examples)  # the unreadable clip keeps its row, as a placeholder the scores leave out
    assert skipped.value == 1 and batch["labels"].tolist() == [1, IGNORED, 0, 0]
    assert readable_rows(batch["labels"]).tolist() == [True, False, True, True]
    first = extractor(rows[0][0], sampling_rate=16000, return_tensors="pt")["input_values"][0]  # truncates
    torch.testing.assert_close(batch["input_values"][0], first, atol=1e-3, rtol=0)
    at_8k = extractor({"array": rows[1][0], "sampling_rate": 8000}, return_tensors="pt")["input_values"][0]
    torch.testing.assert_close(batch["input_values"][2], at_8k, atol=1e-3, rtol=0)
    torch.testing.assert_close(batch["input_values"][1], torch.full((48, 128), collator.mask_value))
    only_broken = collator(examples[1:2])
    assert only_broken["input_values"].shape == (1, 48, 128) and only_broken["labels"].tolist() == [IGNORED]
    assert skipped.value == 2

    multi = ClassificationCollator(extractor, LabelEncoder(["high", "low"], None, MULTI_LABEL, "validation"),
                                   "audio", "label", SkipCounter())
    targets = multi(examples)["labels"]
    assert targets.tolist()[1] == [IGNORED, IGNORED] and readable_rows(targets).tolist() == [True, False, True, True]


def test_metrics_leave_placeholder_rows_out():
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]], dtype=np.float32)
    single = make_compute_metrics(SINGLE_LABEL)
    assert single(EvalPrediction(scores, np.array([0, IGNORED, 1]))) == {"accuracy": 1.0}
    assert single(EvalPrediction(scores, np.array([0, 0, 1]))) == {"accuracy": 2 / 3}
    multi = make_compute_metrics(MULTI_LABEL)
    targets = np.array([[1, 0], [IGNORED, IGNORED], [0, 1]], dtype=np.float32)
    assert multi(EvalPrediction(scores, targets)) == multi(EvalPrediction(scores[[0, 2]], targets[[0, 2]]))
    with pytest.raises(ValueError, match="no readable clip"):
        single(EvalPrediction(scores[1:2], np.array([IGNORED])))


def test_training_collator_mixes_targets():
    class Augment:
        freqm, timem, mixup, noise = 8, 8, 1.0, True

    extractor = SpectrogramFeatureExtractor.from_preset("speech_commands", target_frames=48)
    collator = ClassificationCollator(extractor, LabelEncoder(["high", "low"], None, SINGLE_LABEL, "train"),
                                      "audio", "label", SkipCounter(), Augment())
    batch = collator(list(enumerate(_examples()[1])))
    targets = batch["labels"]
    assert targets.shape == (3, 2) and targets.dtype == torch.float32
    torch.testing.assert_close(targets.sum(1), torch.ones(3))
    assert ((targets > 0.1) & (targets < 0.9)).any()  # Beta(10, 10) weights are rarely extreme
    assert batch["input_values"].shape == (3, 48, 128) and torch.isfinite(batch["input_values"]).all()
    with pytest.raises(TypeError, match="takes \\(index, example\\) items"):
        collator(_examples()[1])


def _augmenting_collator_and_items(mixup: float) -> tuple[ClassificationCollator, list]:
    """A training collator with every augmentation, and three `(index, example)` items."""
    class Augment:
        freqm, timem, noise = 8, 8, True

    Augment.mixup = mixup
    extractor = SpectrogramFeatureExtractor.from_preset("speech_commands", target_frames=24)
    collator = ClassificationCollator(extractor, LabelEncoder(["high", "low"], None, SINGLE_LABEL, "train"),
                                      "audio", "label", SkipCounter(), Augment(), seed=3)
    examples = _examples()[1]
    return collator, [(10, examples[0]), (11, examples[2]), (12, examples[3])]


def test_training_collator_draws_per_clip_by_seed_epoch_and_index():
    """A clip's window and augmentation depend on (seed, epoch, process, index) only, not on its batch or on
    torch's random state, so a resumed run or another DataLoader worker count draws the same."""
    collator, items = _augmenting_collator_and_items(mixup=0.0)
    examples = _examples()[1]
    together = collator(items)["input_values"]
    torch.manual_seed(123)
    alone = collator(items[1:2])["input_values"][0]
    torch.testing.assert_close(alone, together[1], rtol=0, atol=0)
    assert not torch.equal(collator([(13, examples[2])])["input_values"][0], alone)  # another index
    collator.epoch = 1
    assert not torch.equal(collator(items[1:2])["input_values"][0], alone)  # another epoch


def test_persistent_workers_draw_each_epochs_augmentation():
    """A DataLoader worker kept from epoch to epoch reads the epoch the training loop sets (it is in shared
    memory), so it draws what the main process draws for that epoch, not what it drew in its first."""
    collator, items = _augmenting_collator_and_items(mixup=0.5)
    loader = torch.utils.data.DataLoader(items, batch_size=3, collate_fn=collator, num_workers=1,
                                         persistent_workers=True)
    drawn = []
    for epoch in (0, 1, 2):
        collator.epoch = epoch
        batch = next(iter(loader))
        in_process = collator(items)
        torch.testing.assert_close(batch["input_values"], in_process["input_values"], rtol=0, atol=0)
        torch.testing.assert_close(batch["labels"], in_process["labels"], rtol=0, atol=0)
        drawn.append(batch["input_values"])
    assert not torch.equal(drawn[0], drawn[1]) and not torch.equal(drawn[1], drawn[2])


@pytest.mark.parametrize("workers", [0, 1])
def test_streamed_training_data_is_reshuffled_every_epoch(workers):
    """Also by a worker kept from epoch to epoch (the default when there are workers): datasets shares the
    stream's epoch with it."""
    from datasets import Dataset

    from specformers.training.train_classifier import StreamLoader

    stream = Dataset.from_dict({"x": list(range(32))}).to_iterable_dataset(num_shards=4).shuffle(seed=0,
                                                                                                buffer_size=8)
    loader = StreamLoader(stream, batch_size=32, collate_fn=column_x, num_workers=workers,
                          persistent_workers=workers > 0)
    orders = []
    for epoch in (0, 1, 0):
        loader.set_epoch(epoch)
        orders.append(next(iter(loader)))
    assert sorted(orders[0]) == list(range(32)) and orders[0] != orders[1] and orders[0] == orders[2]


def column_x(rows: list[dict]) -> list:
    return [row["x"] for row in rows]


def test_plot_losses_reads_both_log_kinds_and_explains_a_wrong_folder(tmp_path):
    from specformers.training.plot_losses import curves, plot_losses, read_log

    (tmp_path / "pre").mkdir()
    (tmp_path / "pre" / "train_log.jsonl").write_text(
        "\n".join(json.dumps({"step": s, "epoch": 0, "loss": 3.0 / s, "global": 1.0 / s, "learning_rate": 1e-4})
                  for s in (1, 2, 3)))
    assert set(curves(read_log(tmp_path / "pre"))) == {"loss", "global"}
    (tmp_path / "clf").mkdir()
    (tmp_path / "clf" / "trainer_state.json").write_text(json.dumps({"log_history": [
        {"step": 5, "loss": 1.0, "grad_norm": 2.0}, {"step": 5, "eval_loss": 0.9, "eval_accuracy": 0.5,
                                                     "eval_runtime": 0.1},
        {"step": 5, "train_runtime": 3.0, "train_loss": 1.0}]}))
    series = curves(read_log(tmp_path / "clf"))
    assert series == {"loss": ([5], [1.0]), "eval_loss": ([5], [0.9]), "eval_accuracy": ([5], [0.5])}
    assert plot_losses(tmp_path / "clf", str(tmp_path / "clf" / "curves.png")).endswith("curves.png")
    assert (tmp_path / "clf" / "curves.png").stat().st_size > 5_000
    with pytest.raises(FileNotFoundError, match="neither train_log.jsonl"):
        read_log(tmp_path)


def test_label_smoothing_of_class_indices_and_soft_targets():
    from types import SimpleNamespace

    from specformers.modeling.classification import classification_loss

    config = SimpleNamespace(problem_type="single_label_classification", num_labels=3)
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    soft = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.0, 1.0]])
    for targets, dense in ((torch.tensor([0, 2]), torch.eye(3)[[0, 2]]), (soft, soft)):
        smoothed = dense * 0.9 + 0.1 / 3
        expected = -(smoothed * logits.log_softmax(-1)).sum(-1).mean()
        torch.testing.assert_close(classification_loss(logits, targets, config, label_smoothing=0.1), expected)
