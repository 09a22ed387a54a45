"""Pretrain a MAST or AST encoder with SS-MAST (symmetric student / momentum-teacher contrastive learning).

    accelerate launch -m specformers.training.pretrain_ssmast --dataset_name path/or/hub-id --output_dir out \\
        [--backbone mast|ast] [--config_name mast-small] [--config_overrides embed_dim=32,depths=(1,1,1,1)]

(also `python -m specformers.training.pretrain_ssmast ...`). `--config_overrides` reaches every field of the
encoder's config and of `SSMASTConfig` (e.g. `patch_drop_rate=0.0,mixup_position=after_crop`). Same data,
checkpoint and resume behaviour as `pretrain_asit.py` (the loop is shared). At the end the student encoder and the
feature extractor are saved in --output_dir, so `MASTForAudioClassification.from_pretrained(output_dir)` (or
`AST...`) fine-tunes it.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

from accelerate.logging import get_logger
from transformers import AutoConfig, AutoModel

if __name__ == "__main__" and not __package__:  # run by path: `accelerate launch training/pretrain_ssmast.py ...`
    from specformers.training.run_by_path import run_as_module

    run_as_module(__file__)

from ..configuration.configuration_ssmast import SSMASTConfig
from ..configuration.configuration_utils import config_fields, config_from_preset, parse_config_overrides
from ..families import FAMILIES, family
from ..feature_extraction.augmentations import LogMixup
from ..modeling.distributed import all_gather_variable
from ..modeling.pretraining_ssmast import SSMASTForPreTraining
from .arguments import PretrainingArguments
from .loop import PretrainingMethod, PretrainingObjective, StepSchedules, make_schedules, run_pretraining
from .schedules import constant_schedule, cosine_schedule
from .views import SSMASTCollator, crop_views

logger = get_logger(__name__)
BACKBONES = [f.key for f in FAMILIES if f.ssmast_backbone]
# The optimisation of the authors' code (LAPE's ssmast upstream; the paper gives only lr 3e-4 at batch 512): SGD
# with momentum 0.9, a constant learning rate, weight decay 1e-4, no clipping. Each value's source: the fidelity page.
RECIPE = {"optimizer": "sgd", "lr_scheduler_type": "constant", "weight_decay": 1e-4, "max_grad_norm": 0.0,
          "clip_grad_mode": "global"}


@dataclass
class SSMASTArguments:
    backbone: str = field(
        default="mast", metadata={"help": f"Encoder to pretrain from scratch: {', '.join(BACKBONES)}."})
    teacher_momentum: float = field(default=0.999, metadata={"help": "EMA momentum (the authors' 0.999)."})
    teacher_momentum_schedule: str = field(
        default="constant", metadata={"help": "constant (the authors' code) or cosine (from --teacher_momentum to 1)."})


class SSMASTObjective(PretrainingObjective):
    """SS-MAST's step: each view mixed with an earlier clip (BYOL-A's mixup, before or after its random resized
    crop), the symmetric InfoNCE between student and teacher, then the teacher follows the student. The mixup
    memory is checkpointed; a log line whose embedding spread shows a collapse carries a warning."""

    def __init__(self, config: SSMASTConfig, method_args: SSMASTArguments, args: PretrainingArguments,
                 global_batch: int):
        if method_args.teacher_momentum_schedule not in ("constant", "cosine"):
            raise ValueError(f"--teacher_momentum_schedule must be constant or cosine; got "
                             f"{method_args.teacher_momentum_schedule!r}.")
        self.config, self.method_args, self.args, self.global_batch = config, method_args, args, global_batch
        self.mixup = LogMixup(config.mixup_ratio, config.mixup_memory_size)
        self.stateful = (self.mixup,)
        self.collapse_level = 0.25 / math.sqrt(config.projection_size)  # spread-out embeddings: ~1 / sqrt(size)

    def make_schedules(self, total_steps: int, steps_per_epoch: int | None) -> StepSchedules:
        method = self.method_args
        momentum = (cosine_schedule(method.teacher_momentum, 1.0, total_steps)
                    if method.teacher_momentum_schedule == "cosine"
                    else constant_schedule(method.teacher_momentum, total_steps))
        return make_schedules(self.args, total_steps, steps_per_epoch, 3e-4 * self.global_batch / 512,
                              extra={"teacher_momentum": momentum})

    def loss(self, model, batch, step):
        if self.config.mixup_position == "before_crop":  # BYOL-A: mix each view of the clip, then crop it
            pairs = batch["clips"][:, None].expand(-1, 2, -1, -1)
            views = crop_views(self.mixup(pairs, batch["mixup_lambda"], batch["mixup_pick"]), batch["crop_boxes"])
        else:
            views = self.mixup(batch["views"], batch["mixup_lambda"], batch["mixup_pick"])
        self.mixup.remember(all_gather_variable(batch["clips"])[0])  # the same memory on every process
        output = model(views)
        return output.loss, {"embedding_std": output.embedding_std,
                             "positive_similarity": output.positive_similarity}

    def after_optimizer_step(self, model, step):
        model.update_teacher(float(self.schedules.extra["teacher_momentum"][step]))

    def on_log(self, record):
        if record["embedding_std"] < self.collapse_level:
            logger.warning(f"The embeddings are collapsing at step {record['step']}: their spread is "
                           f"{record['embedding_std']:.4f}, spread-out ones have about {4 * self.collapse_level:.4f}. "
                           "Lower the learning rate or raise the teacher momentum.")
            return {"collapse_warning": True}
        return None


def build_model(model_args, method_args: SSMASTArguments, extractor) -> SSMASTForPreTraining:
    """A new encoder (preset + overrides, sized for the extractor's frames unless overridden) wrapped for SS-MAST;
    or a saved SS-MAST model; or a saved encoder (e.g. from `from_timm`, the paper's ImageNet + SS-MAST). The
    overrides that name `SSMASTConfig` fields set the objective; the others the encoder."""
    overrides = parse_config_overrides(model_args.config_overrides)
    objective_fields = config_fields(SSMASTConfig) - {"backbone_config"}
    objective = {key: value for key, value in overrides.items() if key in objective_fields}
    encoder = {key: value for key, value in overrides.items() if key not in objective_fields}
    if model_args.model_name_or_path:
        hub_kwargs = model_args.hub_kwargs()
        saved = AutoConfig.from_pretrained(model_args.model_name_or_path, **hub_kwargs)
        if isinstance(saved, SSMASTConfig):
            model = SSMASTForPreTraining.from_pretrained(model_args.model_name_or_path, **hub_kwargs, **objective)
        else:
            model = SSMASTForPreTraining(SSMASTConfig(backbone_config=saved, **objective))
            model.backbone.load_state_dict(
                AutoModel.from_pretrained(model_args.model_name_or_path, **hub_kwargs).state_dict())
    else:
        if method_args.backbone not in BACKBONES:
            raise ValueError(f"--backbone must be one of {BACKBONES}, got {method_args.backbone!r}.")
        chosen = family(method_args.backbone)
        try:
            backbone = config_from_preset(chosen.config_class, model_args.config_name or chosen.default_preset,
                                          {"target_frames": extractor.target_frames, **encoder},
                                          **model_args.config_kwargs())
        except ValueError as error:  # unknown fields: say that the objective's are accepted too
            raise ValueError(f"{error} SSMASTConfig fields: {sorted(objective_fields)}.") from None
        model = SSMASTForPreTraining(SSMASTConfig(backbone_config=backbone, **objective))
    model.reset_teacher()
    return model


def make_collator(extractor, config: SSMASTConfig, data_args, args: PretrainingArguments, method_args: SSMASTArguments,
                  process_index: int) -> SSMASTCollator:
    return SSMASTCollator(extractor, config, data_args.audio_column_name, args.seed, process_index,
                          data_args.features_on_device)


SSMAST = PretrainingMethod(arguments=SSMASTArguments, recipe=RECIPE, extractor_preset="audioset",
                           build_model=build_model, make_collator=make_collator, make_objective=SSMASTObjective,
                           encoder="backbone")  # the student is the encoder to fine-tune (MoCo's choice)


def main(argv=None):
    return run_pretraining(SSMAST, argv)


def cli() -> None:
    """The `specformers-pretrain-ssmast` console script: `main` without its return value (the final training state),
    so the exit status is 0."""
    main()


if __name__ == "__main__":
    main(sys.argv[1:])
