"""The extractor's pre-emphasis and frame means done for the whole batch at once, against the per-clip loop they
replaced (2026-11-29), interleaved in one process on one thread (as in a DataLoader worker).

    python benchmarks/bench_fbank_batching.py [--repeats 15]

For the keyword size (1 s, 96 frames, batch 32), ASiT-Base (5.92 s, 592 frames, batch 64) and AudioSet (10.24 s,
1024 frames, batch 32): `log_mel`'s time per clip, and its tensor operations per batch (on a GPU each is a kernel
launch, which is what `--features_on_device` runs there); then the whole classifier collator of
`train_classifier` (decoding 44.1 kHz WAV files, resampling, fbank; the data path of `bench_finetune_e2e.py`) per
clip. The outputs of the two ways are checked to be equal, bit for bit.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_classifier_input import training_collator, write_clips  # noqa: E402
from common import interleaved_medians, machine, save_and_report  # noqa: E402

from specformers import SpectrogramFeatureExtractor  # noqa: E402
from specformers.training.data import IndexedExamples  # noqa: E402

SIZES = {"keywords (96 frames)": ("speech_commands", 96, 32, 1.0),
         "asit-base (592 frames)": ("asit", 592, 64, 5.92),
         "audioset (1024 frames)": ("audioset", 1024, 32, 10.24)}


def per_clip_preemphasised(extractor, clips, length):
    """The replaced implementation of `SpectrogramFeatureExtractor._preemphasised`: a few operations per clip."""
    device = clips[0].device
    emphasised = torch.zeros(len(clips), length, device=device)
    offsets = torch.zeros(len(clips), (length - extractor.frame_length) // extractor.hop_length + 1, 1, device=device)
    for row, offset, clip in zip(emphasised, offsets, clips):
        n = min(len(clip), length)
        frames = (n - extractor.frame_length) // extractor.hop_length + 1
        n = extractor.frame_length + extractor.hop_length * (frames - 1)
        row[0] = clip[0]
        torch.sub(clip[1:n], clip[: n - 1], alpha=extractor.preemphasis, out=row[1:n])
        means = torch.nn.functional.avg_pool1d(clip[None, None, :n], extractor.frame_length, extractor.hop_length)
        offset[:frames, 0] = (1 - extractor.preemphasis) * means[0, 0]
    return emphasised, offsets


@contextlib.contextmanager
def per_clip_loop(extractor):
    """`extractor` computing its pre-emphasis clip by clip, as before."""
    extractor._preemphasised = lambda clips, length: per_clip_preemphasised(extractor, clips, length)
    try:
        yield extractor
    finally:
        del extractor._preemphasised


class OperationCount(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def operations(fn) -> int:
    with OperationCount() as counter:
        fn()
    return counter.count


def log_mel_results(repeats: int) -> dict:
    results = {}
    for name, (preset, frames, batch, seconds) in SIZES.items():
        extractor = SpectrogramFeatureExtractor.from_preset(preset, target_frames=frames)
        generator = torch.Generator().manual_seed(0)
        clips = list(0.1 * torch.randn(batch, int(seconds * extractor.sampling_rate), generator=generator))
        batched = extractor.log_mel(clips)
        with per_clip_loop(extractor):
            looped = extractor.log_mel(clips)
            before_ops = operations(lambda: extractor.log_mel(clips))
        assert torch.equal(batched, looped), f"{name}: the two ways differ"

        def before():
            with per_clip_loop(extractor):
                extractor.log_mel(clips)

        times = interleaved_medians({"before": before, "after": lambda: extractor.log_mel(clips)}, repeats)
        results[name] = {"batch": batch, "ms_per_clip_before": 1e3 * times["before"] / batch,
                         "ms_per_clip_after": 1e3 * times["after"] / batch,
                         "speed_up": times["before"] / times["after"], "operations_before": before_ops,
                         "operations_after": operations(lambda: extractor.log_mel(clips))}
    return results


def collator_results(repeats: int) -> dict:
    """The classifier collator per clip on 320 one-second 44.1 kHz WAV files, in batches of 32."""
    with tempfile.TemporaryDirectory() as folder:
        write_clips(folder, 320)
        extractor = SpectrogramFeatureExtractor.from_preset("speech_commands", target_frames=96)
        dataset, collator = training_collator(folder, extractor)
        examples = IndexedExamples(dataset)
        batches = [[examples[i] for i in range(start, start + 32)] for start in range(0, 320, 32)]

        def collate_all():
            return [collator(batch)["input_values"] for batch in batches]

        def before():
            with per_clip_loop(extractor):
                return collate_all()

        assert all(torch.equal(a, b) for a, b in zip(before(), collate_all()))
        times = interleaved_medians({"before": before, "after": collate_all}, repeats)
    return {"ms_per_clip_before": 1e3 * times["before"] / 320, "ms_per_clip_after": 1e3 * times["after"] / 320,
            "speed_up": times["before"] / times["after"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--output", default="benchmark_runs/fbank_batching.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results = {"machine": machine(), "repeats": args.repeats, "log_mel": log_mel_results(args.repeats),
               "classifier_collator": collator_results(args.repeats)}
    return save_and_report(results, args.output, report)


def report(results: dict) -> str:
    lines = [f"{results['machine']}; medians of {results['repeats']} interleaved runs", "",
             "| input | ms per clip, per-clip loop | batched | speed-up | operations per batch, loop | batched |",
             "|---|---|---|---|---|---|"]
    for name, r in results["log_mel"].items():
        lines.append(f"| `log_mel`, {name}, batch {r['batch']} | {r['ms_per_clip_before']:.3f} | "
                     f"{r['ms_per_clip_after']:.3f} | **{r['speed_up']:.2f}x** | {r['operations_before']} | "
                     f"{r['operations_after']} |")
    c = results["classifier_collator"]
    lines.append(f"| classifier collator, 1 s 44.1 kHz WAV, batch 32 | {c['ms_per_clip_before']:.3f} | "
                 f"{c['ms_per_clip_after']:.3f} | **{c['speed_up']:.2f}x** | | |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
