"""specformers: AST, MAST and ASiT spectrogram transformers for Hugging Face Transformers.

Importing the package registers every config, model and the feature extractor with the transformers Auto
classes, and makes `pipeline("audio-classification")` use the specformers extractor for specformers models.
"""

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForAudioClassification,
    AutoModelForPreTraining,
)

# Absolute imports: when a tool imports this file by path under another name (pytest does, for the checkout
# folder), it still gets the one set of specformers classes instead of registering a second copy.
from specformers.configuration.configuration_asit import ASiTConfig
from specformers.configuration.configuration_ast import ASTConfig
from specformers.configuration.configuration_mast import MASTConfig
from specformers.configuration.configuration_ssmast import SSMASTConfig
from specformers.families import FAMILIES
from specformers.feature_extraction.feature_extraction_fbank import SpectrogramFeatureExtractor
from specformers.long_audio import classify_long_audio
from specformers.modeling.modeling_asit import ASiTForAudioClassification, ASiTModel
from specformers.modeling.modeling_ast import ASTForAudioClassification, ASTModel
from specformers.modeling.modeling_mast import MASTForAudioClassification, MASTModel
from specformers.modeling.pretraining_asit import ASiTForPreTraining
from specformers.modeling.pretraining_ssmast import SSMASTForPreTraining
from specformers.pipelines import SpectrogramAudioClassificationPipeline, register_pipeline

__version__ = "0.1.0"

__all__ = [
    "SpectrogramFeatureExtractor",
    "SpectrogramAudioClassificationPipeline",
    "classify_long_audio",
    "ASTConfig",
    "ASTModel",
    "ASTForAudioClassification",
    "MASTConfig",
    "MASTModel",
    "MASTForAudioClassification",
    "ASiTConfig",
    "ASiTModel",
    "ASiTForAudioClassification",
    "ASiTForPreTraining",
    "SSMASTConfig",
    "SSMASTForPreTraining",
]

# Class names may clash with transformers' (ASTConfig): Auto lookups of registered classes go by class object, so
# exist_ok=True leaves transformers' own AST untouched.
for _family in FAMILIES:
    AutoConfig.register(_family.model_type, _family.config_class, exist_ok=True)
    AutoModel.register(_family.config_class, _family.model_class, exist_ok=True)
    AutoModelForAudioClassification.register(_family.config_class, _family.classifier_class, exist_ok=True)
    AutoFeatureExtractor.register(_family.config_class, SpectrogramFeatureExtractor, exist_ok=True)
    if _family.pretraining_class is not None:
        AutoModelForPreTraining.register(_family.config_class, _family.pretraining_class, exist_ok=True)
AutoConfig.register(SSMASTConfig.model_type, SSMASTConfig, exist_ok=True)
AutoModelForPreTraining.register(SSMASTConfig, SSMASTForPreTraining, exist_ok=True)
register_pipeline()
