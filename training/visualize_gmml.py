"""Render what ASiT pretraining does to a few clips: the clean spectrogram, the GMML mask, the corrupted view the
student sees, and the student's reconstruction, one row per clip, to a PNG.

    python -m specformers.training.visualize_gmml --checkpoint OUT/checkpoint-300 --audio a.wav b.wav \\
        --output gmml.png
    python -m specformers.training.visualize_gmml --checkpoint OUT/checkpoint-300 --dataset_name corpus \\
        --num_clips 4 --output gmml.png
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

if __name__ == "__main__" and not __package__:  # run by path: `python training/visualize_gmml.py ...`
    from specformers.training.run_by_path import run_as_module

    run_as_module(__file__)

from ..feature_extraction.feature_extraction_fbank import SpectrogramFeatureExtractor  # noqa: E402
from ..modeling.pretraining_asit import ASiTForPreTraining  # noqa: E402
from .data import load_audio_dataset  # noqa: E402
from .views import ASiTCollator  # noqa: E402


def find_extractor(checkpoint: str) -> SpectrogramFeatureExtractor:
    """The run's feature extractor: saved in the checkpoint or the run folder above it."""
    for folder in (checkpoint, os.path.dirname(os.path.abspath(checkpoint))):
        if os.path.exists(os.path.join(folder, "preprocessor_config.json")):
            return SpectrogramFeatureExtractor.from_pretrained(folder)
    raise FileNotFoundError(f"No preprocessor_config.json in {checkpoint} or its parent folder; pass the run's "
                            "checkpoint-N folder (pretrain_asit.py saves the extractor next to it).")


def render(clean, mask, corrupted, reconstruction, names: list[str], path: str) -> None:
    """Rows: clips; columns: clean, mask, corrupted, reconstruction (each `(clips, frames, bins)`)."""
    columns = [("clean spectrogram", clean), ("GMML mask", mask), ("student input (corrupted)", corrupted),
               ("reconstruction", reconstruction)]
    figure, axes = plt.subplots(len(names), 4, figsize=(16, 2.6 * len(names)), squeeze=False)
    low, high = float(clean.min()), float(clean.max())
    for row, name in enumerate(names):
        for column, (title, images) in enumerate(columns):
            axis = axes[row, column]
            image = images[row].float().T.numpy()
            axis.imshow(image, origin="lower", aspect="auto", interpolation="nearest",
                        cmap="gray" if title == "GMML mask" else "magma",
                        **({} if title == "GMML mask" else {"vmin": low, "vmax": high}))
            axis.set_title(f"{title}" + (f"  ({mask[row].float().mean():.0%} corrupted)" if column == 1 else ""),
                           fontsize=9)
            axis.set_xticks([])
            axis.set_yticks([])
        axes[row, 0].set_ylabel(name, fontsize=8)
    figure.supxlabel("time (frames)")
    figure.supylabel("mel bin")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="A checkpoint-N folder of pretrain_asit.py.")
    parser.add_argument("--audio", nargs="*", default=[], help="Audio files to render.")
    parser.add_argument("--dataset_name", help="Or take the first clips of this dataset.")
    parser.add_argument("--split", default="train")
    parser.add_argument("--audio_column_name", default="audio")
    parser.add_argument("--num_clips", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="gmml.png")
    args = parser.parse_args(argv)

    model = ASiTForPreTraining.from_pretrained(args.checkpoint).eval()
    extractor = find_extractor(args.checkpoint)
    if args.audio:
        items = [(i, {"audio": {"path": path, "bytes": None}}) for i, path in enumerate(args.audio)]
        names, column = [os.path.basename(p) for p in args.audio], "audio"
    elif args.dataset_name:
        dataset = load_audio_dataset(args.dataset_name, None, args.split, args.audio_column_name)
        spread = sorted({int(i) for i in np.linspace(0, len(dataset) - 1, args.num_clips)})  # across the split
        items = [(i, dataset[i]) for i in spread]
        column = args.audio_column_name
        names = [os.path.basename(example[column].get("path") or f"#{i}") for i, example in items]
    else:
        parser.error("give --audio files or --dataset_name")
    batch = ASiTCollator(extractor, model.config, column, args.seed, roll_probability=0.0)(items)
    if batch["num_clips"] < len(items):
        raise ValueError(f"{len(items) - batch['num_clips']} of the clips could not be read.")
    with torch.no_grad():
        output = model(batch["clean_views"], batch["corrupted_views"], batch["pixel_mask"])
    frames, bins = output.reconstruction.shape[-2:]
    render(batch["clean_views"][:, 0, :frames, :bins], batch["pixel_mask"][:, 0, :frames, :bins],
           batch["corrupted_views"][:, 0, :frames, :bins], output.reconstruction[:, 0], names, args.output)
    print(f"Wrote {args.output}: {len(names)} clips; reconstruction L1 on corrupted pixels "
          f"{output.reconstruction_loss.item():.3f}")


if __name__ == "__main__":
    main()
