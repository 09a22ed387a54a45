"""What the small-scale studies share (`reproduce_claims.py`, `mast_long_to_short.py`): the tiny sizes, the
feature settings, the pinned optimisation of the claims study, the fine-tuning run that scores a test split, and
the description of a corpus and of the machine in their reports."""

from __future__ import annotations

import json
import os

from common import KEYWORD_VIT_OVERRIDES as VIT  # noqa: F401 (the studies import it from here)
from common import cpu_name

FEATURES = ["--feature_extractor_preset", "speech_commands", "--target_frames", 96]

# The optimisation the recorded study ran with (specformers' defaults before the fidelity pass made the scripts
# follow the authors'), pinned so that reruns stay comparable. Not pinnable: ASiT's weight-decay groups (tokens
# and positions are decayed now) and its roll (of the waveform now, of each view's spectrogram then).
STUDY_SSMAST = ["--optimizer", "adamw", "--lr_scheduler_type", "cosine", "--weight_decay", 0.04,
                "--weight_decay_end", 0.4, "--max_grad_norm", 3.0, "--clip_grad_mode", "global",
                "--teacher_momentum", 0.99, "--teacher_momentum_schedule", "cosine"]
STUDY_SSMAST_OBJECTIVE = "mixup_memory_size=256,mixup_position=after_crop"
STUDY_ASIT = ["--clip_grad_mode", "global", "--freeze_last_layer_epochs", 0]


def finetune_argv(start: list, data: str, out: str, steps: int, seed: int) -> list:
    """train_classifier arguments: train `steps`, then score the test split."""
    return [*start, "--dataset_name", data, "--output_dir", out, *FEATURES, "--do_train", "--do_eval",
            "--eval_split_name", "test", "--max_steps", steps, "--per_device_train_batch_size", 32,
            "--learning_rate", 3e-4, "--weight_decay", 0.05, "--warmup_steps", max(1, steps // 10),
            "--lr_scheduler_type", "cosine", "--noise", "--logging_steps", max(1, steps // 10),
            "--eval_strategy", "no", "--save_strategy", "no", "--dataloader_num_workers", 2, "--seed", seed,
            "--report_to", "none", "--disable_tqdm", "true"]


def probe_argv(start: list, data: str, out: str, steps: int, seed: int) -> list:
    """train_classifier arguments of a linear probe: the encoder frozen, its embeddings computed once, the head
    trained `steps` (no augmentation: the embeddings are of the clean clips), then the test split scored. The
    learning rate comes from a sweep on one arm (kws, AST + SS-MAST, seed 0, 600 steps): 3e-3 0.167, 1e-2 0.183,
    3e-2 0.208, 1e-1 0.229 test accuracy; lower rates leave the head undertrained."""
    return [*start, "--dataset_name", data, "--output_dir", out, *FEATURES, "--do_train", "--do_eval",
            "--eval_split_name", "test", "--freeze_encoder", "--probe_on_embeddings", "--max_steps", steps,
            "--per_device_train_batch_size", 32, "--learning_rate", 0.1, "--weight_decay", 0.0,
            "--warmup_steps", max(1, steps // 10), "--lr_scheduler_type", "cosine", "--logging_steps",
            max(1, steps // 10), "--eval_strategy", "no", "--save_strategy", "no", "--dataloader_num_workers", 2,
            "--seed", seed, "--report_to", "none", "--disable_tqdm", "true"]


def machine() -> str:
    """CPU model and core count, for the reports."""
    return f"{cpu_name()}, {os.cpu_count()} cores"


def describe_corpus(task: str, path: str) -> str | None:
    """One line on a corpus built by corpora/make_corpus.py, from the provenance.json it writes beside the task
    folder (None for other corpora)."""
    provenance_path = os.path.join(os.path.dirname(os.path.abspath(path)), "provenance.json")
    if not os.path.isfile(provenance_path):
        return None
    with open(provenance_path) as f:
        provenance = json.load(f)
    if task not in provenance:
        return None
    clips = provenance[task]["clips"]
    classes = len(clips["train"])
    sizes = " / ".join(str(sum(clips[split].values())) for split in ("train", "validation", "test"))
    speakers = provenance[task].get("speakers", {}).get("train", [])
    voices = f" ({', '.join(sorted({s.split(':')[0] for s in speakers}))} voices)" if speakers else ""
    return (f"- {task}: `{path}`, {sizes} clips (train / validation / test), {classes} classes (chance "
            f"{1 / classes:.3f}){voices}; built by `{provenance['command']}`.")
