"""The README's main command: `python -m specformers.quickstart [--output_dir DIR]`.

On the small keyword corpus shipped with specformers (`corpora/kws_mini`: six words spoken by espeak-ng voices,
validation and test voices never heard in training), with no download and no GPU, in a few minutes on 2 cores:

1. pretrain a tiny ASiT without labels (GMML reconstruction + self-distillation),
2. draw its loss curves and what it reconstructs from a corrupted spectrogram,
3. fine-tune the pretrained encoder as a keyword classifier and evaluate it on the validation split,
4. score the test split,
5. classify a test clip with `pipeline("audio-classification")` and a 4-word clip window by window,
6. export the classifier as a remote-code folder for the Hub,

printing each step's own command (run it alone to change a setting) and where every file went.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from .training.script_runner import run_step

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpora", "kws_mini")


def pretrain_argv(data: str, out: str, steps: int, seed: int) -> list:
    return ["--dataset_name", data, "--output_dir", out, "--config_name", "asit-tiny",
            "--feature_extractor_preset", "speech_commands", "--target_frames", 96,
            "--per_device_train_batch_size", 32, "--max_steps", steps, "--learning_rate", 5e-4,
            "--warmup_steps", max(1, steps // 10), "--teacher_temperature_warmup_steps", max(1, steps // 5),
            "--teacher_momentum", 0.99, "--logging_steps", max(1, steps // 30), "--dataloader_num_workers", 1,
            "--seed", seed]


def finetune_argv(data: str, encoder: str, out: str, steps: int, seed: int) -> list:
    return ["--model_name_or_path", encoder, "--dataset_name", data, "--output_dir", out, "--do_train", "--do_eval",
            "--max_steps", steps, "--per_device_train_batch_size", 32, "--learning_rate", 5e-4,
            "--weight_decay", 0.05, "--warmup_steps", max(1, steps // 10), "--lr_scheduler_type", "cosine",
            "--noise", "--logging_steps", max(1, steps // 30), "--eval_strategy", "steps",
            "--eval_steps", max(1, steps // 4), "--save_strategy", "no", "--dataloader_num_workers", 2,
            "--seed", seed, "--report_to", "none", "--disable_tqdm", "true"]


def test_clips(data: str, count: int) -> list[tuple[str, np.ndarray, int]]:
    """(label, samples, rate) of the first test clip of `count` different words."""
    import io

    import pyarrow.parquet as pq
    import soundfile

    table = pq.read_table(os.path.join(data, "test.parquet")).to_pylist()
    clips, seen = [], set()
    for row in table:
        if row["label"] not in seen:
            seen.add(row["label"])
            audio, rate = soundfile.read(io.BytesIO(row["audio"]["bytes"]), dtype="float32")
            clips.append((row["label"], audio, rate))
    return clips[:count]


def classify_examples(model_dir: str, data: str) -> None:
    """One test clip through the pipeline, and four words in a row through sliding windows."""
    from transformers import pipeline

    from specformers import classify_long_audio

    print("\n== 5. Classify test clips (import specformers; pipeline + classify_long_audio, see the README)")
    classifier = pipeline("audio-classification", model=model_dir)
    clips = test_clips(data, 4)
    label, audio, rate = clips[0]
    predictions = classifier({"array": audio, "sampling_rate": rate}, top_k=3)
    print(f"\nA test clip of {label!r} through pipeline('audio-classification'):")
    for p in predictions:
        print(f"  {p['label']:>6}: {p['score']:.3f}")
    words = [c[0] for c in clips]
    long_clip = np.concatenate([c[1] for c in clips])
    result = classify_long_audio(classifier, {"array": long_clip, "sampling_rate": rate}, hop_seconds=0.5,
                                 top_k=1)
    first = result["windows"][0]
    print(f"\nThe test words {words} in a row ({result['duration']:.2f} s), window by window "
          f"({first['end'] - first['start']:.3f} s windows, 0.5 s hop):")
    for window in result["windows"]:
        top = window["labels"][0]
        print(f"  {window['start']:5.3f}-{window['end']:5.3f} s  {top['label']:>6} ({top['score']:.2f})")


def steps(data: str, out: str, pretrain_steps: int, finetune_steps: int, seed: int) -> list[tuple[str, str, list]]:
    """The quickstart's commands in order, each (title, module run with `python -m`, its arguments); the last is the
    export, and the classification examples run before it."""
    encoder, classifier = os.path.join(out, "asit-pretrained"), os.path.join(out, "asit-keywords")
    return [
        ("1. Pretrain a tiny ASiT without labels", "specformers.training.pretrain_asit",
         pretrain_argv(data, encoder, pretrain_steps, seed)),
        ("2a. Its loss curves", "specformers.training.plot_losses", [encoder]),
        ("2b. What it reconstructs", "specformers.training.visualize_gmml",
         ["--checkpoint", os.path.join(encoder, f"checkpoint-{pretrain_steps}"), "--dataset_name", data,
          "--num_clips", 3, "--output", os.path.join(encoder, "gmml_reconstruction.png")]),
        ("3. Fine-tune it on the keywords", "specformers.training.train_classifier",
         finetune_argv(data, encoder, classifier, finetune_steps, seed)),
        ("3b. The fine-tuning curves", "specformers.training.plot_losses", [classifier]),
        ("4. Score the test split (voices never heard in training)", "specformers.training.train_classifier",
         ["--model_name_or_path", classifier, "--dataset_name", data, "--eval_split_name", "test", "--do_eval",
          "--output_dir", os.path.join(classifier, "test"), "--report_to", "none"]),
        ("6. Export the classifier for the Hub (loads with trust_remote_code=True)", "specformers.export_for_hub",
         [classifier, os.path.join(out, "asit-keywords-hub")]),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="quickstart_output")
    parser.add_argument("--data", default=CORPUS, help="corpus folder (train/validation/test splits)")
    parser.add_argument("--pretrain_steps", type=int, default=400)
    parser.add_argument("--finetune_steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.time()
    out = os.path.abspath(args.output_dir)
    encoder, classifier = os.path.join(out, "asit-pretrained"), os.path.join(out, "asit-keywords")
    test_dir, hub_dir = os.path.join(classifier, "test"), os.path.join(out, "asit-keywords-hub")
    *train_and_score, export = steps(args.data, out, args.pretrain_steps, args.finetune_steps, args.seed)
    for title, module, step_argv in train_and_score:
        test_scores = run_step(title, module, step_argv)  # the last step scores the test split
    classify_examples(classifier, args.data)
    run_step(*export)

    with open(os.path.join(classifier, "all_results.json")) as f:
        validation = json.load(f)["eval_accuracy"]
    print(f"\nDone in {time.time() - start:.0f} s. Test accuracy {test_scores['eval_accuracy']:.3f} (validation "
          f"{validation:.3f}; 6 words, chance 0.167). Where everything went:")
    for what, path in [
        ("pretrained encoder + card", encoder),
        ("pretraining loss curves", os.path.join(encoder, "loss_curves.png")),
        ("GMML reconstruction", os.path.join(encoder, "gmml_reconstruction.png")),
        ("classifier + card (README.md)", classifier),
        ("fine-tuning curves", os.path.join(classifier, "loss_curves.png")),
        ("validation confusion matrix", os.path.join(classifier, "eval_confusion_matrix.png")),
        ("test scores + confusion matrix", test_dir),
        ("Hub export (remote code)", hub_dir),
    ]:
        print(f"  {what:<32} {path}")


if __name__ == "__main__":
    main()
