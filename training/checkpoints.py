"""Checkpoints that survive a cluster: each is written whole or not at all, the newest N are kept, and
`--resume_from_checkpoint latest` finds the newest complete one. The pretraining loop saves through
`save_checkpoint`; train_classifier's Trainer (`ClassifierTrainer._save_checkpoint`) follows the same rules.

A checkpoint is written under `checkpoint-N.partial` and renamed to `checkpoint-N` once every process has written
its part; a job killed while writing leaves only the `.partial` folder, which is never resumed from (and is
replaced when the step is saved again). The rename is atomic on a POSIX file system, shared ones included.
"""

from __future__ import annotations

import os
import re
import shutil

from accelerate import Accelerator
from accelerate.logging import get_logger

logger = get_logger(__name__)

PARTIAL = ".partial"
_COMPLETE = re.compile(r"checkpoint-(\d+)")


def save_checkpoint(accelerator: Accelerator, model, output_dir: str, step: int, keep: int | None = None) -> str:
    """`checkpoint-<step>`: Accelerate's state (model, optimiser, random states, registered objects) plus the
    model's config.json, so `...ForPreTraining.from_pretrained(checkpoint)` also opens it. Then only the newest
    `keep` checkpoints stay (all when `keep` is None; the one just written always stays). Every process calls it."""
    final = os.path.join(output_dir, f"checkpoint-{step}")
    partial = final + PARTIAL
    if accelerator.is_main_process and os.path.isdir(partial):  # left by a job killed while saving this step
        shutil.rmtree(partial)
    accelerator.wait_for_everyone()
    accelerator.save_state(partial)
    accelerator.wait_for_everyone()  # every process has written its random states
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).config.save_pretrained(partial)
        move_into_place(partial, final)
        remove_old_checkpoints(output_dir, keep, protected=[final])
    accelerator.wait_for_everyone()
    logger.info(f"Saved {final}")
    return final


def move_into_place(written: str, final: str) -> None:
    """Rename the complete folder `written` to `final`, replacing the folder of the same step that a run resumed
    from an earlier checkpoint may have left."""
    if os.path.isdir(final):
        shutil.rmtree(final)
    os.replace(written, final)


def remove_old_checkpoints(output_dir: str, keep: int | None, protected=()) -> None:
    """Remove the oldest complete checkpoints until `keep` are left, never one of `protected` (the one just
    written, the best one): transformers' `save_total_limit` rule. `keep` None or 0: keep all."""
    if not keep:
        return
    found = complete_checkpoints(output_dir)
    protected = {os.path.normpath(p) for p in protected if p}
    removable = [path for path in found if os.path.normpath(path) not in protected]
    excess = len(found) - max(keep, len(found) - len(removable))
    for old in removable[:max(excess, 0)]:
        shutil.rmtree(old)


def complete_checkpoints(output_dir: str) -> list[str]:
    """The complete `checkpoint-N` folders of `output_dir`, oldest step first."""
    if not os.path.isdir(output_dir):
        return []
    steps = sorted(int(match[1]) for name in os.listdir(output_dir) if (match := _COMPLETE.fullmatch(name)))
    return [os.path.join(output_dir, f"checkpoint-{step}") for step in steps]


def find_checkpoint(output_dir: str, resume_from_checkpoint: str) -> str | None:
    """The folder to resume from: `resume_from_checkpoint` itself, or for 'latest' the newest complete checkpoint
    of `output_dir` (None when there is none yet, so that a requeued job's first start begins from scratch)."""
    if resume_from_checkpoint != "latest":
        if resume_from_checkpoint.rstrip("/").endswith(PARTIAL) or not os.path.isdir(resume_from_checkpoint):
            raise ValueError(f"{resume_from_checkpoint} is not a complete checkpoint folder; give a `checkpoint-N` "
                             "folder or 'latest' (the newest complete one in --output_dir).")
        return resume_from_checkpoint
    found = complete_checkpoints(output_dir)
    return found[-1] if found else None


def incomplete_checkpoints(output_dir: str) -> list[str]:
    """The `checkpoint-N.partial` folders that jobs stopped while writing left in `output_dir`."""
    names = sorted(os.listdir(output_dir)) if os.path.isdir(output_dir) else []
    return [os.path.join(output_dir, name) for name in names if name.endswith(PARTIAL)]


def resume_point(output_dir: str, resume_from_checkpoint: str | None) -> str | None:
    """`find_checkpoint`, with a warning (main process) for each incomplete checkpoint that is passed over."""
    if not resume_from_checkpoint:
        return None
    checkpoint = find_checkpoint(output_dir, resume_from_checkpoint)
    for folder in incomplete_checkpoints(output_dir):
        logger.warning(f"Ignoring {folder}: an incomplete checkpoint, left by a job stopped while writing it.",
                       main_process_only=True)
    return checkpoint
