"""Pretrain ASiT (GMML reconstruction + local/global self-distillation) on a `datasets` audio corpus.

    accelerate launch -m specformers.training.pretrain_asit --dataset_name path/or/hub-id --output_dir out \\
        [--config_name asit-small] [--config_overrides hidden_size=192,num_hidden_layers=4,num_attention_heads=3]

(also `python -m specformers.training.pretrain_asit ...`). `--config_overrides` reaches every field of
`ASiTConfig`, the encoder's and the objective's (e.g. `reconstruction_loss_weight=1.0`). At the end the teacher
encoder and the feature extractor are saved in --output_dir, so `ASiTForAudioClassification.from_pretrained(
output_dir)` fine-tunes it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

if __name__ == "__main__" and not __package__:  # run by path: `accelerate launch training/pretrain_asit.py ...`
    from specformers.training.run_by_path import run_as_module

    run_as_module(__file__)

from ..configuration.configuration_asit import ASiTConfig
from ..configuration.configuration_utils import config_from_preset, parse_config_overrides
from ..modeling.pretraining_asit import ASiTForPreTraining
from .arguments import PretrainingArguments
from .loop import PretrainingMethod, PretrainingObjective, StepSchedules, make_schedules, run_pretraining
from .schedules import cosine_schedule, linear_warmup
from .views import ASiTCollator

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


class ASiTObjective(PretrainingObjective):
    """ASiT's step: the student's global, local and reconstruction losses against the EMA teacher, at the
    scheduled teacher temperature; the heads' output layers wait out the first epoch(s); then the teacher follows
    the student with the scheduled momentum."""

    def __init__(self, config: ASiTConfig, method_args: ASiTArguments, args: PretrainingArguments,
                 global_batch: int):
        self.config, self.method_args, self.args, self.global_batch = config, method_args, args, global_batch
        self.frozen_steps = 0

    def make_schedules(self, total_steps: int, steps_per_epoch: int | None) -> StepSchedules:
        epoch = steps_per_epoch or 0  # a stream has no epochs: no epoch-long warm-up or freezing by default
        self.frozen_steps = round(self.method_args.freeze_last_layer_epochs * epoch)
        warmup = self.method_args.teacher_temperature_warmup_steps
        return make_schedules(self.args, total_steps, steps_per_epoch, 5e-4 * self.global_batch / 256, WARMUP_EPOCHS,
                              extra={
            "teacher_temperature": linear_warmup(self.config.warmup_teacher_temperature,
                                                 self.config.teacher_temperature, total_steps,
                                                 30 * epoch if warmup is None else warmup),
            "teacher_momentum": cosine_schedule(self.method_args.teacher_momentum, 1.0, total_steps),
        })

    def loss(self, model, batch, step):
        output = model(batch["clean_views"], batch["corrupted_views"], batch["pixel_mask"],
                       teacher_temperature=float(self.schedules.extra["teacher_temperature"][step]))
        return output.loss, {"global": output.global_loss, "local": output.local_loss,
                             "reconstruction": output.reconstruction_loss}

    def before_optimizer_step(self, model, step):
        if step < self.frozen_steps:  # DINO's cancel_gradients_last_layer: no update, no decay
            for parameter in model.projection.output_layer_parameters():
                parameter.grad = None

    def after_optimizer_step(self, model, step):
        model.update_teacher(float(self.schedules.extra["teacher_momentum"][step]))


def build_model(model_args, method_args: ASiTArguments, extractor) -> ASiTForPreTraining:
    """A new ASiT (preset + overrides, positions sized for the extractor's frames unless overridden), or one
    started from a saved pretraining model or encoder (with the overrides on its config). The teacher starts as
    a copy of the student."""
    if model_args.model_name_or_path:
        model = ASiTForPreTraining.from_pretrained(model_args.model_name_or_path, **model_args.hub_kwargs(),
                                                   **parse_config_overrides(model_args.config_overrides))
    else:
        overrides = {"target_frames": extractor.target_frames, **parse_config_overrides(model_args.config_overrides)}
        model = ASiTForPreTraining(config_from_preset(ASiTConfig, model_args.config_name or "asit-base", overrides,
                                                      **model_args.config_kwargs()))
    model.reset_teacher()
    return model


def make_collator(extractor, config: ASiTConfig, data_args, args: PretrainingArguments, method_args: ASiTArguments,
                  process_index: int) -> ASiTCollator:
    return ASiTCollator(extractor, config, data_args.audio_column_name, args.seed, method_args.roll_probability,
                        process_index, data_args.features_on_device)


ASIT = PretrainingMethod(arguments=ASiTArguments, recipe=RECIPE, extractor_preset="asit", build_model=build_model,
                         make_collator=make_collator, make_objective=ASiTObjective,
                         encoder="teacher_vit")  # the teacher is the encoder to fine-tune


def main(argv=None):
    return run_pretraining(ASIT, argv)


def cli() -> None:
    """The `specformers-pretrain-asit` console script: `main` without its return value (the final training state),
    so the exit status is 0."""
    main()


if __name__ == "__main__":
    main(sys.argv[1:])
