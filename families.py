"""The table of model families: what every part of specformers needs to know about AST, MAST and ASiT.

The Auto-class registration (`__init__`), the training scripts (`--model_type`, `--backbone`), the model cards,
the Hub export and the tests all read `FAMILIES`; adding a family means adding one entry here (and its config,
model files and card template).
"""

from __future__ import annotations

from dataclasses import dataclass

from .configuration.configuration_asit import ASiTConfig
from .configuration.configuration_ast import ASTConfig
from .configuration.configuration_mast import MASTConfig
from .configuration.configuration_ssmast import SSMASTConfig
from .modeling import modeling_utils
from .modeling.ast_conversion import TRANSFORMERS_AST_MODEL_TYPE
from .modeling.modeling_asit import ASiTForAudioClassification, ASiTModel
from .modeling.modeling_ast import ASTForAudioClassification, ASTModel
from .modeling.modeling_mast import MASTForAudioClassification, MASTModel
from .modeling.pretraining_asit import ASiTForPreTraining


@dataclass(frozen=True)
class ModelFamily:
    """One model family.

    Attributes:
        key: its name on the command line (`--model_type`, `--backbone`) and in presets (`ast-base`).
        name: its name in prose and cards.
        config_class, model_class, classifier_class: the encoder's config, the encoder, the classifier.
        pretraining_class: its own pretraining model (ASiT's), if any.
        default_preset: what the training scripts build without `--config_name`.
        tiny_preset: a size that runs in seconds on a CPU (tests, docs, demos).
        ssmast_backbone: SS-MAST can pretrain it.
        card_template: the family's description in `hub_cards/templates/`.
        paper, citation: what model cards cite.
    """

    key: str
    name: str
    config_class: type
    model_class: type
    classifier_class: type
    pretraining_class: type | None
    default_preset: str
    tiny_preset: str
    ssmast_backbone: bool
    card_template: str
    paper: str
    citation: str

    @property
    def model_type(self) -> str:
        return self.config_class.model_type

    @property
    def presets(self) -> list[str]:
        return sorted(self.config_class.presets)

    @property
    def loader_hint(self) -> str:
        return (f"Load it with {self.model_class.__name__} / {self.classifier_class.__name__}, "
                f"{modeling_utils.AUTO}.")


FAMILIES = (
    ModelFamily(
        key="ast", name="AST", config_class=ASTConfig, model_class=ASTModel,
        classifier_class=ASTForAudioClassification, pretraining_class=None, default_preset="ast-base",
        tiny_preset="ast-tiny", ssmast_backbone=True, card_template="ast.md",
        paper="AST: Audio Spectrogram Transformer, Gong et al., Interspeech 2021",
        citation="@inproceedings{gong21b_interspeech,\n  title = {{AST: Audio Spectrogram Transformer}},\n"
                 "  author = {Yuan Gong and Yu-An Chung and James Glass},\n"
                 "  booktitle = {Proc. Interspeech 2021}, pages = {571--575}, year = {2021}}"),
    ModelFamily(
        key="mast", name="MAST", config_class=MASTConfig, model_class=MASTModel,
        classifier_class=MASTForAudioClassification, pretraining_class=None, default_preset="mast-small",
        tiny_preset="mast-tiny", ssmast_backbone=True, card_template="mast.md",
        paper="MAST: Multiscale Audio Spectrogram Transformers, Ghosh et al., ICASSP 2023",
        citation="@inproceedings{ghosh2023mast,\n  title = {{MAST: Multiscale Audio Spectrogram Transformers}},\n"
                 "  author = {Sreyan Ghosh and Ashish Seth and S. Umesh and Dinesh Manocha},\n"
                 "  booktitle = {ICASSP 2023}, year = {2023}}"),
    ModelFamily(
        key="asit", name="ASiT", config_class=ASiTConfig, model_class=ASiTModel,
        classifier_class=ASiTForAudioClassification, pretraining_class=ASiTForPreTraining,
        default_preset="asit-base", tiny_preset="asit-tiny", ssmast_backbone=False, card_template="asit.md",
        paper="ASiT: Audio Spectrogram vIsion Transformer for General Audio Representation, Atito et al., 2022",
        citation="@article{atito2022asit,\n  title = {{ASiT: Audio Spectrogram vIsion Transformer for General "
                 "Audio Representation}},\n  author = {Sara Atito and Muhammad Awais and Wenwu Wang and "
                 "Mark D. Plumbley and Josef Kittler},\n  journal = {arXiv preprint arXiv:2211.13189}, "
                 "year = {2022}}"),
)


def family(key: str) -> ModelFamily:
    """The family named `key` (`ast`, `mast`, `asit`), or a ValueError listing them."""
    for candidate in FAMILIES:
        if candidate.key == key:
            return candidate
    raise ValueError(f"Unknown model family {key!r}; choose one of {[f.key for f in FAMILIES]}.")


def family_of(model_type: str) -> ModelFamily | None:
    """The family whose config has `model_type` (`specformers-ast`, ...), or None."""
    return next((candidate for candidate in FAMILIES if candidate.model_type == model_type), None)


# What from_pretrained tells someone who points a class at a folder of another model type (the check itself is
# `modeling_utils.check_model_type`, which the model files carry without this table: remote code does not).
modeling_utils.LOADERS.update({candidate.model_type: candidate.loader_hint for candidate in FAMILIES})
modeling_utils.LOADERS[TRANSFORMERS_AST_MODEL_TYPE] = (
    "Load it with ASTModel / ASTForAudioClassification: they convert transformers' AST checkpoints.")
modeling_utils.LOADERS[SSMASTConfig.model_type] = (
    "It is an SS-MAST pretraining checkpoint: fine-tune the encoder that pretrain_ssmast saved in its --output_dir, "
    "or take it out of this checkpoint with `SSMASTForPreTraining.from_pretrained(path).backbone"
    ".save_pretrained(folder)`.")
