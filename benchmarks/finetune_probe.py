"""Does a pretrained encoder help? A short fine-tune of a saved specformers encoder against the same architecture
from random initialisation, on an audiofolder corpus with train and test splits (e.g. one built by
`corpora/make_corpus.py --tasks kws`); prints the mean training loss of the first and last 15 steps and the test
accuracy of each.

    python benchmarks/finetune_probe.py PRETRAINED_DIR CORPUS_DIR [--steps 150] [--batch 32] [--learning_rate 3e-4]

Features are computed once with the encoder's saved feature extractor (no augmentation), so both sides see the
same batches in the same order. The training scripts are the way to fine-tune properly; this is a quick probe.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification

import specformers  # noqa: F401  (registers the models)
from specformers.training.data import decode_audio_value, load_audio_dataset


def features_and_labels(corpus: str, split: str, extractor, names: list[str] | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """`(clips, frames, mel_bins)` features, `(clips,)` label indices and the label names of one split (`names`
    from the training split, or discovered: a `ClassLabel` column or the sorted distinct strings)."""
    dataset = load_audio_dataset(corpus, None, split, "audio")
    feature = dataset.features["label"]
    names = names or getattr(feature, "names", None) or sorted(set(dataset["label"]))
    labels = [label if isinstance(label, int) else names.index(label) for label in dataset["label"]]
    clips = [decode_audio_value(value) for value in dataset["audio"]]
    clips = [(audio if audio.ndim == 1 else audio.mean(1), rate) for audio, rate in clips]
    rate = extractor.sampling_rate
    if any(r != rate for _, r in clips):
        raise ValueError(f"the probe expects {rate} Hz clips; resample the corpus first")
    features = extractor([audio for audio, _ in clips], sampling_rate=rate, return_tensors="pt")["input_values"]
    return features, torch.tensor(labels), names


def fine_tune(model, train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor],
              args) -> tuple[float, float, float]:
    """(mean loss of the first 15 steps, of the last 15, test accuracy) after `args.steps` AdamW steps."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate)
    generator = torch.Generator().manual_seed(args.seed)
    losses = []
    model.train()
    for _ in range(args.steps):
        index = torch.randint(len(train[0]), (args.batch,), generator=generator)
        loss = model(train[0][index], labels=train[1][index]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        predictions = torch.cat([model(chunk).logits.argmax(-1) for chunk in test[0].split(64)])
    accuracy = (predictions == test[1]).float().mean().item()
    return float(np.mean(losses[:15])), float(np.mean(losses[-15:])), accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pretrained_dir")
    parser.add_argument("corpus_dir")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    extractor = AutoFeatureExtractor.from_pretrained(args.pretrained_dir)
    *train, names = features_and_labels(args.corpus_dir, "train", extractor)
    *test, _ = features_and_labels(args.corpus_dir, "test", extractor, names)
    labels = {"num_labels": len(names), "id2label": dict(enumerate(names))}

    print(f"{len(train[0])} training clips, {len(test[0])} test clips, {len(names)} classes "
          f"(chance {1 / len(names):.3f}); {args.steps} steps of {args.batch}\n")
    print("| encoder | loss, first 15 steps | loss, last 15 steps | test accuracy |")
    print("|---|---|---|---|")
    torch.manual_seed(args.seed)
    pretrained = AutoModelForAudioClassification.from_pretrained(args.pretrained_dir, **labels)
    first, last, accuracy = fine_tune(pretrained, train, test, args)
    print(f"| pretrained ({args.pretrained_dir}) | {first:.3f} | {last:.3f} | {accuracy:.3f} |")
    torch.manual_seed(args.seed)
    scratch = AutoModelForAudioClassification.from_config(AutoConfig.from_pretrained(args.pretrained_dir, **labels))
    first, last, accuracy = fine_tune(scratch, train, test, args)
    print(f"| random initialisation | {first:.3f} | {last:.3f} | {accuracy:.3f} |")


if __name__ == "__main__":
    main()
