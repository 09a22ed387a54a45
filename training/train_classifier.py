"""Train and/or evaluate an audio classifier (AST, MAST or ASiT) with transformers' `Trainer` on a `datasets` corpus.

    # from scratch
    python -m specformers.training.train_classifier --dataset_name DIR_OR_HUB_ID --output_dir out \\
        --model_type ast --config_name ast-tiny --do_train --do_eval --num_train_epochs 10
    # fine-tune a saved model or a pretrained encoder (pretrain_asit.py / pretrain_ssmast.py output)
    accelerate launch -m specformers.training.train_classifier --model_name_or_path asit_run ...   # or torchrun
    # score a saved classifier, no training
    python -m specformers.training.train_classifier --model_name_or_path out --dataset_name ... --do_eval \\
        --output_dir scores

Argument names follow transformers' `run_audio_classification.py`; every `TrainingArguments` flag works. The
run writes the model with its feature extractor and card, `all_results.json`, and for single-label evaluation
a confusion matrix picture and a per-class report.
"""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field

import numpy as np
import torch
from accelerate import PartialState
from accelerate.logging import get_logger
from torch.utils.data import DataLoader
from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModelForAudioClassification,
    HfArgumentParser,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    default_data_collator,
    set_seed,
)
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

if __name__ == "__main__" and not __package__:  # run by path: `accelerate launch training/train_classifier.py ...`
    from specformers.training.run_by_path import run_as_module

    run_as_module(__file__)

from ..configuration.configuration_utils import config_from_preset
from ..families import FAMILIES, family, family_of
from ..hub_cards.model_card import classifier_card
from ..hub_push import push_run_to_hub
from ..modeling.ast_conversion import TRANSFORMERS_AST_MODEL_TYPE
from ..modeling.classification import classification_loss
from ..modeling.modeling_ast import ASTForAudioClassification
from ..modeling.modeling_utils import check_model_type
from .arguments import (
    DatasetArguments,
    FeatureArguments,
    ModelArguments,
    hyperparameters_of,
    parse_arguments,
    sets_argument,
)
from .checkpoints import PARTIAL, move_into_place, remove_old_checkpoints, resume_point
from .classification_data import (
    MULTI_LABEL,
    SINGLE_LABEL,
    ClassificationCollator,
    LabelEncoder,
    SkipCounter,
    as_multi_hot,
    check_column,
    discover_label_names,
    readable_rows,
)
from .confusion_report import write_confusion_report
from .data import CLIPS_BEFORE_JUDGING, IndexedExamples, IndexedStream, check_unreadable_share, load_audio_dataset
from .devices import run_on_cpu
from .fine_tuning import BalancedSampler, freeze_encoder, label_balanced_weights, layer_decay_groups
from .host_sums import HostSums
from .linear_probe import HeadOnEmbeddings, embed_splits
from .metrics import make_compute_metrics
from .preemption import PREEMPTED_EXIT_STATUS, StopRequests, StopTrainerOnRequest, ignoring_stop_signals

FAMILY_KEYS = [f.key for f in FAMILIES]
# the TrainingArguments the model card lists
CLASSIFIER_CARD_FIELDS = ("learning_rate", "lr_scheduler_type", "warmup_steps", "warmup_ratio", "weight_decay",
                          "optim", "per_device_train_batch_size", "gradient_accumulation_steps", "max_grad_norm",
                          "label_smoothing_factor", "bf16", "fp16", "seed")
logger = get_logger(__name__)


@dataclass
class ClassifierModelArguments(ModelArguments):
    model_type: str | None = field(
        default=None, metadata={"help": f"{', '.join(FAMILY_KEYS)}: train this model from scratch (--config_name, "
                                        "--config_overrides; presets: " + "; ".join(
                                            f"{f.key}: {', '.join(f.config_class.presets)}" for f in FAMILIES)
                                        + "); with --model_name_or_path, a check of the checkpoint."})
    feature_extractor_name: str | None = field(
        default=None, metadata={"help": "Take the feature extractor from this folder or Hub id (default: the "
                                        "model's, or --feature_extractor_preset)."})
    problem_type: str = field(
        default=SINGLE_LABEL, metadata={"help": f"{SINGLE_LABEL} (one label per clip) or {MULTI_LABEL}."})


@dataclass
class ClassifierDataArguments(DatasetArguments):
    eval_split_name: str = field(default="validation", metadata={"help": "Split to evaluate on."})
    label_column_name: str = field(
        default="label", metadata={"help": "Column of labels: ClassLabel, strings, or (multi-label) lists of names "
                                           "or comma-separated strings."})
    max_length_seconds: float | None = field(
        default=None, metadata={"help": "Input window in seconds (sets --target_frames unless given): training "
                                        "takes a random window of each clip, evaluation the first."})
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Use N training clips drawn at random (--seed), e.g. for a quick run."})
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Use N evaluation clips drawn at random (--seed)."})
    train_val_split: float | None = field(
        default=None, metadata={"help": "Evaluate on this share of the training split (drawn with --seed; the rest "
                                        "trains) instead of --eval_split_name, e.g. for an audiofolder with only "
                                        "train/."})
    shuffle_buffer_size: int = field(default=1000, metadata={"help": "Shuffle buffer of a streamed training split."})
    fold_column_name: str | None = field(
        default=None, metadata={"help": "Column of cross-validation folds (ESC-50: fold): with --eval_folds, the "
                                        "training split is cut by fold (cross_validate.py runs every fold)."})
    eval_folds: str | None = field(
        default=None, metadata={"help": "Folds to evaluate on, comma-separated (e.g. 5); the other folds of the "
                                        "training split train. Needs --fold_column_name."})


@dataclass
class AugmentationArguments:
    freqm: int = field(default=0, metadata={"help": "SpecAugment: widest frequency mask, in mel bins (AST: 48)."})
    timem: int = field(default=0, metadata={"help": "SpecAugment: widest time mask, in frames (AST: 192)."})
    mixup: float = field(default=0.0, metadata={"help": "Share of training clips mixed with another (AST: 0.5)."})
    noise: bool = field(default=False, metadata={"help": "AST's noise: uniform noise on the features, time roll."})


@dataclass
class ProtocolArguments:
    freeze_encoder: bool = field(
        default=False, metadata={"help": "Train the head alone (a linear probe): the encoder's weights stay as loaded "
                                         "and it runs in eval mode (no dropout or stochastic depth)."})
    probe_on_embeddings: bool = field(
        default=False, metadata={"help": "With --freeze_encoder: embed every clip once (the encoder's pooled output of "
                                         "the window evaluation reads) and train the head on those vectors, which "
                                         "makes a step cost the head alone. One process, map-style splits, no "
                                         "augmentation."})
    layer_decay: float | None = field(
        default=None, metadata={"help": "Layer-wise learning-rate decay (BEiT, e.g. 0.75): the head and final norm "
                                        "learn at --learning_rate, each encoder block below at `layer_decay` times "
                                        "the one above (ViT layers; MAST blocks stage by stage), the embeddings "
                                        "lowest."})
    balanced_sampling: bool = field(
        default=False, metadata={"help": "AST's balanced sampler: draw each epoch's clips with replacement, a clip "
                                         "weighted by the sum over its labels of 1 / (that label's clip count), so "
                                         "rare labels are seen as often as common ones. Map-style splits only."})
    drop_path_rate: float | None = field(
        default=None, metadata={"help": "Stochastic depth of the encoder for this run (rising linearly to this "
                                        "rate at the last block; AST/ASiT fine-tuning 0.1); default: the "
                                        "model's config."})


class CheckDataAtEpochEnd(TrainerCallback):
    def __init__(self, trainer: ClassifierTrainer):
        self.trainer = trainer

    def on_epoch_end(self, args, state, control, **kwargs):
        self.trainer.check_training_data(epoch_end=True)


class SetCollatorEpoch(TrainerCallback):
    """Tells the training collator the epoch before its batches are drawn (before the DataLoader hands its
    workers the epoch's indices), for its per-clip random draws."""

    def __init__(self, collator: ClassificationCollator):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.epoch = int(state.epoch)  # whole at an epoch's start, also when resumed mid-epoch (rounded down)


class StreamLoader(DataLoader):
    """A DataLoader over this process's share of a streamed split; `set_epoch` (which Trainer calls on its
    dataloader) reshuffles the stream."""

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)


class ClassifierTrainer(Trainer):
    """`Trainer` that evaluates without augmentation, counts skipped clips in its logs, accepts batches whose clips
    were all unreadable (and stops when too many are: `check_training_data`), reads a streamed training split
    as this process's share (already split by node), and writes each checkpoint whole or not at all
    (`checkpoints.py`)."""

    def __init__(self, *args, eval_collator, skipped: dict[str, SkipCounter], streaming: bool, data_name: str,
                 max_skipped_fraction: float, layer_decay: float | None = None,
                 sample_weights: np.ndarray | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.layer_decay, self.sample_weights = layer_decay, sample_weights
        self.eval_collator, self.skipped, self.streaming = eval_collator, skipped, streaming
        self.data_name, self.max_skipped_fraction = data_name, max_skipped_fraction
        self.data_judged = False
        self.writing_into = None  # while a checkpoint is written: the `.partial` folder that holds it
        self.push_after_save = False
        self.label_smoother = None  # `compute_loss` smooths (--label_smoothing_factor)
        self.add_callback(CheckDataAtEpochEnd(self))

    def get_train_dataloader(self) -> DataLoader:
        if not self.streaming:
            loader = super().get_train_dataloader()
            loader.worker_init_fn = ignoring_stop_signals(loader.worker_init_fn)
            return loader
        # accelerate's prepare would split the stream between processes a second time
        return StreamLoader(self.train_dataset, batch_size=self._train_batch_size, collate_fn=self.data_collator,
                            num_workers=self.args.dataloader_num_workers, pin_memory=self.args.dataloader_pin_memory,
                            persistent_workers=self.args.dataloader_persistent_workers,
                            worker_init_fn=ignoring_stop_signals())

    def _get_train_sampler(self, train_dataset=None):
        if self.sample_weights is None:
            return super()._get_train_sampler(train_dataset)
        return BalancedSampler(self.sample_weights, self.args.seed)

    def create_optimizer(self, model=None):
        if self.layer_decay is None or self.optimizer is not None:
            return super().create_optimizer(model)
        model = self.model if model is None else model
        groups = layer_decay_groups(model, self.args.learning_rate, self.layer_decay, self.args.weight_decay,
                                    set(self.get_decay_parameter_names(model)))
        optimizer_class, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
        self.optimizer = optimizer_class(groups, **optimizer_kwargs)
        return self.optimizer

    def _get_output_dir(self, trial) -> str:
        return self.writing_into or super()._get_output_dir(trial)

    def _save_checkpoint(self, model, trial) -> None:
        """Trainer's checkpoint written into `checkpoint-N.partial/` and moved to `checkpoint-N` once every
        process has written its part; then `--save_total_limit` applied (the newest and the best one stay)."""
        run_dir = super()._get_output_dir(trial)
        final = os.path.join(run_dir, f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
        partial = final + PARTIAL
        if self.args.should_save and os.path.isdir(partial):  # left by a job killed while saving this step
            shutil.rmtree(partial)
        self.accelerator.wait_for_everyone()
        self.writing_into = partial
        try:
            super()._save_checkpoint(model, trial)  # into partial/checkpoint-N
        finally:
            self.writing_into = None
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            written = os.path.join(partial, os.path.basename(final))
            if self.state.best_model_checkpoint == written:  # this step is the best one: name its final place
                self.state.best_model_checkpoint = final
                self.state.save_to_json(os.path.join(written, TRAINER_STATE_NAME))
            move_into_place(written, final)
            os.rmdir(partial)
            remove_old_checkpoints(run_dir, self.args.save_total_limit,
                                   protected=[final, self.state.best_model_checkpoint])
        if self.push_after_save:
            self.push_after_save = False
            super()._push_from_checkpoint(final)
        self.accelerator.wait_for_everyone()

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        self.push_after_save = True  # from the checkpoint's final place, once it is there (`_save_checkpoint`)

    def get_eval_dataloader(self, eval_dataset=None) -> DataLoader:
        return self._with_eval_collator(super().get_eval_dataloader, eval_dataset)

    def get_test_dataloader(self, test_dataset) -> DataLoader:
        return self._with_eval_collator(super().get_test_dataloader, test_dataset)

    def _with_eval_collator(self, make_dataloader, dataset):
        train_collator, self.data_collator = self.data_collator, self.eval_collator
        try:
            return make_dataloader(dataset)
        finally:
            self.data_collator = train_collator

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        readable = readable_rows(inputs["labels"])
        smoothing = self.args.label_smoothing_factor
        if len(readable) and readable.all() and not smoothing:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        # unreadable clips: left out of a training batch (maybe all of it), placeholder rows in an evaluation one;
        # label smoothing here, as Trainer's own smoother takes class indices only (not mixup's soft targets)
        outputs = model(input_values=inputs["input_values"])
        logits = outputs.logits
        if readable.any():
            loss = classification_loss(logits[readable], inputs["labels"][readable], self.model.config, smoothing)
        else:
            loss = logits.sum() * 0.0  # a zero loss keeps the processes' backward passes in step
        return (loss, outputs) if return_outputs else loss

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        if not self.data_judged:  # a collective every step only until enough clips were read to judge
            self.check_training_data()
        return loss

    def check_training_data(self, epoch_end: bool = False) -> None:
        """Stop when the training split's clips are mostly unreadable (`check_unreadable_share`), counted over
        every process (a collective: all processes call it)."""
        counts = torch.tensor([self.skipped["train"].value, self.skipped["train"].seen], device=self.args.device)
        skipped, seen = self.accelerator.reduce(counts, reduction="sum").tolist()
        check_unreadable_share(skipped, seen, self.max_skipped_fraction, self.data_name, epoch_end)
        self.data_judged = seen >= CLIPS_BEFORE_JUDGING

    def total_skipped(self, split: str) -> int:
        """Clips skipped so far in `split` by every process (a collective: all processes call it)."""
        count = torch.tensor(self.skipped[split].value, device=self.args.device)
        return int(self.accelerator.reduce(count, reduction="sum").item())

    def log(self, logs: dict, start_time: float | None = None) -> None:
        if "loss" in logs or "train_runtime" in logs:
            logs = {**logs, "skipped_clips": self.total_skipped("train")}
        super().log(logs, start_time)

    def evaluation_loop(self, *args, metric_key_prefix: str = "eval", **kwargs):
        before = self.total_skipped("eval")
        output = super().evaluation_loop(*args, metric_key_prefix=metric_key_prefix, **kwargs)
        output.metrics[f"{metric_key_prefix}_skipped_clips"] = self.total_skipped("eval") - before
        return output


KEPT_WORKERS_HELP = ("Keep the DataLoader workers from epoch to epoch. train_classifier turns this on whenever "
                     "--dataloader_num_workers > 0 (pass false to restart them each epoch); with no workers it "
                     "stays %(default)s.")


def argument_parser() -> HfArgumentParser:
    parser = HfArgumentParser((ClassifierModelArguments, ClassifierDataArguments, FeatureArguments,
                               AugmentationArguments, ProtocolArguments, TrainingArguments))
    # TrainingArguments' own help says "default: False", which `parse_args` overrides when there are workers
    next(a for a in parser._actions if a.dest == "dataloader_persistent_workers").help = KEPT_WORKERS_HELP
    return parser


def parse_args(argv=None):
    """The arguments from the command line, or from a `.json` / `.yaml` file given as the only argument."""
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    # before TrainingArguments checks the device (e.g. for --bf16)
    forced = {"use_cpu": True} if run_on_cpu(asked=False) else {}
    parsed = parse_arguments(argument_parser(), argv, **forced)
    training_args = parsed[-1]
    if training_args.dataloader_num_workers > 0 and not sets_argument(argv, "dataloader_persistent_workers"):
        # workers kept across epochs: no restart (and first batch to wait for) per epoch; the collator's epoch
        # reaches them through shared memory (`SharedEpoch`)
        training_args.dataloader_persistent_workers = True
    return parsed


def check_arguments(model_args, data_args, augment_args, protocol_args, training_args) -> None:
    if not (training_args.do_train or training_args.do_eval):
        raise ValueError("Nothing to do: pass --do_train and/or --do_eval.")
    if model_args.problem_type not in (SINGLE_LABEL, MULTI_LABEL):
        raise ValueError(f"--problem_type must be {SINGLE_LABEL} or {MULTI_LABEL}, got {model_args.problem_type!r}.")
    if model_args.model_type is not None and model_args.model_type not in FAMILY_KEYS:
        raise ValueError(f"--model_type must be one of {FAMILY_KEYS}, got {model_args.model_type!r}.")
    if not model_args.model_name_or_path and not model_args.model_type:
        raise ValueError("Pass --model_name_or_path (a saved model or pretrained encoder) or --model_type "
                         f"({'|'.join(FAMILY_KEYS)}) to train from scratch.")
    if training_args.do_train and data_args.streaming and training_args.max_steps <= 0:
        raise ValueError("A streamed training split has no length: pass --max_steps.")
    if training_args.label_smoothing_factor and model_args.problem_type == MULTI_LABEL:
        raise ValueError("--label_smoothing_factor smooths one-of-N targets; multi-label targets are independent "
                         "yes/no decisions. Leave it out for --problem_type multi_label_classification.")
    if data_args.train_val_split is not None:
        if not 0 < data_args.train_val_split < 1:
            raise ValueError(f"--train_val_split must be between 0 and 1, got {data_args.train_val_split}.")
        if data_args.streaming:
            raise ValueError("--train_val_split needs a map-style split; a stream cannot be split by share.")
    if protocol_args.balanced_sampling and data_args.streaming:
        raise ValueError("--balanced_sampling weights each clip by how often its labels occur in the whole split, "
                         "which a stream does not know ahead, and draws clips by index, which a stream has not. "
                         "Balance a stream at its source (e.g. datasets.interleave_datasets of one stream per "
                         "class with the probabilities you want) or load the split map-style (no --streaming).")
    if protocol_args.probe_on_embeddings:
        augmenting = [f"--{name}" for name, value in vars(augment_args).items() if value]
        if not protocol_args.freeze_encoder or data_args.streaming or augmenting or training_args.world_size > 1:
            raise ValueError("--probe_on_embeddings embeds each clip once with the frozen encoder and trains the head "
                             "on those vectors: it needs --freeze_encoder and a map-style split, runs in one process, "
                             "and takes no augmentation (the embeddings are of the clean clips); "
                             f"remove {' '.join(augmenting) or '--streaming / the extra processes'}.")
    if protocol_args.layer_decay is not None and protocol_args.freeze_encoder:
        raise ValueError("--layer_decay scales the encoder's learning rates; with --freeze_encoder only the head "
                         "trains. Leave one of them out.")
    if protocol_args.layer_decay is not None and not 0 < protocol_args.layer_decay <= 1:
        raise ValueError(f"--layer_decay must be in (0, 1], got {protocol_args.layer_decay}.")
    if protocol_args.drop_path_rate is not None and not 0 <= protocol_args.drop_path_rate < 1:
        raise ValueError(f"--drop_path_rate must be in [0, 1), got {protocol_args.drop_path_rate}.")
    if (data_args.eval_folds is None) != (data_args.fold_column_name is None):
        raise ValueError("--eval_folds and --fold_column_name go together: the column of folds and the folds held "
                         "out for evaluation (ESC-50: --fold_column_name fold --eval_folds 5).")
    if data_args.eval_folds is not None and (data_args.streaming or data_args.train_val_split is not None):
        raise ValueError("--eval_folds cuts a map-style training split by its folds; leave out --streaming and "
                         "--train_val_split.")


def load_split(data_args, split: str, streaming: bool, dataset_kwargs: dict):
    dataset = load_audio_dataset(data_args.dataset_name, data_args.dataset_config_name, split,
                                 data_args.audio_column_name, streaming, **dataset_kwargs)
    check_column(dataset, data_args.label_column_name, split, "--label_column_name")
    if streaming and next(iter(dataset.take(1)), None) is None:
        raise ValueError(f"Split {split!r} of {data_args.dataset_name!r} streams no examples; check the split name "
                         "and the data files.")
    return dataset


def load_splits(data_args, training_args, dataset_kwargs: dict):
    """(training split or None, evaluation split or None): the evaluation split named, or carved from the
    training split (`--train_val_split`, `--eval_folds`); each cut to `--max_*_samples` clips drawn with `--seed`."""
    train = evaluation = None
    if data_args.eval_folds is not None:
        train, evaluation = split_by_fold(load_split(data_args, data_args.train_split_name, False, dataset_kwargs),
                                          data_args)
    elif data_args.train_val_split is not None:
        parts = load_split(data_args, data_args.train_split_name, False, dataset_kwargs).train_test_split(
            test_size=data_args.train_val_split, seed=training_args.seed)
        train, evaluation = parts["train"], parts["test"]
    else:
        if training_args.do_train:
            train = load_split(data_args, data_args.train_split_name, data_args.streaming, dataset_kwargs)
        if training_args.do_eval:
            evaluation = load_split(data_args, data_args.eval_split_name, data_args.streaming, dataset_kwargs)
    train, evaluation = (train if training_args.do_train else None), (evaluation if training_args.do_eval else None)
    return (random_subset(train, data_args.max_train_samples, training_args.seed, data_args),
            random_subset(evaluation, data_args.max_eval_samples, training_args.seed, data_args))


def split_by_fold(dataset, data_args):
    """(the clips of the other folds, the clips of `--eval_folds`) of a split with a fold column."""
    check_column(dataset, data_args.fold_column_name, data_args.train_split_name, "--fold_column_name")
    held_out = {fold.strip() for fold in data_args.eval_folds.split(",")}
    folds = [str(value) for value in dataset[data_args.fold_column_name]]
    missing = held_out - set(folds)
    if missing:
        raise ValueError(f"--eval_folds {sorted(missing)} not found in column {data_args.fold_column_name!r}, whose "
                         f"folds are {sorted(set(folds))}.")
    evaluate = [fold in held_out for fold in folds]
    return (dataset.select([i for i, held in enumerate(evaluate) if not held]),
            dataset.select([i for i, held in enumerate(evaluate) if held]))


def random_subset(dataset, size: int | None, seed: int, data_args):
    """`size` examples of `dataset` drawn with `seed` (a stream: the first `size` of a shuffle buffer)."""
    if size is None or dataset is None:
        return dataset
    if data_args.streaming:
        return dataset.shuffle(seed=seed, buffer_size=data_args.shuffle_buffer_size).take(size)
    return dataset.shuffle(seed=seed).select(range(min(size, len(dataset))))


def build_extractor(model_args, data_args, feature_args):
    """`--feature_extractor_name`'s extractor, or the saved model's (unless a preset is named), or the preset's;
    explicit values on top."""
    source = model_args.feature_extractor_name
    if source is None and model_args.model_name_or_path and not feature_args.feature_extractor_preset:
        path = model_args.model_name_or_path
        source = path if os.path.isfile(os.path.join(path, "preprocessor_config.json")) or not os.path.isdir(path) \
            else None  # a local encoder without one: the preset's
    if source is not None:
        extractor = AutoFeatureExtractor.from_pretrained(source, **model_args.hub_kwargs())
        for key, value in feature_args.explicit().items():
            setattr(extractor, key, value)
    else:
        extractor = feature_args.build(default_preset="audioset")
    if data_args.max_length_seconds and feature_args.target_frames is None:
        extractor.target_frames = extractor.num_frames(round(data_args.max_length_seconds * extractor.sampling_rate))
    return extractor


def is_placeholder(id2label: dict) -> bool:
    """transformers' default label names (LABEL_0, ...): the checkpoint was not trained on named labels."""
    return all(re.fullmatch(r"LABEL_\d+", str(name)) for name in id2label.values())


def model_config(model_args, extractor):
    """The config to start from, read before any data so that a wrong model or config fails first: the saved
    model's (checked against `--model_type`), or `--config_name` of `--model_type` sized for the extractor's
    frames, with `--config_overrides`."""
    if model_args.model_name_or_path:
        path = model_args.model_name_or_path
        saved = AutoConfig.from_pretrained(path, **model_args.hub_kwargs())
        if model_args.model_type:
            check_model_type(saved.model_type, family(model_args.model_type).model_type, path,
                             f"--model_type {model_args.model_type}")
        elif family_of(saved.model_type) is None and saved.model_type != TRANSFORMERS_AST_MODEL_TYPE:
            check_model_type(saved.model_type, "specformers-*", path, "train_classifier (AST, MAST or ASiT)")
        return saved
    chosen = family(model_args.model_type)
    overrides = f"target_frames={extractor.target_frames}," + (model_args.config_overrides or "")
    config = config_from_preset(chosen.config_class, model_args.config_name or chosen.default_preset, overrides,
                                **model_args.config_kwargs())
    config.problem_type = model_args.problem_type
    return config


def build_model(model_args, config, names: list[str] | None, drop_path_rate: float | None = None):
    """A classifier for `names` (None: keep the saved model's labels): from the saved model or encoder, or new
    from `config` (`model_config`)."""
    labels = {} if names is None else {"id2label": dict(enumerate(names)),
                                       "label2id": {name: i for i, name in enumerate(names)}}
    if drop_path_rate is not None:  # read when the blocks are built
        labels["drop_path_rate"] = drop_path_rate
    if model_args.model_name_or_path:
        model_class = ASTForAudioClassification if config.model_type == TRANSFORMERS_AST_MODEL_TYPE \
            else AutoModelForAudioClassification
        mismatched = names is not None and config.num_labels != len(names)
        model = model_class.from_pretrained(model_args.model_name_or_path, problem_type=model_args.problem_type,
                                            ignore_mismatched_sizes=mismatched, **labels, **model_args.hub_kwargs())
    else:
        for key, value in labels.items():
            setattr(config, key, value)
        model = AutoModelForAudioClassification.from_config(config)
    if model.config.problem_type != model_args.problem_type:
        raise ValueError(f"The model was trained for {model.config.problem_type}; pass --problem_type "
                         f"{model.config.problem_type}.")
    return model


def main(argv=None):
    model_args, data_args, feature_args, augment_args, protocol_args, training_args = parse_args(argv)
    check_arguments(model_args, data_args, augment_args, protocol_args, training_args)
    # the collators read the raw audio and label columns, which the model's forward does not name
    training_args.remove_unused_columns = False
    # specformers pushes once, at the end (`push_run_to_hub`), instead of Trainer's save-time pushes
    push_to_hub, training_args.push_to_hub = training_args.push_to_hub, False
    training_args.label_names = ["labels"]
    set_seed(training_args.seed)
    problem_type, label_column = model_args.problem_type, data_args.label_column_name

    extractor = build_extractor(model_args, data_args, feature_args)
    config = model_config(model_args, extractor)
    train_dataset, eval_dataset = load_splits(data_args, training_args, model_args.dataset_kwargs())
    names = discover_label_names(train_dataset, label_column, problem_type) if training_args.do_train else None
    model = build_model(model_args, config, names, protocol_args.drop_path_rate)
    if protocol_args.freeze_encoder:
        freeze_encoder(model)
    if names is None:
        names = [model.config.id2label[i] for i in range(model.config.num_labels)]
        if is_placeholder(model.config.id2label):
            raise ValueError(f"{model_args.model_name_or_path} has no label names (it is an encoder or was not "
                             "trained on named labels): evaluate a classifier saved by this script, or add --do_train.")

    skipped = {"train": SkipCounter(), "eval": SkipCounter()}
    collators, sample_weights = {}, None
    train_augment = None if protocol_args.probe_on_embeddings else augment_args  # embeddings of the clean clips
    for split, dataset, augment in (("train", train_dataset, train_augment), ("eval", eval_dataset, None)):
        if dataset is None:
            continue
        split_name = data_args.train_split_name if split == "train" else data_args.eval_split_name
        encoder = LabelEncoder(names, dataset.features[label_column] if dataset.features else None, problem_type,
                               split_name)
        if not data_args.streaming:
            encoder.check(dataset, label_column)
        if split == "train" and protocol_args.balanced_sampling:
            sample_weights = label_balanced_weights(encoder.multi_hot(dataset[label_column]))
        collators[split] = ClassificationCollator(extractor, encoder, data_args.audio_column_name, label_column,
                                                  skipped[split], augment, seed=training_args.seed,
                                                  process=training_args.process_index)
    if protocol_args.probe_on_embeddings:  # the splits become embeddings, the model the head over them
        train_dataset, eval_dataset = embed_splits(model, {"train": train_dataset, "eval": eval_dataset}, collators,
                                                   training_args)
        collators = {split: default_data_collator for split in collators}
        if protocol_args.balanced_sampling and train_dataset is not None:  # over the clips that were embedded
            sample_weights = label_balanced_weights(as_multi_hot(train_dataset["labels"][:].numpy(), len(names)))
    elif train_dataset is not None and data_args.streaming:
        from datasets.distributed import split_dataset_by_node

        train_dataset = IndexedStream(split_dataset_by_node(
            train_dataset.shuffle(seed=training_args.seed, buffer_size=data_args.shuffle_buffer_size),
            rank=training_args.process_index, world_size=training_args.world_size))
    elif train_dataset is not None:
        train_dataset = IndexedExamples(train_dataset)  # the training collator seeds each clip by its index

    trainer = ClassifierTrainer(
        model=HeadOnEmbeddings(model) if protocol_args.probe_on_embeddings else model, args=training_args,
        train_dataset=train_dataset, eval_dataset=eval_dataset,
        data_collator=collators.get("train") or collators["eval"], eval_collator=collators.get("eval"),
        processing_class=extractor, compute_metrics=make_compute_metrics(problem_type), skipped=skipped,
        streaming=data_args.streaming, max_skipped_fraction=data_args.max_skipped_fraction,
        data_name=f"`{data_args.dataset_name}` ({data_args.train_split_name} split)",
        layer_decay=protocol_args.layer_decay, sample_weights=sample_weights)
    if "train" in collators and not protocol_args.probe_on_embeddings:
        trainer.add_callback(SetCollatorEpoch(collators["train"]))

    try:
        all_metrics = {}
        if training_args.do_train:
            checkpoint = resume_point(training_args.output_dir, training_args.resume_from_checkpoint)
            with StopRequests(HostSums(trainer.accelerator)) as stops:
                trainer.add_callback(StopTrainerOnRequest(stops))
                result = trainer.train(resume_from_checkpoint=checkpoint)
            if stops.stopping:
                logger.warning(f"Stopped by {stops.describe()} at step {trainer.state.global_step}, checkpointed; "
                               "resume with --resume_from_checkpoint latest.")
                leave_preempted(trainer)
            if protocol_args.probe_on_embeddings:  # the whole classifier, its head trained
                model.save_pretrained(training_args.output_dir)
                extractor.save_pretrained(training_args.output_dir)
            else:
                trainer.save_model()
            metrics = {**result.metrics, "train_skipped_clips": trainer.total_skipped("train")}
            trainer.log_metrics("train", metrics)
            trainer.save_metrics("train", metrics)
            trainer.save_state()
            all_metrics.update(metrics)
        if training_args.do_eval:
            prediction = trainer.predict(eval_dataset, metric_key_prefix="eval")
            trainer.log_metrics("eval", prediction.metrics)
            trainer.save_metrics("eval", prediction.metrics)
            all_metrics.update(prediction.metrics)
            if problem_type == SINGLE_LABEL and trainer.is_world_process_zero():
                keep = readable_rows(prediction.label_ids)
                png, _ = write_confusion_report(prediction.predictions[keep], prediction.label_ids[keep], names,
                                                training_args.output_dir)
                print(f"Confusion matrix: {png}")
        if training_args.do_train and trainer.is_world_process_zero():
            write_card(model, extractor, model_args, data_args, augment_args, protocol_args, training_args,
                       all_metrics, argv, trainer.state.global_step)
            if push_to_hub:  # after the evaluation, the card and the results: the folder a user should get
                repo_id = push_run_to_hub(training_args.output_dir, training_args.hub_model_id,
                                          token=training_args.hub_token, private=training_args.hub_private_repo,
                                          commit_message=f"{data_args.dataset_name}: trained with specformers")
                print(f"Pushed {training_args.output_dir} to the Hub: {repo_id}")
    finally:  # also when the run fails or is preempted: kept workers left to the garbage collector stall the exit
        stop_dataloader_workers(trainer)
    return all_metrics


def stop_dataloader_workers(trainer: Trainer) -> None:
    """End the Trainer's persistent DataLoader workers now. Left to the Trainer's end (a garbage collection: its
    callbacks refer back to it), the loaders' queues can be finalized before the workers are told to stop, and
    each worker then sits out torch's 5 s join timeout."""
    handler = trainer.callback_handler  # the loaders of the last training and evaluation (a stream's too)
    for loader in [*trainer.accelerator._dataloaders, handler.train_dataloader, handler.eval_dataloader]:
        iterator = getattr(loader, "_iterator", None)  # only persistent workers outlive their epoch's iterator
        if iterator is not None:
            iterator._shutdown_workers()
            loader._iterator = None


def leave_preempted(trainer: Trainer) -> None:
    """Exit with `PREEMPTED_EXIT_STATUS`, the process group ended first (as `end_processes`, which a raised exit
    would skip), after the distributed model wrapper is dropped: a gloo group torn down under a live DDP reducer
    can hang."""
    trainer.model_wrapped = trainer.model
    trainer.accelerator.free_memory()
    gc.collect()
    end_processes()
    raise SystemExit(PREEMPTED_EXIT_STATUS)


def end_processes() -> None:
    """End the process group of a multi-process run (a no-op otherwise) before the interpreter's teardown, where an
    open one can abort a process after its work is done."""
    PartialState().destroy_process_group()


def write_card(model, extractor, model_args, data_args, augment_args, protocol_args, training_args, metrics: dict,
               argv, steps: int) -> None:
    """The model card (README.md) beside the saved weights, with the run's evaluation in its model-index."""
    arguments = " ".join(sys.argv[1:] if argv is None else [str(a) for a in argv])
    train_results = {key: metrics[key] for key in sorted(metrics) if key.startswith("train_") or key == "epoch"}
    hyperparameters = {**hyperparameters_of(training_args, CLASSIFIER_CARD_FIELDS), "optimizer_steps": steps,
                       "processes": training_args.world_size,
                       **{name: value for name, value in {**vars(augment_args), **vars(protocol_args)}.items()
                          if value}}
    card = classifier_card(
        model, extractor, model_path=training_args.output_dir, dataset_name=data_args.dataset_name,
        dataset_config_name=data_args.dataset_config_name, eval_split=evaluated_on(data_args), metrics=metrics,
        license=model_args.license, hyperparameters=hyperparameters,
        command=f"python -m specformers.training.train_classifier {arguments}",
        base_model=model_args.model_name_or_path,
        training_summary=f"Trained on the `{data_args.train_split_name}` split for {steps} optimizer steps; the "
                         f"run's training figures:\n\n"
                         f"```json\n{json.dumps(train_results, indent=1)}\n```")
    card.save(os.path.join(training_args.output_dir, "README.md"))


def evaluated_on(data_args) -> str:
    if data_args.eval_folds is not None:
        return f"{data_args.train_split_name} (folds {data_args.eval_folds})"
    return data_args.train_split_name if data_args.train_val_split is not None else data_args.eval_split_name


def cli() -> None:
    """The `specformers-train-classifier` console script: `main` without its return value (the metrics),
    so the exit status is 0."""
    main()
    end_processes()


if __name__ == "__main__":
    cli()
