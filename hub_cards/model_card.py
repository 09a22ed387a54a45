"""Model cards for saved specformers models, built with `huggingface_hub.ModelCard` from the templates in
`templates/`: `model_card.md` for every model, plus one description per model family (`ast.md`, `mast.md`,
`asit.md`) filled from the config. YAML metadata carries a `model-index` of the run's real evaluation results."""

from __future__ import annotations

import json
import math
import os
import re

import jinja2
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..families import family_of

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")

# metric keys of the shipped metric modules -> model-index metric types
METRIC_TYPES = {"accuracy": "accuracy", "top_5_accuracy": "top_5_accuracy", "mAP": "mAP", "mAUC": "roc_auc",
                "d_prime": "d_prime"}


def eval_results_of(metrics: dict, prefix: str = "eval") -> dict[str, float]:
    """The quality metrics among a run's `{prefix}_*` results (no loss, timings or counts)."""
    return {key: float(metrics[f"{prefix}_{key}"]) for key in METRIC_TYPES if f"{prefix}_{key}" in metrics}


def family_description(config) -> str:
    """The family's template (`templates/ast.md`, ...) filled with this config's sizes."""
    with open(os.path.join(TEMPLATES, family_of(config.model_type).card_template)) as f:
        return jinja2.Template(f.read()).render(config=config).strip()


def dataset_label(dataset_name: str | None) -> str:
    """A Hub dataset id as is; a local folder by its name."""
    if not dataset_name:
        return "unknown data"
    return os.path.basename(os.path.normpath(dataset_name)) if os.path.isdir(dataset_name) else dataset_name


def hub_model_id(name: str | None) -> str | None:
    """`name` when it is a Hub model id (`owner/name`, not a local path), else None."""
    if not name or os.path.exists(name):
        return None
    return name if re.fullmatch(r"[\w.-]+/[\w.-]+", name) else None


def license_of(model: str | None) -> str | None:
    """The licence in the card of `model` (a local folder, or a Hub id already in the local cache), if it says."""
    if not model:
        return None
    path = os.path.join(model, "README.md") if os.path.isdir(model) else None
    if path is None and hub_model_id(model):
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model, "README.md")
        path = cached if isinstance(cached, str) else None
    if path is None or not os.path.isfile(path):
        return None
    return ModelCard.load(path).data.license


def framework_versions() -> dict[str, str]:
    """The versions of the libraries a saved model was made with (those installed)."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("specformers", "transformers", "torch", "datasets", "accelerate", "huggingface_hub"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def model_card(config, extractor, *, num_parameters: int, is_classifier: bool, model_path: str,
               dataset_name: str | None, dataset_config_name: str | None = None, eval_split: str = "validation",
               metrics: dict | None = None, command: str | None = None, base_model: str | None = None,
               training_summary: str = "", license: str | None = None,
               hyperparameters: dict | None = None) -> ModelCard:
    """The card of a classifier (`is_classifier`) or a pretrained encoder; `metrics` are the run's results
    (`eval_accuracy`, ...) and become the `model-index`. `base_model` goes into the metadata when it is a Hub id
    (a local folder is named in the text only). `license`: None takes the base model's when its card says, else
    `other` with a sentence asking the author to choose one. `hyperparameters` become a table."""
    family = family_of(config.model_type)
    results = eval_results_of(metrics or {})
    data = dataset_label(dataset_name)
    chosen_license = license or license_of(base_model)
    eval_results = [
        EvalResult(task_type="audio-classification", task_name="Audio classification", dataset_type=data,
                   dataset_name=data, dataset_config=dataset_config_name, dataset_split=eval_split,
                   metric_type=METRIC_TYPES[key], metric_name=key, metric_value=value)
        for key, value in results.items()]
    name = os.path.basename(os.path.normpath(model_path))
    card_data = ModelCardData(
        library_name="transformers", pipeline_tag="audio-classification" if is_classifier else "feature-extraction",
        license=chosen_license or "other", tags=["audio", "audio-classification" if is_classifier
                                                  else "self-supervised", "specformers", family.key],
        datasets=[dataset_name] if dataset_name and not os.path.isdir(dataset_name) else None,
        metrics=sorted({METRIC_TYPES[key] for key in results}) or None,
        base_model=hub_model_id(base_model), model_name=name, eval_results=eval_results or None)
    if base_model:
        source = f"`{base_model}`" if hub_model_id(base_model) else \
            f"a local model (`{os.path.basename(os.path.normpath(base_model))}`)"
        trained_how = f"fine-tuned from {source} on {data}."
    elif not dataset_name:
        trained_how = "trained on data not recorded with it."
    else:
        trained_how = f"{'trained from scratch' if is_classifier else 'pretrained without labels'} on {data}."
    labels = [config.id2label[i] for i in sorted(config.id2label)] if is_classifier else []
    shown = ", ".join(f"`{label}`" for label in labels[:30]) + (f" and {len(labels) - 30} more" * (len(labels) > 30))
    return ModelCard.from_template(
        card_data, template_path=os.path.join(TEMPLATES, "model_card.md"), model_title=name, family=family,
        family_description=family_description(config), num_parameters=f"{num_parameters / 1e6:.2f} M",
        is_classifier=is_classifier, trained_how=trained_how, num_labels=len(labels), label_list=shown,
        problem_kind="multi-label" if config.problem_type == "multi_label_classification" else "single-label",
        results=results, eval_split=eval_split, extractor=extractor,
        window_seconds=extractor.window_samples / extractor.sampling_rate, command=command,
        training_summary=training_summary, model_path=model_path, data_known=bool(dataset_name),
        license_missing=not license and chosen_license in (None, "other"), hyperparameters=hyperparameters or {},
        framework_versions=framework_versions(),
        auto_class="AutoModelForAudioClassification" if is_classifier else "AutoModel")


def classifier_card(model, extractor, **kwargs) -> ModelCard:
    """The card of a trained audio classifier (see `model_card` for the keywords)."""
    return model_card(model.config, extractor, num_parameters=sum(p.numel() for p in model.parameters()),
                      is_classifier=True, **kwargs)


def encoder_card(encoder, extractor, **kwargs) -> ModelCard:
    """The card of a pretrained encoder (see `model_card` for the keywords)."""
    return model_card(encoder.config, extractor, num_parameters=sum(p.numel() for p in encoder.parameters()),
                      is_classifier=False, **kwargs)


def card_for_saved_model(model_dir: str) -> ModelCard:
    """A card for a saved model folder that has none, from its config, extractor and `all_results.json` (if
    there is one); the weights are counted from the safetensors headers."""
    from safetensors import safe_open
    from transformers import AutoConfig

    from ..feature_extraction.feature_extraction_fbank import SpectrogramFeatureExtractor

    config = AutoConfig.from_pretrained(model_dir)
    extractor = SpectrogramFeatureExtractor.from_pretrained(model_dir)
    num_parameters = 0
    for name in os.listdir(model_dir):
        if name.endswith(".safetensors"):
            with safe_open(os.path.join(model_dir, name), "pt") as f:
                num_parameters += sum(math.prod(f.get_slice(key).get_shape()) for key in f.keys())
    results_path = os.path.join(model_dir, "all_results.json")
    metrics = None
    if os.path.isfile(results_path):
        with open(results_path) as f:
            metrics = json.load(f)
    is_classifier = any(a.endswith("ForAudioClassification") for a in config.architectures or [])
    return model_card(config, extractor, num_parameters=num_parameters, is_classifier=is_classifier,
                      model_path=model_dir, dataset_name=None, metrics=metrics,
                      training_summary="Not recorded: this card was written afterwards from the saved folder.")

