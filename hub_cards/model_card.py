"""Model cards for saved specformers models, built with `huggingface_hub.ModelCard` from the template in
`templates/`: YAML metadata with a `model-index` of the run's real evaluation results, and a body saying what the
model is, its input features, how it was trained and how to use it."""

from __future__ import annotations

import os

from huggingface_hub import EvalResult, ModelCard, ModelCardData

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")

FAMILIES = {
    "specformers-ast": {
        "name": "AST", "paper_title": "AST: Audio Spectrogram Transformer, Gong et al., Interspeech 2021",
        "citation": "@inproceedings{gong21b_interspeech,\n  title = {{AST: Audio Spectrogram Transformer}},\n"
                    "  author = {Yuan Gong and Yu-An Chung and James Glass},\n"
                    "  booktitle = {Proc. Interspeech 2021}, pages = {571--575}, year = {2021}}"},
    "specformers-mast": {
        "name": "MAST", "paper_title": "MAST: Multiscale Audio Spectrogram Transformers, Ghosh et al., ICASSP 2023",
        "citation": "@inproceedings{ghosh2023mast,\n  title = {{MAST: Multiscale Audio Spectrogram Transformers}},\n"
                    "  author = {Sreyan Ghosh and Ashish Seth and S. Umesh and Dinesh Manocha},\n"
                    "  booktitle = {ICASSP 2023}, year = {2023}}"},
    "specformers-asit": {
        "name": "ASiT", "paper_title": "ASiT: Audio Spectrogram vIsion Transformer for General Audio "
                                       "Representation, Atito et al., 2022",
        "citation": "@article{atito2022asit,\n  title = {{ASiT: Audio Spectrogram vIsion Transformer for General "
                    "Audio Representation}},\n  author = {Sara Atito and Muhammad Awais and Wenwu Wang and "
                    "Mark D. Plumbley and Josef Kittler},\n  journal = {arXiv preprint arXiv:2211.13189}, "
                    "year = {2022}}"},
}

# metric keys of the shipped metric modules -> model-index metric types
METRIC_TYPES = {"accuracy": "accuracy", "top_5_accuracy": "top_5_accuracy", "mAP": "mAP", "mAUC": "roc_auc",
                "d_prime": "d_prime"}


def eval_results_of(metrics: dict, prefix: str = "eval") -> dict[str, float]:
    """The quality metrics among a run's `{prefix}_*` results (no loss, timings or counts)."""
    return {key: float(metrics[f"{prefix}_{key}"]) for key in METRIC_TYPES if f"{prefix}_{key}" in metrics}


def classifier_card(model, extractor, *, model_path: str, dataset_name: str, dataset_config_name: str | None = None,
                    eval_split: str = "validation", metrics: dict | None = None, command: str | None = None,
                    base_model: str | None = None, training_summary: str = "", license: str = "apache-2.0"
                    ) -> ModelCard:
    """The card of an audio classifier; `metrics` are the run's results (`eval_accuracy`, ...)."""
    config = model.config
    family = FAMILIES[config.model_type]
    results = eval_results_of(metrics or {})
    dataset_label = os.path.basename(os.path.normpath(dataset_name)) if os.path.isdir(dataset_name) else dataset_name
    eval_results = [
        EvalResult(task_type="audio-classification", task_name="Audio classification", dataset_type=dataset_label,
                   dataset_name=dataset_label, dataset_config=dataset_config_name, dataset_split=eval_split,
                   metric_type=METRIC_TYPES[key], metric_name=key, metric_value=value)
        for key, value in results.items()]
    card_data = ModelCardData(
        library_name="transformers", pipeline_tag="audio-classification", license=license,
        tags=["audio", "audio-classification", "specformers", family["name"].lower()],
        datasets=None if os.path.isdir(dataset_name) else [dataset_name],
        metrics=sorted({METRIC_TYPES[key] for key in results}) or None,
        base_model=base_model, model_name=os.path.basename(os.path.normpath(model_path)),
        eval_results=eval_results or None)
    multi = config.problem_type == "multi_label_classification"
    trained_how = (f"fine-tuned from `{base_model}` on {dataset_label}." if base_model
                   else f"trained from scratch on {dataset_label}.")
    return ModelCard.from_template(
        card_data, template_path=os.path.join(TEMPLATES, "classifier.md"),
        model_title=os.path.basename(os.path.normpath(model_path)), family=family,
        num_parameters=f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M", trained_how=trained_how,
        num_labels=config.num_labels, problem_kind="multi-label" if multi else "single-label",
        results=results, eval_split=eval_split, extractor=extractor,
        window_seconds=extractor.window_samples / extractor.sampling_rate,
        command=command, training_summary=training_summary, model_path=model_path)
