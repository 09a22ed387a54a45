"""Normalisation statistics of a corpus, for the feature extractor's `norm_mean` / `norm_std` (what AST's
`get_norm_stats.py` does for a new dataset):

    python -m specformers.training.norm_stats --dataset_name DIR_OR_HUB_ID [--train_split_name train] \\
        [--feature_extractor_preset audioset] [--target_frames 1024] [--max_samples 2000] [--output_file stats.json]

Prints `{"norm_mean", "norm_std", "clips", "skipped_clips"}` as JSON (and writes it to --output_file). The
statistics are those of the unnormalised features the extractor computes with its other settings, padded frames
included as the model sees them (the AST recipe; `--include_padding false` leaves them out). Unreadable clips are
skipped and counted.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

from transformers import HfArgumentParser
from transformers.utils.logging import tqdm

from .arguments import DatasetArguments, FeatureArguments
from .data import AudioDecodeError, check_unreadable_share, decode_audio_value, load_audio_dataset


@dataclass
class NormStatsArguments:
    max_samples: int | None = field(default=None, metadata={"help": "Read only the first N clips."})
    include_padding: bool = field(
        default=True, metadata={"help": "Count the padded frames of short clips (the AST recipe)."})
    batch_size: int = field(default=32, metadata={"help": "Clips featurised at once."})
    output_file: str | None = field(default=None, metadata={"help": "Also write the JSON result here."})


def readable_clips(dataset, audio_column: str, counts: dict):
    """The dataset's clips as `{"array", "sampling_rate"}`, skipping (and counting in `counts`) unreadable ones."""
    for example in dataset:
        counts["seen"] += 1
        try:
            audio, rate = decode_audio_value(example[audio_column])
        except AudioDecodeError:
            counts["skipped"] += 1
            continue
        yield {"array": audio, "sampling_rate": rate}


def norm_stats(data_args: DatasetArguments, feature_args: FeatureArguments, args: NormStatsArguments) -> dict:
    dataset = load_audio_dataset(data_args.dataset_name, data_args.dataset_config_name, data_args.train_split_name,
                                 data_args.audio_column_name, data_args.streaming)
    if args.max_samples is not None:
        dataset = (dataset.take(args.max_samples) if data_args.streaming
                   else dataset.select(range(min(args.max_samples, len(dataset)))))
    total = args.max_samples if data_args.streaming else len(dataset)
    extractor = feature_args.build(default_preset="audioset")
    counts = {"seen": 0, "skipped": 0}
    clips = tqdm(readable_clips(dataset, data_args.audio_column_name, counts), total=total, desc="clips",
                 unit="clip")
    try:
        stats = extractor.compute_normalization_stats(clips, batch_size=args.batch_size,
                                                      include_padding=args.include_padding)
    except ValueError:
        if counts["seen"] and counts["skipped"] == counts["seen"]:  # say which data, not just "no audio"
            check_unreadable_share(counts["skipped"], counts["seen"], data_args.max_skipped_fraction,
                                   f"`{data_args.dataset_name}` ({data_args.train_split_name} split)", epoch_end=True)
        raise
    check_unreadable_share(counts["skipped"], counts["seen"], data_args.max_skipped_fraction,
                           f"`{data_args.dataset_name}` ({data_args.train_split_name} split)", epoch_end=True)
    return {**stats, "clips": counts["seen"] - counts["skipped"], "skipped_clips": counts["skipped"]}


def main(argv=None) -> dict:
    parser = HfArgumentParser((DatasetArguments, FeatureArguments, NormStatsArguments))
    data_args, feature_args, args = parser.parse_args_into_dataclasses(argv)
    result = norm_stats(data_args, feature_args, args)
    text = json.dumps(result, indent=1)
    print(text)
    if args.output_file:
        with open(args.output_file, "w") as f:
            f.write(text + "\n")
    return result


def cli() -> None:
    """The `specformers-norm-stats` console script."""
    main()


if __name__ == "__main__":
    main(sys.argv[1:])
