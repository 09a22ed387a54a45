"""The Accelerate pretraining loop shared by the self-supervised scripts (ASiT, SS-MAST).

One `Accelerator`; per-step schedules computed once (not stepped by `prepare`); checkpoints (`checkpoints.py`)
holding the model (teacher and centres included), optimiser, random states and the data position; exact resume
through `skip_first_batches`; a stop signal ends the run with a checkpoint of its last step (`preemption.py`);
corrupt clips skipped and counted; a non-finite loss stops the run with the step it happened at.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import shlex
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass

import datasets
import numpy as np
import torch
import transformers
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DataLoaderConfiguration, parse_flag_from_env, set_seed
from datasets import IterableDataset
from tqdm.auto import tqdm
from transformers import HfArgumentParser

from ..hub_cards.model_card import encoder_card
from ..hub_push import push_run_to_hub
from .arguments import (
    DataArguments,
    FeatureArguments,
    ModelArguments,
    PretrainingArguments,
    hyperparameters_of,
    parse_arguments,
)
from .checkpoints import resume_point, save_checkpoint
from .data import IndexedExamples, IndexedStream, check_unreadable_share, load_audio_dataset
from .devices import run_on_cpu
from .host_sums import HostSums
from .preemption import PREEMPTED_EXIT_STATUS, StopRequests, ignore_stop_signals
from .schedules import cosine_schedule

logger = get_logger(__name__)
# the settings the encoder's card lists (after the recipe filled them)
PRETRAINING_CARD_FIELDS = ("optimizer", "learning_rate", "lr_scheduler_type", "min_learning_rate", "warmup_steps",
                           "weight_decay", "weight_decay_end", "max_grad_norm", "clip_grad_mode",
                           "per_device_train_batch_size", "gradient_accumulation_steps", "mixed_precision",
                           "seed")


@dataclass
class TrainingState:
    """Where the run is; saved in every checkpoint."""

    step: int = 0  # optimiser steps done
    epoch: int = 0
    batches_in_epoch: int = 0  # batches this process consumed in the current epoch
    skipped_clips: int = 0  # corrupt or unreadable clips, all processes
    seen_clips: int = 0  # readable or not, all processes
    parameter_checksums: tuple = ()  # one per process at the end: equal unless the processes drifted apart

    def state_dict(self) -> dict:
        return dict(vars(self))

    def load_state_dict(self, state: dict) -> None:
        vars(self).update(state)


@dataclass
class StepSchedules:
    """Per-optimiser-step values; scripts may add their own arrays."""

    learning_rate: np.ndarray
    weight_decay: np.ndarray
    extra: dict


class PretrainingObjective(ABC):
    """What a pretraining method brings to the shared loop (`train`). One optimiser step, top to bottom
    (`micro_step`): `loss(model, batch, step)` for every micro-batch, backward, then, at the end of an accumulation
    window, gradient clipping, `before_optimizer_step`, the optimiser, `after_optimizer_step` (e.g. the EMA
    teacher). `make_schedules` runs once, before the first step, when the run's length is known; its result is
    `self.schedules`. Objects in `stateful` go into the checkpoints; `on_log` may add fields to a log record."""

    schedules: StepSchedules
    stateful: tuple = ()

    def prepare(self, total_steps: int, steps_per_epoch: int | None) -> StepSchedules:
        self.schedules = self.make_schedules(total_steps, steps_per_epoch)
        return self.schedules

    @abstractmethod
    def make_schedules(self, total_steps: int, steps_per_epoch: int | None) -> StepSchedules:
        """The run's per-step values (`make_schedules` of this module gives the learning rate and weight decay)."""

    @abstractmethod
    def loss(self, model: torch.nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(the loss to minimise, {term name: tensor} to log) for a batch on the device."""

    def before_optimizer_step(self, model: torch.nn.Module, step: int) -> None:
        """After the gradients are clipped; `model` unwrapped."""

    def after_optimizer_step(self, model: torch.nn.Module, step: int) -> None:
        """After the parameters moved; `model` unwrapped."""

    def on_log(self, record: dict) -> dict | None:
        """Fields to add to a log record (main process only)."""
        return None


# what `accelerate launch --use_fsdp / --use_deepspeed / --use_megatron_lm` (or a config file saying so) sets
SHARDED_BACKENDS = {"ACCELERATE_USE_FSDP": "FSDP", "ACCELERATE_USE_DEEPSPEED": "DeepSpeed",
                    "ACCELERATE_USE_MEGATRON_LM": "Megatron-LM"}


def make_accelerator(args: PretrainingArguments) -> Accelerator:
    # The EMA teacher, its centres and the encoder export work on whole parameters; a sharding backend would need
    # gathers the loop does not do (and on a CPU-only machine Accelerate would quietly fall back to DDP).
    for variable, backend in SHARDED_BACKENDS.items():
        if parse_flag_from_env(variable):
            raise ValueError(f"The pretraining scripts run data-parallel only, but {backend} was requested. Launch "
                             f"with `accelerate launch --multi_gpu --num_processes N` (DDP; the largest presets, "
                             f"ViT-B and MAST-B, fit one GPU) and without --use_{backend.lower().replace('-', '_')}.")
    accelerator = Accelerator(
        cpu=run_on_cpu(args.use_cpu),
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        dynamo_backend=args.torch_compile_backend if args.torch_compile else None,
        log_with=None if args.report_to == "none" else args.report_to,
        project_dir=args.output_dir,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    set_seed(args.seed)
    return accelerator


def set_up_logging(level: str, main_process: bool) -> None:
    """Messages of specformers, transformers and datasets at `level` on the main process (warnings and errors on
    the others), with the time and where they come from."""
    number = logging.getLevelName(level.upper()) if main_process else logging.WARNING
    if not isinstance(number, int):
        raise ValueError(f"--log_level must be one of debug, info, warning, error; got {level!r}.")
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("specformers").setLevel(number)
    transformers.utils.logging.set_verbosity(number)
    datasets.utils.logging.set_verbosity(number)


def make_optimizer(model: torch.nn.Module, weight_decay: float, name: str = "adamw") -> torch.optim.Optimizer:
    """AdamW (the fused kernel: one pass over all parameters instead of one per tensor) or SGD with momentum 0.9
    (SS-MAST's authors' code), over `parameter_groups`. The schedules set the learning rate and decay each step."""
    groups = parameter_groups(model, weight_decay)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=0.0, momentum=0.9)
    return torch.optim.AdamW(groups, fused=True)


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Decay on matrices only: biases and every 1-D tensor (norms) are exempt, and so is whatever the model names
    in `no_weight_decay()` (e.g. MAST's relative-position tables); trainable parameters only."""
    exempt = model.no_weight_decay() if hasattr(model, "no_weight_decay") else set()
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim <= 1 or name in exempt else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay, "decays": True},
            {"params": no_decay, "weight_decay": 0.0, "decays": False}]


def clip_gradients(accelerator: Accelerator, model: torch.nn.Module, max_norm: float, mode: str) -> None:
    """`global`: scale all gradients together so that their joint norm is at most `max_norm`; `per_tensor`: scale
    each parameter's gradient on its own (DINO's `clip_gradients`, what ASiT's authors use). On the device, with
    no host synchronisation."""
    if mode == "global":
        accelerator.clip_grad_norm_(model.parameters(), max_norm)
        return
    accelerator.unscale_gradients()
    gradients = [p.grad for p in model.parameters() if p.grad is not None]
    if gradients:
        scales = [(max_norm / (norm + 1e-6)).clamp(max=1.0) for norm in torch._foreach_norm(gradients)]
        torch._foreach_mul_(gradients, scales)


def make_dataloader(dataset, collator, args: PretrainingArguments, num_workers: int, accelerator: Accelerator):
    """Map-style data goes through `accelerator.prepare` (seeded shuffling, sharded per process); a stream was
    already split per process with `split_dataset_by_node`, so it is not sharded again."""
    streaming = isinstance(dataset, IterableDataset)
    generator = torch.Generator().manual_seed(args.seed)
    loader = torch.utils.data.DataLoader(
        IndexedStream(dataset) if streaming else IndexedExamples(dataset), batch_size=args.per_device_train_batch_size,
        shuffle=not streaming, generator=None if streaming else generator, collate_fn=collator,
        num_workers=num_workers, drop_last=True, worker_init_fn=ignore_stop_signals if num_workers else None,
        persistent_workers=num_workers > 0)  # no restart per epoch; the collator's epoch is shared (SharedEpoch)
    return loader if streaming else accelerator.prepare(loader)


def total_steps_and_epochs(args: PretrainingArguments, dataloader) -> tuple[int, int, int | None]:
    """(optimiser steps, epochs, steps per epoch or None for a stream)."""
    try:
        batches = len(dataloader)
    except TypeError:
        batches = None
    if batches is None:
        if args.max_steps <= 0:
            raise ValueError("A streamed dataset has no length: give --max_steps.")
        return args.max_steps, 10**9, None
    steps_per_epoch = math.ceil(batches / args.gradient_accumulation_steps)
    if steps_per_epoch == 0:
        raise ValueError(f"The split has fewer examples than one batch of {args.per_device_train_batch_size} per "
                         "process; lower --per_device_train_batch_size or add data.")
    if args.max_steps > 0:  # as many epochs as it takes: batches without a readable clip do not count as steps
        return args.max_steps, 10**9, steps_per_epoch
    return args.num_train_epochs * steps_per_epoch, args.num_train_epochs, steps_per_epoch


def make_schedules(args: PretrainingArguments, total_steps: int, steps_per_epoch: int | None, default_peak: float,
                   warmup_epochs: int = 0, extra: dict | None = None) -> StepSchedules:
    """Learning rate: linear warm-up (`--warmup_steps`, default `warmup_epochs`), then cosine from `--learning_rate`
    (or `default_peak`) down to `min_learning_rate`, or constant; weight decay: cosine from `weight_decay` to
    `weight_decay_end` (the ASiT/DINO recipe; constant when they are equal)."""
    peak = args.learning_rate if args.learning_rate is not None else default_peak
    warmup = args.warmup_steps if args.warmup_steps is not None else warmup_epochs * (steps_per_epoch or 0)
    end = args.min_learning_rate if args.lr_scheduler_type == "cosine" else peak
    return StepSchedules(
        learning_rate=cosine_schedule(peak, end, total_steps, warmup_steps=warmup),
        weight_decay=cosine_schedule(args.weight_decay, args.weight_decay_end, total_steps),
        extra=extra or {},
    )


def train(args: PretrainingArguments, accelerator: Accelerator, model: torch.nn.Module,
          optimizer: torch.optim.Optimizer, dataloader, collator, objective: PretrainingObjective,
          data_args: DataArguments) -> tuple[TrainingState, str]:
    """Run (or resume) pretraining until the last step (or `--stop_after_steps`, or a stop signal), checkpointing
    on the way. Returns the final state and how the run ended: "finished", "stopped" (`--stop_after_steps`) or
    "preempted" (a stop signal; the last step is checkpointed).

    Args:
        model, optimizer: already prepared.
        dataloader: from `make_dataloader`; its batches are dicts with `num_clips`, `num_skipped` and tensors.
        collator: gets `epoch` set before each epoch (per-example augmentation seeds); finishes each batch on the
            device (`--features_on_device`).
        objective: the method's losses, schedules and hooks.
        data_args: what the data is called in messages, and how much of it may be unreadable.
    """
    total_steps, num_epochs, steps_per_epoch = total_steps_and_epochs(args, dataloader)
    objective.prepare(total_steps, steps_per_epoch)
    state = TrainingState()
    for obj in (state, *objective.stateful):
        accelerator.register_for_checkpointing(obj)
    checkpoint = resume_point(args.output_dir, args.resume_from_checkpoint)
    if checkpoint:
        logger.info(f"Resuming from {checkpoint}")
        accelerator.load_state(checkpoint)
    log_path = os.path.join(args.output_dir, "train_log.jsonl")
    if accelerator.is_main_process:
        os.makedirs(args.output_dir, exist_ok=True)
        keep_log_until(log_path, state.step)  # the steps after the checkpoint run again
    accelerator.init_trackers(args.tracker_project_name or "specformers-pretraining",
                              config={k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))},
                              init_kwargs={"wandb": {"name": args.run_name}, "mlflow": {"run_name": args.run_name}}
                              if args.run_name else {})
    stop_at = min(total_steps, args.stop_after_steps or total_steps)
    progress = tqdm(total=total_steps, initial=state.step, disable=not accelerator.is_local_main_process,
                    desc="pretraining")
    window, host_sums = LossWindow(accelerator), HostSums(accelerator)
    saved_step, preempted = None, False
    data = f"`{data_args.dataset_name}` ({data_args.train_split_name} split)"
    model.train()
    with StopRequests(host_sums) as stops:
        while not preempted and state.step < stop_at and state.epoch < num_epochs:
            collator.epoch = state.epoch
            if hasattr(dataloader, "set_epoch"):
                dataloader.set_epoch(state.epoch)
            elif hasattr(dataloader.dataset, "set_epoch"):
                dataloader.dataset.set_epoch(state.epoch)
            batches = (accelerator.skip_first_batches(dataloader, state.batches_in_epoch) if state.batches_in_epoch
                       else dataloader)
            for batch in batches:
                state.batches_in_epoch += 1
                clips, skipped = batch.pop("num_clips"), batch.pop("num_skipped")
                empty, skipped, seen = host_sums([clips == 0, skipped, clips + skipped])
                state.skipped_clips += skipped
                state.seen_clips += seen
                check_unreadable_share(state.skipped_clips, state.seen_clips, data_args.max_skipped_fraction, data)
                if empty:  # a process has no readable clip: every process skips the batch
                    continue
                batch = {k: v.to(accelerator.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
                batch = collator.finish_on_device(batch)
                seed_micro_step(args.seed, state.epoch, state.batches_in_epoch, accelerator.process_index)
                window.add(*micro_step(args, accelerator, model, optimizer, objective, batch, state.step), state.step)
                if not accelerator.sync_gradients:
                    continue
                state.step += 1
                progress.update(1)
                if state.step % args.logging_steps == 0 or state.step == stop_at:
                    terms = window.read()
                    record = log_record(state, terms, objective.schedules)
                    if accelerator.is_main_process:
                        record.update(objective.on_log(record) or {})
                    progress.set_postfix({k: f"{v:.3g}" for k, v in terms.items()})
                    accelerator.log(record, step=state.step)
                    if accelerator.is_main_process:
                        with open(log_path, "a") as f:
                            f.write(json.dumps(record) + "\n")
                if args.checkpointing_steps and state.step % args.checkpointing_steps == 0:
                    window.check_finite()  # never checkpoint a diverged model
                    save_checkpoint(accelerator, model, args.output_dir, state.step, args.save_total_limit)
                    saved_step = state.step
                preempted = stops.should_stop()
                if preempted or state.step >= stop_at:
                    break
            else:
                check_unreadable_share(state.skipped_clips, state.seen_clips, data_args.max_skipped_fraction, data,
                                       epoch_end=True)
                state.epoch += 1
                state.batches_in_epoch = 0
    progress.close()
    finished = state.step >= total_steps or state.epoch >= num_epochs  # epochs: short by any skipped batches
    status = "finished" if finished else "preempted" if preempted else "stopped"
    window.check_finite()
    if status != "stopped" and saved_step != state.step:
        # the last state: to resume, extend the run or inspect it
        save_checkpoint(accelerator, model, args.output_dir, state.step, args.save_total_limit)
    if preempted:
        logger.warning(f"Stopped by {stops.describe()} at step {state.step}, checkpointed; resume with "
                       "--resume_from_checkpoint latest.")
    checksums = accelerator.gather(parameter_checksum(model)[None].to(accelerator.device))
    state.parameter_checksums = tuple(checksums.tolist())
    if len(set(state.parameter_checksums)) > 1:
        raise RuntimeError(f"The processes' parameters differ at step {state.step} (checksums "
                           f"{state.parameter_checksums}); distributed training went out of sync.")
    if state.skipped_clips:
        logger.warning(f"Skipped {state.skipped_clips} corrupt or unreadable clips of {state.seen_clips}.")
    return state, status


def keep_log_until(log_path: str, step: int) -> None:
    """Drop the log records after `step` (none for a fresh run), so that a resumed run logs each step once."""
    if not os.path.isfile(log_path):
        return
    with open(log_path) as f:
        kept = [line for line in f if line.strip() and json.loads(line)["step"] <= step]
    with open(log_path, "w") as f:
        f.writelines(kept)


def micro_step(args: PretrainingArguments, accelerator: Accelerator, model: torch.nn.Module,
               optimizer: torch.optim.Optimizer, objective: PretrainingObjective, batch: dict, step: int
               ) -> tuple[list[str], torch.Tensor]:
    """One batch of optimiser step `step`: the objective's loss, backward, and at the end of the accumulation
    window clipping, the objective's hooks and the optimiser. Returns the names of the loss and its terms and
    their values on this process, (terms,) on the device: nothing here waits for the accelerator."""
    with accelerator.accumulate(model):
        apply_schedules(optimizer, objective.schedules, step)
        loss, terms = objective.loss(model, batch, step)
        values = torch.stack([loss.detach().float()] + [t.detach().float() for t in terms.values()])
        accelerator.backward(loss)
        if accelerator.sync_gradients:
            if args.max_grad_norm:
                clip_gradients(accelerator, model, args.max_grad_norm, args.clip_grad_mode)
            objective.before_optimizer_step(accelerator.unwrap_model(model), step)
        optimizer.step()
        optimizer.zero_grad()
    if accelerator.sync_gradients:
        objective.after_optimizer_step(accelerator.unwrap_model(model), step)
    return ["loss", *terms], values


def apply_schedules(optimizer: torch.optim.Optimizer, schedules: StepSchedules, step: int) -> None:
    for group in optimizer.param_groups:
        group["lr"] = float(schedules.learning_rate[step])
        if group.get("decays"):
            group["weight_decay"] = float(schedules.weight_decay[step])


class LossWindow:
    """The loss terms since the last log record, summed on the device with the first step whose loss was not
    finite; read (a host synchronisation) only at logging and checkpoint steps, so that an accelerator can run
    ahead of the host between them."""

    def __init__(self, accelerator: Accelerator):
        self.accelerator = accelerator
        self.names, self.sums, self.micro_batches = [], None, 0
        self.first_bad_step = torch.full((), -1, device=accelerator.device)  # 1-based; -1: none so far

    def add(self, names: list[str], values: torch.Tensor, step: int) -> None:
        """`values`, (terms,): this process's loss terms of a micro-batch of optimiser step `step` (0-based)."""
        self.names = names
        self.sums = values if self.sums is None else self.sums + values
        self.micro_batches += 1
        diverged = ~torch.isfinite(values).all() & (self.first_bad_step < 0)
        self.first_bad_step = torch.where(diverged, step + 1, self.first_bad_step)

    def check_finite(self) -> None:
        """Stop with the first step at which any process got a non-finite loss, and the window's terms."""
        steps = self.accelerator.gather(self.first_bad_step[None])
        if (steps >= 0).any():
            terms = ", ".join(f"{name}={value:.4g}" for name, value in self.means().items())
            raise FloatingPointError(f"Non-finite loss at step {int(steps[steps >= 0].min())}: {terms}. Lower "
                                     "--learning_rate, use fp32, or check the data; resume from the last checkpoint.")

    def means(self) -> dict[str, float]:
        """Each term's mean over the window's micro-batches and the processes."""
        if self.sums is None:
            return {}
        sums = self.accelerator.gather(self.sums[None]).mean(0)
        return dict(zip(self.names, (sums / self.micro_batches).tolist()))

    def read(self) -> dict[str, float]:
        """`means()` after `check_finite()`; the next window starts empty."""
        self.check_finite()
        means = self.means()
        self.sums, self.micro_batches = None, 0
        return means


def log_record(state: TrainingState, terms: dict[str, float], schedules: StepSchedules) -> dict:
    """What is logged every `logging_steps`: the loss terms' means since the last record and the schedules'
    values."""
    record = {"step": state.step, "epoch": state.epoch, **terms,
              "learning_rate": float(schedules.learning_rate[state.step - 1]), "skipped_clips": state.skipped_clips}
    record.update({name: float(values[state.step - 1]) for name, values in schedules.extra.items()})
    return record


def parameter_checksum(model: torch.nn.Module) -> torch.Tensor:
    """A float64 fingerprint of all parameters (position-weighted sums), equal on processes in sync."""
    with torch.no_grad():
        return sum((index + 1) * p.detach().double().sum() for index, p in enumerate(model.parameters()))


def seed_micro_step(seed: int, epoch: int, batch: int, process_index: int) -> None:
    """Seed torch from where the run is (dropout, drop path): a resumed run draws exactly what the uninterrupted
    one drew, however the data loaders consumed random numbers in between."""
    torch.manual_seed(int(np.random.SeedSequence([seed, epoch, batch, process_index]).generate_state(1)[0]))


def release(accelerator: Accelerator, synchronize: bool = True) -> None:
    """End the run cleanly: all processes together (unless leaving on an error), drop the distributed model
    wrappers while the process group still exists, then end trackers and the group. A gloo group torn down under
    a live DDP reducer, or after its peer left, can hang the process at exit."""
    if synchronize:
        accelerator.wait_for_everyone()
    accelerator.free_memory()
    gc.collect()
    accelerator.end_training()


@dataclass
class PretrainingMethod:
    """A pretraining script's description, which `run_pretraining` runs.

    Attributes:
        arguments: the method's own argument dataclass (besides data, features, model, `PretrainingArguments`).
        recipe: values of the `PretrainingArguments` left unset on the command line (the authors' optimisation).
        extractor_preset: the feature extractor's preset unless `--feature_extractor_preset` names another.
        build_model: (model arguments, method arguments, extractor) -> the pretraining model.
        make_collator: (extractor, model config, data arguments, `PretrainingArguments`, method arguments, process
            index for a stream, else 0) -> the collator of the method's views.
        make_objective: (model config, method arguments, `PretrainingArguments`, global batch size) -> its
            `PretrainingObjective`.
        encoder: the pretraining model's attribute that is the encoder to fine-tune, saved at the end.
    """

    arguments: type
    recipe: dict
    extractor_preset: str
    build_model: Callable
    make_collator: Callable
    make_objective: Callable
    encoder: str


def run_pretraining(method: PretrainingMethod, argv=None) -> TrainingState:
    """Parse a pretraining script's arguments (data, features, model, `PretrainingArguments` with the method's
    recipe filling what was not given, and the method's own), run the method, and release the processes cleanly,
    also when it fails. The command line goes into the encoder's card. A run stopped by a signal exits with
    `PREEMPTED_EXIT_STATUS` (75) once its checkpoint is written."""
    parser = HfArgumentParser((DataArguments, FeatureArguments, ModelArguments, PretrainingArguments,
                               method.arguments))
    words = sys.argv[1:] if argv is None else [str(a) for a in argv]
    data_args, feature_args, model_args, args, method_args = parse_arguments(parser, words)
    args = args.with_recipe(**method.recipe)
    accelerator = make_accelerator(args)
    set_up_logging(args.log_level, accelerator.is_main_process)
    spec = sys.modules[method.build_model.__module__].__spec__  # under `python -m` the module is __main__
    script = spec.name if spec else method.build_model.__module__
    args.tracker_project_name = args.tracker_project_name or f"specformers-{script.rsplit('.', 1)[-1]}"
    command = " ".join([f"python -m {script}", *map(shlex.quote, words)])
    try:
        extractor = feature_args.build(default_preset=method.extractor_preset)
        model = method.build_model(model_args, method_args, extractor)
        state, status = pretrain_model(
            accelerator, data_args=data_args, args=args, command=command, extractor=extractor, model=model,
            make_collator=lambda config, process: method.make_collator(extractor, config, data_args, args,
                                                                       method_args, process),
            make_objective=lambda config, batch: method.make_objective(config, method_args, args, batch),
            encoder=method.encoder, dataset_kwargs=model_args.dataset_kwargs(), license=model_args.license)
    except BaseException:
        release(accelerator, synchronize=False)
        raise
    release(accelerator)
    if status == "preempted":
        raise SystemExit(PREEMPTED_EXIT_STATUS)
    return state


def pretrain_model(accelerator: Accelerator, *, data_args, args: PretrainingArguments, command: str, extractor,
                   model: torch.nn.Module, make_collator, make_objective, encoder: str,
                   dataset_kwargs: dict | None = None, license: str | None = None) -> tuple[TrainingState, str]:
    """What every pretraining script does once it has its extractor and model: save the extractor beside the
    checkpoints, load the data (split per process when streamed), build the optimiser, `train`, and at the end
    export the encoder `model.<encoder>` with its card. Returns the state and how `train` ended.

    Args:
        make_collator: (model config, process index for a stream, else 0) -> the method's collator.
        make_objective: (unwrapped model's config, global batch size) -> the method's `PretrainingObjective`.
        dataset_kwargs: `load_dataset`'s `cache_dir` and `token`.
        license: the encoder card's licence (`--license`).
    """
    if accelerator.is_main_process:
        extractor.save_pretrained(args.output_dir)  # beside the checkpoints, for visualize_gmml and resumes
    dataset = load_audio_dataset(data_args.dataset_name, data_args.dataset_config_name, data_args.train_split_name,
                                 data_args.audio_column_name, data_args.streaming, accelerator.process_index,
                                 accelerator.num_processes, **(dataset_kwargs or {}))
    collator = make_collator(model.config, accelerator.process_index if data_args.streaming else 0)
    dataloader = make_dataloader(dataset, collator, args, data_args.dataloader_num_workers, accelerator)
    if args.gradient_checkpointing:
        model.activation_checkpointing_enable()  # the student's blocks; the teacher runs without gradients
    optimizer = make_optimizer(model, args.weight_decay, args.optimizer)
    model, optimizer = accelerator.prepare(model, optimizer)
    global_batch = args.per_device_train_batch_size * args.gradient_accumulation_steps * accelerator.num_processes
    objective = make_objective(accelerator.unwrap_model(model).config, global_batch)
    state, status = train(args, accelerator, model, optimizer, dataloader, collator, objective, data_args)
    accelerator.wait_for_everyone()
    if status == "finished" and accelerator.is_main_process:
        save_encoder(getattr(accelerator.unwrap_model(model), encoder), extractor, args, state, data_args, command,
                     license)
        if args.push_to_hub:
            repo_id = push_run_to_hub(args.output_dir, args.hub_model_id, token=args.hub_token,
                                      private=args.hub_private_repo,
                                      commit_message=f"{data_args.dataset_name}: pretrained with specformers")
            logger.info(f"Pushed {args.output_dir} to the Hub: {repo_id}")
    return state, status


def save_encoder(encoder, extractor, args: PretrainingArguments, state: TrainingState, data_args, command: str,
                 license: str | None = None) -> None:
    """The pretrained encoder and the feature extractor, ready for `...ForAudioClassification.from_pretrained`,
    with a summary of the run and the model card."""
    encoder.save_pretrained(args.output_dir)
    extractor.save_pretrained(args.output_dir)
    with open(os.path.join(args.output_dir, "pretraining_state.json"), "w") as f:
        json.dump({"steps": state.step, "epochs_completed": state.epoch, "skipped_clips": state.skipped_clips,
                   "parameter_checksums": state.parameter_checksums, "arguments": asdict(args)}, f, indent=2)
    summary = (f"Pretrained without labels on the `{data_args.train_split_name}` split for {state.step} optimizer "
               f"steps ({state.epoch} epochs completed; {state.skipped_clips} unreadable clips skipped); the losses "
               f"of the run are in its `train_log.jsonl`.")
    hyperparameters = {**hyperparameters_of(args, PRETRAINING_CARD_FIELDS), "optimizer_steps": state.step,
                       "processes": len(state.parameter_checksums)}  # one parameter checksum per process
    encoder_card(encoder, extractor, model_path=args.output_dir, dataset_name=data_args.dataset_name,
                 dataset_config_name=data_args.dataset_config_name, command=command, training_summary=summary,
                 license=license, hyperparameters=hyperparameters).save(os.path.join(args.output_dir, "README.md"))
    logger.info(f"Saved the pretrained {type(encoder).__name__} encoder, its extractor and card to {args.output_dir}")
