"""transformers' audio-classification example's data path, run on each specformers family: `AutoFeatureExtractor`
with `return_attention_mask=True` (the example's default), the extractor in `datasets.set_transform`, Trainer's
`DataCollatorWithPadding` (it calls the extractor's `pad()`, which adds the mask) and Trainer itself. Written here
after the example's steps; the example script is not part of the transformers package."""

import numpy as np
import pytest
import soundfile
import torch
from audio_helpers import chirp, noisy_tone
from datasets import Audio, load_dataset
from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification, Trainer, TrainingArguments

from specformers import SpectrogramFeatureExtractor
from specformers.families import FAMILIES

RATE = 22050  # files at another rate than the model's: datasets resamples them, as in the example


@pytest.fixture(scope="module")
def audiofolder(tmp_path_factory):
    """train/ and validation/ with one folder per class (the labels), 1-1.5 s clips."""
    root = tmp_path_factory.mktemp("sounds")
    makers = {"tone": lambda n, i: noisy_tone(n, rate=RATE, freq=500 + 40 * i, seed=i),
              "sweep": lambda n, i: chirp(n, rate=RATE, low=100 + 30 * i),
              "noise": lambda n, i: (0.3 * np.random.RandomState(i).standard_normal(n)).astype(np.float32)}
    for split, count in (("train", 4), ("validation", 2)):
        for label, make in makers.items():
            (root / split / label).mkdir(parents=True)
            for i in range(count):
                samples = int(RATE * (1.0 + 0.5 * i / count))
                soundfile.write(root / split / label / f"{label}{i}.wav", make(samples, i), RATE)
    return root


def random_window(wav: np.ndarray, seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A random `seconds`-long piece of `wav` (the whole clip if it is shorter), as the example crops."""
    length = int(round(seconds * rate))
    if len(wav) <= length:
        return wav
    start = rng.integers(0, len(wav) - length + 1)
    return wav[start:start + length]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.key)
def test_the_example_data_path_trains_and_evaluates(family, audiofolder, tmp_path):
    encoder_dir = tmp_path / "encoder"  # a pretrained encoder and its extractor, as the scripts save them
    family.model_class(family.config_class.from_preset(family.tiny_preset, target_frames=96)).save_pretrained(
        encoder_dir)
    SpectrogramFeatureExtractor.from_preset("speech_commands", target_frames=96).save_pretrained(encoder_dir)

    data = load_dataset("audiofolder", data_dir=str(audiofolder))
    extractor = AutoFeatureExtractor.from_pretrained(encoder_dir, return_attention_mask=True)
    assert isinstance(extractor, SpectrogramFeatureExtractor) and extractor.return_attention_mask
    data = data.cast_column("audio", Audio(sampling_rate=extractor.sampling_rate))
    input_name = extractor.model_input_names[0]
    rng = np.random.default_rng(0)

    def train_transforms(batch):
        wavs = [random_window(audio["array"], 1.0, extractor.sampling_rate, rng) for audio in batch["audio"]]
        inputs = extractor(wavs, sampling_rate=extractor.sampling_rate)
        return {input_name: inputs.get(input_name), "labels": list(batch["label"])}

    def val_transforms(batch):
        inputs = extractor([audio["array"] for audio in batch["audio"]], sampling_rate=extractor.sampling_rate)
        return {input_name: inputs.get(input_name), "labels": list(batch["label"])}

    data["train"].set_transform(train_transforms, output_all_columns=False)
    data["validation"].set_transform(val_transforms, output_all_columns=False)
    labels = data["train"].features["label"].names
    config = AutoConfig.from_pretrained(encoder_dir, num_labels=len(labels),  # the example's string ids
                                        label2id={label: str(i) for i, label in enumerate(labels)},
                                        id2label={str(i): label for i, label in enumerate(labels)},
                                        finetuning_task="audio-classification")
    model = AutoModelForAudioClassification.from_pretrained(encoder_dir, config=config)
    seen = []
    model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs), with_kwargs=True)

    def accuracy(prediction):
        return {"accuracy": float(np.mean(prediction.predictions.argmax(-1) == prediction.label_ids))}

    arguments = TrainingArguments(output_dir=str(tmp_path / "run"), max_steps=3, per_device_train_batch_size=4,
                                  per_device_eval_batch_size=3, learning_rate=1e-3, remove_unused_columns=False,
                                  use_cpu=True, report_to=[], save_strategy="no", logging_steps=1,
                                  dataloader_num_workers=0, seed=0)
    trainer = Trainer(model=model, args=arguments, train_dataset=data["train"], eval_dataset=data["validation"],
                      compute_metrics=accuracy, processing_class=extractor)
    result = trainer.train()
    metrics = trainer.evaluate()

    assert result.global_step == 3 and np.isfinite(result.training_loss)
    assert np.isfinite(metrics["eval_loss"]) and 0.0 <= metrics["eval_accuracy"] <= 1.0
    first = seen[0]
    assert first["input_values"].shape == (4, 96, 128)
    assert first["attention_mask"].shape == (4, 96)  # added by the collator's pad(); accepted, not applied
    assert torch.all(first["attention_mask"] == 1)
