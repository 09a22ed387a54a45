"""Pretrain ASiT (GMML reconstruction + local/global self-distillation) on a `datasets` audio corpus.

    accelerate launch -m specformers.training.pretrain_asit --dataset_name path/or/hub-id --output_dir out \\
        [--config_name asit-small] [--config_overrides hidden_size=192,num_hidden_layers=4,num_attention_heads=3]

(also `python -m specformers.training.pretrain_asit ...`). At the end the teacher encoder and the feature extractor
are saved in --output_dir, so `ASiTForAudioClassification.from_pretrained(output_dir)` fine-tunes it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
import torch

if __name__ == "__main__" and not __package__:  # run by path: `accelerate launch training/pretrain_asit.py ...`
    from specformers.training.run_by_path import run_as_module

    run_as_module(__file__)

from ..configuration.configuration_asit import ASiTConfig
from ..configuration.configuration_utils import config_from_preset
from ..modeling.pretraining_asit import ASiTForPreTraining, gmml_corrupt
from .arguments import DataArguments, FeatureArguments, ModelArguments, PretrainingArguments
from .data import ClipCollator, load_audio_dataset
from .loop import make_dataloader, make_optimizer, make_schedules, run_pretraining, save_encoder, train
from .schedules import cosine_schedule, linear_warmup


# The authors' optimisation (their main_ASiT.py): AdamW, lr 5e-4 x batch / 256 after 10 warm-up epochs, cosine down,
# weight decay cosine 0.04 -> 0.4, each parameter's gradient clipped to norm 3.0 on its own.
RECIPE = {"optimizer": "adamw", "lr_scheduler_type": "cosine", "weight_decay": 0.04, "weight_decay_end": 0.4,
          "max_grad_norm": 3.0, "clip_grad_mode": "per_tensor"}
WARMUP_EPOCHS = 10


@dataclass
class ASiTArguments:
    teacher_momentum: float = field(default=0.996, metadata={"help": "EMA momentum at the start (cosine to 1)."})
    teacher_temperature_warmup_steps: int | None = field(
        default=None, metadata={"help": "Steps of the teacher temperature warm-up (default: 30 epochs)."})
    roll_probability: float = field(
        default=0.5, metadata={"help": "Chance of rolling a clip's waveform by a random shift before its crops."})
    freeze_last_layer_epochs: float = field(
        default=1, metadata={"help": "Epochs during which the heads' weight-normalised output layers get no update."})


class ASiTCollator(ClipCollator):
    """Audio examples -> two random crops per clip (of its waveform, randomly rolled first) as spectrograms, and
    their GMML corruption. Runs in the DataLoader workers; unreadable clips are left out and counted in
    `num_skipped`."""

    def __init__(self, extractor, config: ASiTConfig, audio_column: str, seed: int, roll_probability: float,
                 process_index: int = 0):
        super().__init__(extractor, audio_column, seed, process_index)
        self.config, self.roll_probability = config, roll_probability

    def __call__(self, items: list[tuple[int, dict]]) -> dict:
        clips, skipped = self.read(items)
        if not clips:
            return {"num_clips": 0, "num_skipped": skipped}
        crops = []
        for index, audio, rate in clips:
            rng = self.rng(index)
            if rng.random() < self.roll_probability:  # the authors roll the waveform, before cropping
                audio = np.roll(audio, int(rng.integers(len(audio))), axis=0)
            crops += [self.random_crop(audio, rate, rng) for _ in range(2)]
        views = self.extractor(crops, return_tensors="pt")["input_values"].unflatten(0, (-1, 2))  # (n, 2, T, F)
        batch_rng = self.rng(items[0][0], 1)
        corrupted, masks = zip(*(gmml_corrupt(views[:, view], self.config, batch_rng) for view in range(2)))
        return {"clean_views": views, "corrupted_views": torch.stack(corrupted, 1), "pixel_mask": torch.stack(masks, 1),
                "num_clips": views.shape[0], "num_skipped": skipped}


def build_model(model_args: ModelArguments, extractor) -> ASiTForPreTraining:
    """A new ASiT (preset + overrides, positions sized for the extractor's frames unless overridden), or one
    started from a saved pretraining model or encoder. The teacher starts as a copy of the student."""
    if model_args.model_name_or_path:
        model = ASiTForPreTraining.from_pretrained(model_args.model_name_or_path)
    else:
        overrides = f"target_frames={extractor.target_frames}," + (model_args.config_overrides or "")
        model = ASiTForPreTraining(config_from_preset(ASiTConfig, model_args.config_name or "asit-base", overrides))
    model.reset_teacher()
    return model


def main(argv=None):
    arguments = (DataArguments, FeatureArguments, ModelArguments, PretrainingArguments, ASiTArguments)
    return run_pretraining(arguments, pretrain, argv, recipe=RECIPE)


def pretrain(accelerator, data_args: DataArguments, feature_args: FeatureArguments, model_args: ModelArguments,
             args: PretrainingArguments, asit_args: ASiTArguments, command: str = ""):
    extractor = feature_args.build(default_preset="asit")
    model = build_model(model_args, extractor)
    config = model.config
    if accelerator.is_main_process:
        extractor.save_pretrained(args.output_dir)  # beside the checkpoints, for visualize_gmml and resumes

    dataset = load_audio_dataset(data_args.dataset_name, data_args.dataset_config_name, data_args.train_split_name,
                                 data_args.audio_column_name, data_args.streaming, accelerator.process_index,
                                 accelerator.num_processes)
    collator = ASiTCollator(extractor, config, data_args.audio_column_name, args.seed, asit_args.roll_probability,
                            accelerator.process_index if data_args.streaming else 0)
    dataloader = make_dataloader(dataset, collator, args, data_args.dataloader_num_workers, accelerator)
    optimizer = make_optimizer(model, args.weight_decay, args.optimizer)
    model, optimizer = accelerator.prepare(model, optimizer)
    global_batch = args.per_device_train_batch_size * args.gradient_accumulation_steps * accelerator.num_processes
    frozen_steps = 0  # set with the schedules, once the epoch length is known

    def schedules_for(total_steps, steps_per_epoch):
        nonlocal frozen_steps
        frozen_steps = round(asit_args.freeze_last_layer_epochs * (steps_per_epoch or 0))
        warmup = asit_args.teacher_temperature_warmup_steps
        warmup = warmup if warmup is not None else 30 * (steps_per_epoch or 0)
        return make_schedules(args, total_steps, steps_per_epoch, 5e-4 * global_batch / 256, WARMUP_EPOCHS, extra={
            "teacher_temperature": linear_warmup(config.warmup_teacher_temperature, config.teacher_temperature,
                                                 total_steps, warmup),
            "teacher_momentum": cosine_schedule(asit_args.teacher_momentum, 1.0, total_steps),
        })

    def compute_loss(model, batch, step, schedules):
        output = model(batch["clean_views"], batch["corrupted_views"], batch["pixel_mask"],
                       teacher_temperature=float(schedules.extra["teacher_temperature"][step]))
        return output.loss, {"global": output.global_loss, "local": output.local_loss,
                             "reconstruction": output.reconstruction_loss}

    def before_optimizer_step(model, step):
        if step < frozen_steps:  # DINO's cancel_gradients_last_layer: no update, no decay
            for parameter in model.projection.output_layer_parameters():
                parameter.grad = None

    def after_optimizer_step(model, step, schedules):
        model.update_teacher(float(schedules.extra["teacher_momentum"][step]))

    state, finished = train(args, accelerator, model, optimizer, dataloader, collator, schedules_for, compute_loss,
                            after_optimizer_step, before_optimizer_step=before_optimizer_step)
    accelerator.wait_for_everyone()
    if finished and accelerator.is_main_process:
        save_encoder(accelerator.unwrap_model(model).teacher_vit, extractor, args, state, data_args, command)
    return state


def cli() -> None:
    """The `specformers-pretrain-asit` console script: `main` without its return value (the final training state),
    so the exit status is 0."""
    main()


if __name__ == "__main__":
    main(sys.argv[1:])
