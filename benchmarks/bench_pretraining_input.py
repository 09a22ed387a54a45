"""The pretraining input pipeline at GPU scale: the CPU cost of each stage per clip, the workers' cost with and
without `--features_on_device`, and how many CPU cores one GPU would need to keep up.

    python benchmarks/bench_pretraining_input.py [--clips 16] [--repeats 5] [--gpu_tflops 989] [--utilization 0.4]

Two settings: ASiT-Base (`asit` preset, 592 frames; two crops per clip, each GMML-corrupted) and SS-MAST with
MAST-Small (`audioset` preset, 1024 frames; one crop, its two views' random resized crops, mixup after the
crops). The clips are 10 s at 44.1 kHz, FLAC-encoded as in a `datasets` audio column, so every run decodes and
resamples, as on AudioSet. Each stage runs on one thread, as in a DataLoader worker, with the functions the
collators call; the whole collator call is timed too, in both modes, as a check on the sum.

The GPU side is an estimate, not a measurement: the FLOPs of one training step are counted on the CPU
(`torch.utils.flop_counter`), and the GPU is assumed to run them at `--utilization` of `--gpu_tflops` (default: an
H100 / H200's dense bf16 peak, 989 TFLOP/s, at 40 %, usual for ViT training). Clips per second on the GPU times CPU
seconds per clip in the workers = the cores needed.
"""

from __future__ import annotations

import argparse
import io
import os
import sys

import numpy as np
import soundfile
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import interleaved_medians, machine, save_and_report  # noqa: E402

from specformers import ASiTConfig, MASTConfig, SpectrogramFeatureExtractor, SSMASTConfig, SSMASTForPreTraining  # noqa: E402
from specformers.feature_extraction.augmentations import draw_resized_crop  # noqa: E402
from specformers.modeling.pretraining_asit import ASiTForPreTraining, apply_gmml, draw_gmml  # noqa: E402
from specformers.training.data import read_clips  # noqa: E402
from specformers.training.views import ASiTCollator, SSMASTCollator, crop_views  # noqa: E402

SECONDS, RATE = 10.0, 44100


def encoded_clips(count: int, seed: int = 0) -> list[tuple[int, dict]]:
    """`(index, example)` items of 10 s 44.1 kHz FLAC clips (noise and a few tones), undecoded."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SECONDS * RATE)) / RATE
    items = []
    for index in range(count):
        audio = 0.05 * rng.standard_normal(len(t)) + sum(0.1 * np.sin(2 * np.pi * f * t)
                                                       for f in rng.uniform(100, 4000, 3))
        buffer = io.BytesIO()
        soundfile.write(buffer, audio.astype(np.float32), RATE, format="FLAC")
        items.append((index, {"audio": {"bytes": buffer.getvalue(), "path": None}}))
    return items


def settings() -> dict:
    """name -> (collator factory taking features_on_device, pretraining model) at the sizes of the papers."""
    asit_extractor = SpectrogramFeatureExtractor.from_preset("asit")
    asit_config = ASiTConfig.from_preset("asit-base", target_frames=asit_extractor.target_frames)
    mast_extractor = SpectrogramFeatureExtractor.from_preset("audioset")
    ssmast_config = SSMASTConfig(backbone_config=MASTConfig.from_preset(
        "mast-small", target_frames=mast_extractor.target_frames), mixup_position="after_crop")
    return {
        "asit-base (592 frames)": (
            lambda on_device: ASiTCollator(asit_extractor, asit_config, "audio", 0, 0.5,
                                           features_on_device=on_device),
            lambda: ASiTForPreTraining(asit_config)),
        "SS-MAST mast-small (1024 frames)": (
            lambda on_device: SSMASTCollator(mast_extractor, ssmast_config, "audio", 0, features_on_device=on_device),
            lambda: SSMASTForPreTraining(ssmast_config)),
    }


def stage_functions(collator, items: list) -> dict:
    """stage -> a function running it on the whole batch, with the collator's own parts; each stage's input is
    made once beforehand."""
    extractor, asit = collator.extractor, isinstance(collator, ASiTCollator)
    views_per_clip = 2 if asit else 1
    clips, _ = read_clips(items, "audio", 0.025)
    rng = np.random.default_rng(0)
    crops = [collator.random_crop(audio, rate, rng) for _, audio, rate in clips for _ in range(views_per_clip)]
    waveforms = collator.waveforms(crops)
    spectrograms = collator.spectrograms(dict(waveforms))
    shape = (extractor.target_frames, extractor.num_mel_bins)
    stages = {
        "decode": lambda: read_clips(items, "audio", 0.025),
        "crop": lambda: [collator.random_crop(audio, rate, rng) for _, audio, rate in clips
                         for _ in range(views_per_clip)],
        "resample to 16 kHz": lambda: collator.waveforms(crops),
        "fbank": lambda: collator.spectrograms(dict(waveforms)),
    }
    if asit:
        views = spectrograms.unflatten(0, (-1, 2)).transpose(0, 1)  # (2, n, frames, mel_bins)
        draws = [draw_gmml(len(clips), shape, collator.config, rng) for _ in range(2)]
        masks = torch.from_numpy(np.stack([m for m, _ in draws]))
        sources = torch.from_numpy(np.stack([s for _, s in draws]))
        stages["GMML draws"] = lambda: [draw_gmml(len(clips), shape, collator.config, rng) for _ in range(2)]
        stages["GMML corruption"] = lambda: apply_gmml(views, masks, sources)
    else:
        config = collator.config
        scales = (config.crop_virtual_scale, config.crop_frequency_scale, config.crop_time_scale)
        boxes = torch.tensor([[draw_resized_crop(shape, rng, *scales) for _ in range(2)] for _ in clips])
        stages["crop-box draws"] = lambda: [[draw_resized_crop(shape, rng, *scales) for _ in range(2)] for _ in clips]
        stages["random resized crops"] = lambda: crop_views(spectrograms[:, None].expand(-1, 2, -1, -1), boxes)
    return stages


# stages that --features_on_device moves from the workers to the accelerator
ON_DEVICE = {"fbank", "GMML corruption", "random resized crops"}


def step_flops(make_model, collator, items: list) -> float:
    """FLOPs of one training step (forward, backward; the teacher's forward) per clip, on a batch of two clips."""
    model = make_model().train()
    batch = collator(items[:2])
    with FlopCounterMode(display=False) as counter:
        if isinstance(collator, ASiTCollator):
            output = model(batch["clean_views"], batch["corrupted_views"], batch["pixel_mask"],
                           teacher_temperature=0.04)
        else:
            output = model(batch["views"])
        output.loss.backward()
    return counter.get_total_flops() / 2


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=16, help="clips per timed batch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--gpu_tflops", type=float, default=989.0, help="the GPU's dense bf16 peak, TFLOP/s")
    parser.add_argument("--utilization", type=float, default=0.4, help="share of the peak a training step reaches")
    parser.add_argument("--output", default="benchmark_runs/pretraining_input.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as in a DataLoader worker
    items = encoded_clips(args.clips)
    results = {"machine": machine(), "clips": args.clips, "repeats": args.repeats, "gpu_tflops": args.gpu_tflops,
               "utilization": args.utilization, "settings": {}}
    for name, (make_collator, make_model) in settings().items():
        worker_path, draw_only = make_collator(False), make_collator(True)
        stages = stage_functions(worker_path, items)
        timed = interleaved_medians({**stages, "whole collator (workers make the views)": lambda: worker_path(items),
                                     "whole collator, --features_on_device": lambda: draw_only(items)},
                                    args.repeats)
        per_clip = {stage: seconds / args.clips for stage, seconds in timed.items()}
        torch.set_num_threads(os.cpu_count())
        flops = step_flops(make_model, worker_path, items)
        torch.set_num_threads(1)
        gpu_clips_per_second = args.gpu_tflops * 1e12 * args.utilization / flops
        worker = per_clip["whole collator (workers make the views)"]
        on_device = per_clip["whole collator, --features_on_device"]
        results["settings"][name] = {
            "ms_per_clip": {stage: 1e3 * s for stage, s in per_clip.items()},
            "step_gflops_per_clip": flops / 1e9, "gpu_clips_per_second": gpu_clips_per_second,
            "cores_needed": gpu_clips_per_second * worker, "cores_needed_features_on_device":
                gpu_clips_per_second * on_device, "worker_cost_ratio": worker / on_device}
    return save_and_report(results, args.output, report)


def report(results: dict) -> str:
    lines = [f"{results['machine']}; {results['clips']} clips of 10 s at 44.1 kHz (FLAC), median of "
             f"{results['repeats']}, one thread; GPU assumed at {results['utilization']:.0%} of "
             f"{results['gpu_tflops']:g} TFLOP/s", ""]
    for name, setting in results["settings"].items():
        lines += [f"### {name}", "", "| stage | ms per clip | where with --features_on_device |", "|---|---|---|"]
        for stage, ms in setting["ms_per_clip"].items():
            where = "" if stage.startswith("whole") else "accelerator" if stage in ON_DEVICE else "workers"
            lines.append(f"| {stage} | {ms:.2f} | {where} |")
        lines += ["", f"Step: {setting['step_gflops_per_clip']:.0f} GFLOPs per clip -> "
                      f"{setting['gpu_clips_per_second']:.0f} clips/s on the GPU; worker cores needed: "
                      f"**{setting['cores_needed']:.1f}**, with --features_on_device "
                      f"**{setting['cores_needed_features_on_device']:.1f}** "
                      f"({setting['worker_cost_ratio']:.2f}x less worker time per clip).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
