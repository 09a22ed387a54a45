"""Feature extraction speed: SpectrogramFeatureExtractor vs transformers' ASTFeatureExtractor (numpy path) and,
where torchaudio imports, torchaudio.compliance.kaldi.fbank clip by clip and transformers' torchaudio path.

    python benchmarks/bench_feature_extraction.py [--clips 32] [--seconds 10] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
from transformers.models.audio_spectrogram_transformer import feature_extraction_audio_spectrogram_transformer as hf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import interleaved_medians, machine  # noqa: E402

from specformers import SpectrogramFeatureExtractor  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    clips = [(0.1 * rng.standard_normal(int(args.seconds * 16000))).astype(np.float32) for _ in range(args.clips)]
    ours = SpectrogramFeatureExtractor()
    speech_available = hf.is_speech_available

    def transformers_numpy_path():
        hf.is_speech_available = lambda: False  # read at construction and at every call
        try:
            return hf.ASTFeatureExtractor()(clips, sampling_rate=16000, return_tensors="pt")
        finally:
            hf.is_speech_available = speech_available

    contenders = {
        "specformers (batched torch)": lambda: ours(clips, sampling_rate=16000, return_tensors="pt"),
        "transformers ASTFeatureExtractor, numpy path": transformers_numpy_path,
    }
    try:
        import torchaudio.compliance.kaldi as kaldi
    except Exception as err:  # torchaudio is absent or broken beside this torch
        print(f"torchaudio does not import here ({type(err).__name__}); its rows are skipped.")
    else:
        def kaldi_per_clip():
            for clip in clips:
                kaldi.fbank(torch.from_numpy(clip)[None], sample_frequency=16000, window_type="hanning",
                            num_mel_bins=128, dither=0.0, frame_shift=10)

        hf_torchaudio = hf.ASTFeatureExtractor()
        contenders["torchaudio kaldi.fbank, clip by clip"] = kaldi_per_clip
        contenders["transformers ASTFeatureExtractor, torchaudio path"] = lambda: hf_torchaudio(
            clips, sampling_rate=16000, return_tensors="pt")

    times = interleaved_medians(contenders, args.repeats)
    reference = times["specformers (batched torch)"]
    print(f"\n{args.clips} clips x {args.seconds:g} s, median of {args.repeats}; {machine()}\n")
    print("| extractor | time (s) | specformers speed-up |")
    print("|---|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds:.3f} | {seconds / reference:.1f}x |")


if __name__ == "__main__":
    main()
