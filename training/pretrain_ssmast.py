"""Pretrain a MAST or AST encoder with SS-MAST (symmetric student / momentum-teacher contrastive learning).

    accelerate launch -m specformers.training.pretrain_ssmast --dataset_name path/or/hub-id --output_dir out \\
        [--backbone mast|ast] [--config_name mast-small] [--config_overrides embed_dim=32,depths=(1,1,1,1)]

(also `python -m specformers.training.pretrain_ssmast ...`). Same data, checkpoint and resume behaviour as
`pretrain_asit.py` (the loop is shared). At the end the student encoder and the feature extractor are saved in
--output_dir, so `MASTForAudioClassification.from_pretrained(output_dir)` (or `AST...`) fine-tunes it.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from transformers import AutoConfig, AutoModel

if __name__ == "__main__" and not __package__:  # run by path: `accelerate launch training/pretrain_ssmast.py ...`
    from specformers.training.run_by_path import run_as_module

    run_as_module(__file__)

from ..configuration.configuration_ast import ASTConfig
from ..configuration.configuration_mast import MASTConfig
from ..configuration.configuration_ssmast import SSMASTConfig
from ..configuration.configuration_utils import config_from_preset
from ..feature_extraction.augmentations import LogMixup, draw_resized_crop, resized_crop
from ..modeling.distributed import all_gather_variable
from ..modeling.pretraining_ssmast import SSMASTForPreTraining
from .arguments import DataArguments, FeatureArguments, ModelArguments, PretrainingArguments
from .data import ClipCollator, load_audio_dataset
from .loop import make_dataloader, make_optimizer, make_schedules, run_pretraining, save_encoder, train
from .schedules import constant_schedule, cosine_schedule

BACKBONES = {"mast": (MASTConfig, "mast-small"), "ast": (ASTConfig, "ast-base")}
# The optimisation of the authors' code (LAPE's ssmast upstream; the paper gives only lr 3e-4 at batch 512): SGD
# with momentum 0.9, a constant learning rate, weight decay 1e-4, no clipping. Each value's source: the fidelity page.
RECIPE = {"optimizer": "sgd", "lr_scheduler_type": "constant", "weight_decay": 1e-4, "max_grad_norm": 0.0,
          "clip_grad_mode": "global"}


@dataclass
class SSMASTArguments:
    backbone: str = field(default="mast", metadata={"help": "Encoder to pretrain from scratch: mast or ast."})
    teacher_momentum: float = field(default=0.999, metadata={"help": "EMA momentum (the authors' 0.999)."})
    teacher_momentum_schedule: str = field(
        default="constant", metadata={"help": "constant (the authors' code) or cosine (from --teacher_momentum to 1)."})
    projection_size: int = field(default=256)
    contrastive_temperature: float = field(default=0.07)
    patch_drop_rate: float = field(default=0.2, metadata={"help": "Share of the student's patches zeroed."})
    mixup_ratio: float = field(default=0.4)
    mixup_memory_size: int = field(default=2048, metadata={"help": "Earlier clips kept for mixup."})
    mixup_position: str = field(default="before_crop", metadata={"help": "before_crop (BYOL-A's) or after_crop."})


class SSMASTCollator(ClipCollator):
    """Audio examples -> one random crop per clip as a spectrogram, the two BYOL-A random resized crops of its views
    (drawn; applied here when the mixup comes after them) and the per-view random draws of the mixup (applied in
    the training process, against the memory of earlier clips)."""

    def __init__(self, extractor, config: SSMASTConfig, audio_column: str, seed: int, process_index: int = 0):
        super().__init__(extractor, audio_column, seed, process_index)
        self.config = config

    def __call__(self, items: list[tuple[int, dict]]) -> dict:
        clips, skipped = self.read(items)
        if not clips:
            return {"num_clips": 0, "num_skipped": skipped}
        rngs = [self.rng(index) for index, _, _ in clips]
        crops = [self.random_crop(audio, rate, rng) for (_, audio, rate), rng in zip(clips, rngs)]
        spectrograms = self.extractor(crops, return_tensors="pt")["input_values"]  # (n, frames, mel_bins)
        scales = (self.config.crop_virtual_scale, self.config.crop_frequency_scale, self.config.crop_time_scale)
        boxes = torch.tensor([[draw_resized_crop(tuple(spectrograms.shape[1:]), rng, *scales) for _ in range(2)]
                              for rng in rngs])  # (n, view, 6)
        draws = torch.from_numpy(np.stack([rng.random((2, 2)) for rng in rngs])).float()  # (n, [lam, pick], view)
        batch = {"clips": spectrograms, "crop_boxes": boxes, "mixup_lambda": draws[:, 0], "mixup_pick": draws[:, 1],
                 "num_clips": len(clips), "num_skipped": skipped}
        if self.config.mixup_position == "after_crop":
            batch["views"] = crop_views(spectrograms[:, None].expand(-1, 2, -1, -1), boxes)
        return batch


def crop_views(views: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """`(n, 2, frames, mel_bins)` views, each cut by its `draw_resized_crop` box in `boxes` `(n, 2, 6)`."""
    return torch.stack([torch.stack([resized_crop(view, tuple(box)) for view, box in zip(pair, pair_boxes)])
                        for pair, pair_boxes in zip(views, boxes.tolist())])


def build_model(model_args: ModelArguments, ssmast_args: SSMASTArguments, extractor) -> SSMASTForPreTraining:
    """A new encoder (preset + overrides, sized for the extractor's frames unless overridden) wrapped for SS-MAST;
    or a saved SS-MAST model; or a saved encoder (e.g. from `from_timm`, the paper's ImageNet + SS-MAST)."""
    objective = {key: value for key, value in asdict(ssmast_args).items()
                 if key in ("projection_size", "contrastive_temperature", "patch_drop_rate", "mixup_ratio",
                            "mixup_memory_size", "mixup_position")}
    if model_args.model_name_or_path:
        saved = AutoConfig.from_pretrained(model_args.model_name_or_path)
        if isinstance(saved, SSMASTConfig):
            model = SSMASTForPreTraining.from_pretrained(model_args.model_name_or_path)
        else:
            model = SSMASTForPreTraining(SSMASTConfig(backbone_config=saved, **objective))
            model.backbone.load_state_dict(AutoModel.from_pretrained(model_args.model_name_or_path).state_dict())
    else:
        if ssmast_args.backbone not in BACKBONES:
            raise ValueError(f"--backbone must be one of {sorted(BACKBONES)}, got {ssmast_args.backbone!r}.")
        config_class, default_preset = BACKBONES[ssmast_args.backbone]
        overrides = f"target_frames={extractor.target_frames}," + (model_args.config_overrides or "")
        backbone = config_from_preset(config_class, model_args.config_name or default_preset, overrides)
        model = SSMASTForPreTraining(SSMASTConfig(backbone_config=backbone, **objective))
    model.reset_teacher()
    return model


def main(argv=None):
    arguments = (DataArguments, FeatureArguments, ModelArguments, PretrainingArguments, SSMASTArguments)
    return run_pretraining(arguments, pretrain, argv, recipe=RECIPE)


def pretrain(accelerator, data_args: DataArguments, feature_args: FeatureArguments, model_args: ModelArguments,
             args: PretrainingArguments, ssmast_args: SSMASTArguments, command: str = ""):
    extractor = feature_args.build(default_preset="audioset")
    model = build_model(model_args, ssmast_args, extractor)
    config = model.config
    if accelerator.is_main_process:
        extractor.save_pretrained(args.output_dir)

    dataset = load_audio_dataset(data_args.dataset_name, data_args.dataset_config_name, data_args.train_split_name,
                                 data_args.audio_column_name, data_args.streaming, accelerator.process_index,
                                 accelerator.num_processes)
    collator = SSMASTCollator(extractor, config, data_args.audio_column_name, args.seed,
                              accelerator.process_index if data_args.streaming else 0)
    dataloader = make_dataloader(dataset, collator, args, data_args.dataloader_num_workers, accelerator)
    optimizer = make_optimizer(model, args.weight_decay, args.optimizer)
    model, optimizer = accelerator.prepare(model, optimizer)
    mixup = LogMixup(config.mixup_ratio, config.mixup_memory_size)
    global_batch = args.per_device_train_batch_size * args.gradient_accumulation_steps * accelerator.num_processes
    collapse_level = 0.25 / math.sqrt(config.projection_size)  # spread-out embeddings: about 1 / sqrt(size)

    if ssmast_args.teacher_momentum_schedule not in ("constant", "cosine"):
        raise ValueError(f"--teacher_momentum_schedule must be constant or cosine; got "
                         f"{ssmast_args.teacher_momentum_schedule!r}.")

    def schedules_for(total_steps, steps_per_epoch):
        momentum = (cosine_schedule(ssmast_args.teacher_momentum, 1.0, total_steps)
                    if ssmast_args.teacher_momentum_schedule == "cosine"
                    else constant_schedule(ssmast_args.teacher_momentum, total_steps))
        return make_schedules(args, total_steps, steps_per_epoch, 3e-4 * global_batch / 512,
                              extra={"teacher_momentum": momentum})

    def compute_loss(model, batch, step, schedules):
        if config.mixup_position == "before_crop":  # BYOL-A: mix each view of the clip, then crop it
            pairs = batch["clips"][:, None].expand(-1, 2, -1, -1)
            views = crop_views(mixup(pairs, batch["mixup_lambda"], batch["mixup_pick"]), batch["crop_boxes"])
        else:
            views = mixup(batch["views"], batch["mixup_lambda"], batch["mixup_pick"])
        mixup.remember(all_gather_variable(batch["clips"])[0])  # the same memory on every process
        output = model(views)
        return output.loss, {"embedding_std": output.embedding_std,
                             "positive_similarity": output.positive_similarity}

    def after_optimizer_step(model, step, schedules):
        model.update_teacher(float(schedules.extra["teacher_momentum"][step]))

    def on_log(record):
        if record["embedding_std"] < collapse_level:
            print(f"Warning: the embeddings are collapsing at step {record['step']}: their spread is "
                  f"{record['embedding_std']:.4f}, spread-out ones have about {4 * collapse_level:.4f}. Lower the "
                  "learning rate or raise the teacher momentum.")
            return {"collapse_warning": True}
        return None

    state, finished = train(args, accelerator, model, optimizer, dataloader, collator, schedules_for, compute_loss,
                            after_optimizer_step, stateful=(mixup,), on_log=on_log)
    accelerator.wait_for_everyone()
    if finished and accelerator.is_main_process:
        save_encoder(accelerator.unwrap_model(model).backbone, extractor, args, state, data_args, command)
    return state


def cli() -> None:
    """The `specformers-pretrain-ssmast` console script: `main` without its return value (the final training state),
    so the exit status is 0."""
    main()


if __name__ == "__main__":
    main(sys.argv[1:])
