"""Command-line arguments shared by the training scripts (HfArgumentParser dataclasses)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import yaml
from transformers import HfArgumentParser

from ..families import FAMILIES
from ..feature_extraction.feature_extraction_fbank import PRESETS, SpectrogramFeatureExtractor


@dataclass
class DatasetArguments:
    dataset_name: str = field(metadata={"help": "Hub id or local folder (audiofolder, parquet or webdataset .tar)."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Dataset configuration, if any."})
    train_split_name: str = field(default="train", metadata={"help": "Split to train on."})
    audio_column_name: str = field(default="audio", metadata={"help": "Column holding the audio."})
    streaming: bool = field(default=False, metadata={"help": "Stream the split (needs --max_steps)."})
    max_skipped_fraction: float = field(
        default=0.5, metadata={"help": "Stop when more than this share of the clips read cannot be decoded."})


@dataclass
class DataArguments(DatasetArguments):
    """The pretraining scripts' data arguments (the classifier takes its worker count from TrainingArguments)."""

    dataloader_num_workers: int = field(default=2, metadata={"help": "DataLoader workers (decoding, features)."})
    features_on_device: bool = field(
        default=False, metadata={"help": "Compute spectrograms and their corruptions / crops in the training process, "
                                 "on its accelerator; the workers only decode, crop, resample and draw."})


@dataclass
class FeatureArguments:
    feature_extractor_preset: str | None = field(
        default=None, metadata={"help": f"Statistics and length preset: {', '.join(PRESETS)} (default per script)."})
    target_frames: int | None = field(default=None, metadata={"help": "Frames per clip (overrides the preset)."})
    norm_mean: float | None = field(default=None, metadata={"help": "Normalisation mean (overrides the preset)."})
    norm_std: float | None = field(default=None, metadata={"help": "Normalisation std (overrides the preset)."})
    sampling_rate: int | None = field(default=None, metadata={"help": "Model sampling rate (default 16000)."})

    def explicit(self) -> dict:
        """The extractor settings given on the command line."""
        return {key: value for key, value in (("target_frames", self.target_frames), ("norm_mean", self.norm_mean),
                                              ("norm_std", self.norm_std), ("sampling_rate", self.sampling_rate))
                if value is not None}

    def build(self, default_preset: str) -> SpectrogramFeatureExtractor:
        """The extractor of the preset, with every explicitly given value on top."""
        return SpectrogramFeatureExtractor.from_preset(self.feature_extractor_preset or default_preset,
                                                       **self.explicit())


@dataclass
class ModelArguments:
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Start from this saved model (a folder or a Hub id)."})
    config_name: str | None = field(
        default=None, metadata={"help": "Config to start from scratch: a preset (" + ", ".join(
            name for f in FAMILIES for name in f.config_class.presets) + "), a config folder or config.json, or "
            "a Hub id."})
    config_overrides: str | None = field(
        default=None, metadata={"help": "Config fields over the preset, e.g. hidden_size=192,num_hidden_layers=4."})
    cache_dir: str | None = field(
        default=None, metadata={"help": "Where downloaded models and datasets are stored (default: HF's cache)."})
    model_revision: str = field(
        default="main", metadata={"help": "Branch, tag or commit of --model_name_or_path / --config_name on the Hub."})
    token: str | None = field(
        default=None, metadata={"help": "Hub token for private models and datasets (default: `hf auth login`'s)."})
    trust_remote_code: bool = field(
        default=False, metadata={"help": "Allow a model of another library with its own code on the Hub (only "
                                         "for --model_name_or_path of a model that needs it)."})
    license: str | None = field(
        default=None, metadata={"help": "Licence in the model card (e.g. apache-2.0, cc-by-4.0); default: the "
                                        "base model's when its card says, else `other` with a note to choose one."})

    def hub_kwargs(self) -> dict:
        """What `from_pretrained` takes of these (models, configs, extractors)."""
        return {**self.config_kwargs(), "trust_remote_code": self.trust_remote_code}

    def config_kwargs(self) -> dict:
        """What reading a `--config_name` folder or Hub id takes of these."""
        return {"cache_dir": self.cache_dir, "revision": self.model_revision, "token": self.token}

    def dataset_kwargs(self) -> dict:
        """What `load_dataset` takes of these."""
        return {"cache_dir": self.cache_dir, "token": self.token}


def parse_arguments(parser: HfArgumentParser, argv: list[str], **forced) -> tuple:
    """The parser's dataclasses from a command line, or from a `.json` / `.yaml` file given as the only argument
    (as transformers' examples take them); `forced` values are added unless the arguments set them."""
    values = argument_file(argv)
    if values is not None:
        return parser.parse_dict({**forced, **values})
    missing = [word for name, value in forced.items() if not sets_argument(argv, name)
               for word in (f"--{name}", str(value))]
    return parser.parse_args_into_dataclasses([*argv, *missing])


def argument_file(argv: list[str]) -> dict | None:
    """The values of a `.json` / `.yaml` file given as the only argument; None for a command line."""
    if len(argv) == 1 and argv[0].endswith((".json", ".yaml", ".yml")):
        with open(argv[0]) as f:
            return json.load(f) if argv[0].endswith(".json") else yaml.safe_load(f)
    return None


def sets_argument(argv: list[str], name: str) -> bool:
    """Whether the command line (or the arguments file) sets `--name`."""
    values = argument_file(argv)
    if values is not None:
        return name in values
    return any(word == f"--{name}" or word.startswith(f"--{name}=") for word in argv)


@dataclass
class PretrainingArguments:
    output_dir: str = field(metadata={"help": "Checkpoints, logs and the final encoder go here."})
    per_device_train_batch_size: int = field(default=8)
    gradient_accumulation_steps: int = field(default=1)
    max_steps: int = field(default=-1, metadata={"help": "Optimiser steps; overrides --num_train_epochs if > 0."})
    num_train_epochs: int = field(default=100)
    # None: the script's recipe (its authors' settings; see the fidelity page)
    optimizer: str | None = field(default=None, metadata={"help": "adamw or sgd (momentum 0.9)."})
    learning_rate: float | None = field(
        default=None, metadata={"help": "Peak learning rate (default: the recipe's, scaled by the global batch)."})
    lr_scheduler_type: str | None = field(
        default=None, metadata={"help": "cosine (after the warm-up, down to --min_learning_rate) or constant."})
    min_learning_rate: float = field(default=1e-6, metadata={"help": "Learning rate at the end of the cosine."})
    warmup_steps: int | None = field(default=None, metadata={"help": "Linear learning-rate warm-up."})
    weight_decay: float | None = field(default=None, metadata={"help": "Weight decay at the start."})
    weight_decay_end: float | None = field(
        default=None, metadata={"help": "Weight decay at the end (cosine from --weight_decay); unset: constant."})
    max_grad_norm: float | None = field(default=None, metadata={"help": "Gradient clipping threshold; 0: none."})
    clip_grad_mode: str | None = field(
        default=None, metadata={"help": "per_tensor (each parameter's gradient on its own, DINO's) or global."})
    checkpointing_steps: int | None = field(default=None, metadata={"help": "Save a checkpoint every N steps."})
    save_total_limit: int | None = field(
        default=None, metadata={"help": "Keep only the newest N checkpoints (the one just written always stays)."})
    resume_from_checkpoint: str | None = field(
        default=None, metadata={"help": "A checkpoint folder, or 'latest' for the newest in --output_dir."})
    stop_after_steps: int | None = field(
        default=None, metadata={"help": "Stop after N steps as if interrupted (time-sliced jobs, resume tests)."})
    seed: int = field(default=0)
    logging_steps: int = field(default=10)
    report_to: str = field(default="none", metadata={"help": "Accelerate trackers: none, all, tensorboard, ..."})
    use_cpu: bool = field(default=False, metadata={"help": "Train on the CPU even when an accelerator is present."})
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "Recompute the student's blocks in the backward pass (less memory)."})
    torch_compile: bool = field(default=False, metadata={"help": "Compile the model with torch.compile."})
    torch_compile_backend: str = field(
        default="inductor", metadata={"help": "torch.compile's backend (e.g. inductor, aot_eager)."})
    tracker_project_name: str | None = field(
        default=None, metadata={"help": "Project of the --report_to trackers (default: the script's name)."})
    run_name: str | None = field(default=None, metadata={"help": "The run's name in the trackers (wandb, mlflow)."})
    push_to_hub: bool = field(
        default=False, metadata={"help": "At the end, push the encoder (with extractor, card and code) to the Hub."})
    hub_model_id: str | None = field(
        default=None, metadata={"help": "Repository to push to (default: the --output_dir name under your account)."})
    hub_token: str | None = field(default=None, metadata={"help": "Hub token (default: `hf auth login`'s)."})
    hub_private_repo: bool | None = field(default=None, metadata={"help": "Create the repository as private."})
    log_level: str = field(
        default="info", metadata={"help": "Messages of specformers, transformers and datasets: debug, info, warning, "
                                          "error (main process; the others log warnings and errors)."})
    mixed_precision: str | None = field(
        default=None, metadata={"help": "no, fp16 or bf16 (default: accelerate launch's setting)."})

    def with_recipe(self, **recipe) -> PretrainingArguments:
        """These arguments with every unset (None) field that `recipe` names filled from it, checked."""
        filled = replace(self, **{k: v for k, v in recipe.items() if getattr(self, k) is None})
        if filled.weight_decay_end is None:
            filled.weight_decay_end = filled.weight_decay
        choices = {"optimizer": ("adamw", "sgd"), "lr_scheduler_type": ("cosine", "constant"),
                   "clip_grad_mode": ("per_tensor", "global")}
        for name, allowed in choices.items():
            if getattr(filled, name) not in allowed:
                raise ValueError(f"--{name} must be one of {allowed}; got {getattr(filled, name)!r}.")
        if filled.save_total_limit is not None and filled.save_total_limit < 1:
            raise ValueError(f"--save_total_limit must be at least 1 (got {filled.save_total_limit}); leave it out "
                             "to keep every checkpoint.")
        return filled


def hyperparameters_of(args, names: tuple[str, ...]) -> dict:
    """The `names` fields of `args` that are set (not None, empty or False), for the model card's table; enum
    values by their value."""
    values = {name: getattr(getattr(args, name, None), "value", getattr(args, name, None)) for name in names}
    return {name: value for name, value in values.items() if value is not None and value != "" and value is not False}
