"""The PreTrainedModel base every specformers model shares, and the checkpoint-file helpers of the conversions."""

from __future__ import annotations

import importlib
import json
import os
import tempfile

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.utils import cached_file

HUB_KWARGS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder", "proxies")
AUTO = "or with AutoModelForAudioClassification / AutoModel, which pick the class from its config"
# model_type -> what to load a folder of that type with; filled in by `specformers.families` (the table of model
# families), so that the model files, which the Hub export copies as remote code, do not need that table.
LOADERS: dict[str, str] = {}


def check_model_type(found: str | None, wanted: str, path, loader: str) -> None:
    """Refuse a folder holding a `found` model where a `wanted` one is needed (by `loader`, a class or a script),
    saying what to load it with instead. No model type (e.g. no config.json) passes: loading says so itself."""
    if found and found != wanted:
        hint = LOADERS.get(found, f"Load it with its own class, {AUTO}.")
        raise ValueError(f"{path} holds a {found!r} model, not a {wanted!r} one for {loader}. {hint}")


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a `.safetensors` file, or of a pickled checkpoint opened with `weights_only=True`."""
    path = str(path)
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):  # training checkpoints often wrap the weights
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return state


def timm_weights(weights) -> dict[str, torch.Tensor]:
    """What `from_timm` takes -> a state dict: a timm model, its `state_dict()`, a checkpoint file (`.safetensors`,
    or a pickle opened with `weights_only=True`), or a timm model name, built by timm with its ImageNet weights
    (this needs timm, and timm needs torchvision: `pip install "specformers[timm]"`)."""
    if isinstance(weights, nn.Module):
        return weights.state_dict()
    if isinstance(weights, dict):
        return dict(weights)
    if os.path.exists(weights):
        return load_state_dict_file(weights)
    try:
        import timm
    except Exception as error:  # missing, or installed beside a torchvision that does not load
        raise ImportError(f"{weights!r} is not a file, so from_timm takes it for a timm model name, which needs timm "
                          f"(and torchvision): pip install \"specformers[timm]\" ({error}). Or pass a timm model, "
                          "its state_dict() or a checkpoint file.") from error
    return timm.create_model(weights, pretrained=True).state_dict()


def load_checkpoint_tensors(path, hub_kwargs: dict) -> dict[str, torch.Tensor]:
    """All tensors of a saved model (folder or Hub id): model.safetensors (single or sharded) or pytorch_model.bin."""
    for name in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"):
        file = cached_file(path, name, _raise_exceptions_for_missing_entries=False, **hub_kwargs)
        if file is None:
            continue
        if name.endswith(".index.json"):
            with open(file) as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
            state = {}
            for shard in shards:
                state.update(load_state_dict_file(cached_file(path, shard, **hub_kwargs)))
            return state
        return load_state_dict_file(file)
    raise OSError(f"No model.safetensors or pytorch_model.bin found in {path}.")


# save_pretrained's keywords about the Hub, which `SpecformersPreTrainedModel.save_pretrained` handles itself
PUSH_KWARGS = ("repo_id", "commit_message", "private", "token", "create_pr", "revision")


def _specformers_module(name: str):
    """A specformers module that the model files do not import by name, so that the remote-code export (which
    follows their relative imports) does not carry it; here only when saving with code or pushing."""
    return importlib.import_module(f"specformers.{name}")


class SpecformersPreTrainedModel(PreTrainedModel):
    """Spectrogram input, SDPA or eager attention (switchable at any time with `set_attn_implementation`),
    activation checkpointing of every block (each a `GradientCheckpointingLayer`), and truncated-normal
    initialisation (std `config.initializer_range`) of linear and convolution weights, plus of the parameters a
    module names in its class attribute `_trunc_normal_parameters` (tokens, position tables).

    The config is validated when the model is built (as transformers' models do), so a config may be assembled
    field by field first."""

    main_input_name = "input_values"
    input_modalities = ("audio",)
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    # name endings of the parameters the family's recipe exempts from weight decay, besides biases and 1-D tensors
    _no_weight_decay_keys: tuple[str, ...] = ()

    def __init__(self, config: PretrainedConfig, *inputs, **kwargs):
        config.validate_fields()
        super().__init__(config, *inputs, **kwargs)

    def save_pretrained(self, save_directory, *args, push_to_hub: bool = False, **kwargs):
        """transformers' `save_pretrained`; with `push_to_hub=True` (and `repo_id=`, default the folder's name) or
        after `register_for_auto_class`, the folder also gets the model's source as flat files and an `auto_map`
        (specformers' `export_for_hub` code: transformers' own copy cannot follow the package's imports), so that
        `trust_remote_code=True` loads it where specformers is not installed."""
        auto_class, type(self)._auto_class = type(self)._auto_class, None
        try:
            super().save_pretrained(save_directory, *args, **{k: v for k, v in kwargs.items() if k not in PUSH_KWARGS})
        finally:
            type(self)._auto_class = auto_class
        if push_to_hub or auto_class is not None:
            _specformers_module("export_for_hub").write_remote_code(str(save_directory))
        if push_to_hub:
            repo_id = kwargs.get("repo_id") or os.path.basename(os.path.normpath(str(save_directory)))
            _specformers_module("hub_push").upload_folder(
                str(save_directory), repo_id, token=kwargs.get("token"), private=kwargs.get("private"),
                revision=kwargs.get("revision"),
                commit_message=kwargs.get("commit_message") or "Upload with specformers")

    def push_to_hub(self, repo_id: str, *, commit_message: str | None = None, private: bool | None = None,
                    token: str | None = None, revision: str | None = None, **kwargs) -> str:
        """Upload the model with its code and `auto_map` (see `save_pretrained`) to `repo_id`; returns its id.
        Push the feature extractor too (`extractor.push_to_hub(repo_id)`), or a whole training run folder with
        `specformers.hub_push.push_run_to_hub`."""
        with tempfile.TemporaryDirectory() as work:
            self.save_pretrained(work, **{k: v for k, v in kwargs.items() if k not in PUSH_KWARGS})
            _specformers_module("export_for_hub").write_remote_code(work)
            return _specformers_module("hub_push").upload_folder(
                work, repo_id, token=token, private=private, revision=revision,
                commit_message=commit_message or "Upload with specformers")

    def no_weight_decay(self) -> set[str]:
        """Names of the parameters (as `named_parameters` gives them) that weight decay leaves out besides biases
        and 1-D tensors, as each family's recipe has it (timm's `no_weight_decay`): AST its prefix tokens and
        position embeddings (timm's ViT/DeiT), MAST its relative-position tables and cls token (timm's MViTv2),
        ASiT none (its authors decay tokens and positions). Encoders nested in a wrapper keep their own."""
        names = set()
        for prefix, module in self.named_modules():
            keys = getattr(module, "_no_weight_decay_keys", ())
            if keys:
                names |= {f"{prefix}.{name}" if prefix else name
                          for name, _ in module.named_parameters() if name.endswith(keys)}
        return names

    def output_flags(self, output_attentions: bool | None, output_hidden_states: bool | None,
                     return_dict: bool | None) -> tuple[bool, bool, bool]:
        """The forward's output switches, unset ones taken from the config."""
        config = self.config
        return (config.output_attentions if output_attentions is None else output_attentions,
                config.output_hidden_states if output_hidden_states is None else output_hidden_states,
                config.return_dict if return_dict is None else return_dict)

    @classmethod
    def _can_set_attn_implementation(cls) -> bool:
        # Every attention module reads `config._attn_implementation` at each call, so switching takes effect at
        # once. (transformers' default guesses this from the module source and caches it on the class.)
        return True

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """`PreTrainedModel.from_pretrained`, refusing what would not give the encoder the user means: a folder of
        another model type, a pretraining checkpoint (`checkpoint-N`), or one with none of the encoder's weights.

        Weights given explicitly (`from_pretrained(None, config=config, state_dict=...)`) are the caller's choice
        and are not checked."""
        if pretrained_model_name_or_path is None:
            return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        if not isinstance(kwargs.get("config"), PretrainedConfig):
            hub_kwargs = {k: kwargs[k] for k in HUB_KWARGS if k in kwargs}
            try:
                config_dict, _ = PretrainedConfig.get_config_dict(pretrained_model_name_or_path, **hub_kwargs)
            except OSError:
                config_dict = {}  # no config.json: from_pretrained says so itself
            check_model_type(config_dict.get("model_type"), cls.config_class.model_type, pretrained_model_name_or_path,
                             cls.__name__)
        wants_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(pretrained_model_name_or_path, *model_args, output_loading_info=True,
                                              **kwargs)
        if any(key.startswith("teacher_vit.") for key in info["unexpected_keys"]):
            raise ValueError(f"{pretrained_model_name_or_path} is an ASiT pretraining checkpoint (student and "
                             f"teacher); {cls.__name__} would take the student from it. Fine-tune the teacher encoder "
                             f"that pretrain_asit saved in its --output_dir, or take it out of this checkpoint with "
                             f"`ASiTForPreTraining.from_pretrained(path).teacher_vit.save_pretrained(folder)`.")
        base = model.base_model
        prefix = "" if base is model else f"{model.base_model_prefix}."
        encoder = {prefix + name for name, _ in base.named_parameters()}
        if encoder and encoder <= set(info["missing_keys"]):
            raise ValueError(f"{pretrained_model_name_or_path} has none of the {len(encoder)} encoder weights "
                             f"{cls.__name__} needs. If it is a pretraining checkpoint (`checkpoint-N`), fine-tune "
                             f"the encoder the script saved in its --output_dir instead; to start from random "
                             f"weights, build the model from a config ({cls.__name__}(config)).")
        return (model, info) if wants_info else model

    @classmethod
    def _from_converted(cls, config: PretrainedConfig, state: dict, source, model_args=(), kwargs=None):
        """`from_pretrained` on weights converted in memory (all its options work): through a temporary folder
        holding `config` and `state`. The model records `source` as where it came from."""
        from safetensors.torch import save_file

        with tempfile.TemporaryDirectory() as tmp:
            config.save_pretrained(tmp)
            save_file({k: v.contiguous() for k, v in state.items()}, os.path.join(tmp, "model.safetensors"),
                      metadata={"format": "pt"})
            model = cls.from_pretrained(tmp, *model_args, **(kwargs or {}))
        loaded = model[0] if isinstance(model, tuple) else model
        if source is not None:  # the temporary copy is gone; e.g. a pipeline looks for the extractor there
            loaded.config._name_or_path = str(source)
        return model

    @torch.no_grad()
    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        for name in getattr(module, "_trunc_normal_parameters", ()):
            if getattr(module, name) is not None:
                init.trunc_normal_(getattr(module, name), std=std)
