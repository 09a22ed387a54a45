"""The GPU benchmark, in one command: bf16 with SDPA on a CUDA GPU.

    python benchmarks/bench_gpu.py [--batch 16] [--repeats 20] [--sections ...] [--output benchmark_runs/gpu.json]

Measures, each against a reference in the same run:
- forward (inference) and training step (forward, BCE over 527 classes, backward, fused AdamW) of AST-Base,
  MAST-Small (1024 frames) and ASiT-Base (592 frames), clips/s and peak memory; AST-Base also as transformers'
  `ASTForAudioClassification` of the same size (the reference);
- the feature extractor on 32 clips of 10 s on the GPU, against the same call on the CPU;
- pretraining steps/s of ASiT-Base (592 frames, two views per clip, GMML-corrupted on the GPU) and SS-MAST with
  MAST-Small (1024 frames), against the bare backbones they contain (student forward + backward, teacher forward);
- MAST-Small against timm's `mvitv2_small` (the architecture it ports) on a 128 x 128 input, where timm imports.
On a machine without a CUDA GPU it stops and says so: CPU numbers are in the other benchmarks.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import interleaved_medians, save_and_report  # noqa: E402

from specformers import (  # noqa: E402
    ASiTConfig,
    ASiTForAudioClassification,
    ASiTForPreTraining,
    ASTConfig,
    ASTForAudioClassification,
    MASTConfig,
    MASTForAudioClassification,
    SpectrogramFeatureExtractor,
    SSMASTConfig,
    SSMASTForPreTraining,
)
from specformers.modeling.pretraining_asit import apply_gmml, draw_gmml  # noqa: E402
from specformers.training.loop import make_optimizer  # noqa: E402

CLASSES = 527  # AudioSet


def require_cuda() -> torch.device:
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py measures a CUDA GPU, and torch sees none here (torch.cuda.is_available() is "
                         f"False; torch {torch.__version__}). Run it on a machine with an NVIDIA GPU and a CUDA "
                         "build of torch; the CPU benchmarks are the other scripts in benchmarks/.")
    return torch.device("cuda")


def cuda_medians(functions: dict, repeats: int) -> dict[str, float]:
    """Median seconds per call, the functions interleaved, each timed to the end of its kernels."""

    def synchronised(fn):
        def run():
            fn()
            torch.cuda.synchronize()
        return run

    torch.cuda.synchronize()
    return interleaved_medians({name: synchronised(fn) for name, fn in functions.items()}, repeats, warmup=3)


def peak_memory(fn) -> float:
    """MiB of GPU memory allocated at the peak of `fn()`, beyond what was allocated before."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - before) / 2**20


def classifiers() -> dict:
    """name -> (model, frames): ours at the papers' sizes and transformers' AST-Base, random weights, SDPA."""
    reference = transformers.ASTConfig(max_length=1024, num_mel_bins=128, num_labels=CLASSES)
    reference._attn_implementation = "sdpa"
    return {
        "AST-Base": (ASTForAudioClassification(ASTConfig.from_preset("ast-base", num_labels=CLASSES)), 1024),
        "transformers AST-Base (reference)": (transformers.ASTForAudioClassification(reference), 1024),
        "MAST-Small": (MASTForAudioClassification(MASTConfig.from_preset("mast-small", num_labels=CLASSES)), 1024),
        "ASiT-Base": (ASiTForAudioClassification(ASiTConfig.from_preset("asit-base", num_labels=CLASSES)), 592),
    }


def step_throughput(model: torch.nn.Module, inputs: torch.Tensor, repeats: int, logits_of=lambda out: out.logits):
    """Forward (inference) and training step (BCE over 527 classes, fused AdamW) of `model` on `inputs`, bf16
    autocast: clips/s and peak MiB of each. The model is left on the device; its optimiser's state is freed."""
    batch = len(inputs)
    targets = (torch.rand(batch, CLASSES, device=inputs.device) < 0.02).float()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)

    def forward():
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
            model.eval()(inputs)

    def train_step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = logits_of(model.train()(inputs))
        torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), targets).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    train_step()  # the optimiser's state exists before the peak is measured
    times = cuda_medians({"forward": forward, "train step": train_step}, repeats)
    result = {"batch": batch, "forward_clips_per_s": batch / times["forward"],
              "train_clips_per_s": batch / times["train step"],
              "forward_peak_mib": peak_memory(forward), "train_peak_mib": peak_memory(train_step)}
    optimizer.state.clear()  # free its GPU memory before the next model
    return result


def classifier_results(device: torch.device, batch: int, repeats: int) -> dict:
    results = {}
    for name, (model, frames) in classifiers().items():
        inputs = torch.randn(batch, frames, 128, device=device)
        results[name] = {"frames": frames, **step_throughput(model.to(device), inputs, repeats)}
        model.cpu()
        torch.cuda.empty_cache()
    return results


def timm_results(device: torch.device, repeats: int) -> dict:
    """MAST-Small against timm's `mvitv2_small`, the architecture it ports, on a 128 x 128 spectrogram (timm's
    relative positions need a square grid), at two batch sizes; where timm imports."""
    try:
        import timm
    except ImportError as err:
        return {"skipped": f"timm does not import here ({err})"}
    results = {}
    for batch in (64, 256):
        spectrograms = torch.randn(batch, 128, 128, device=device)
        ours = MASTForAudioClassification(MASTConfig.from_preset("mast-small", num_labels=CLASSES, target_frames=128))
        theirs = timm.create_model("mvitv2_small", pretrained=False, img_size=128, in_chans=1, num_classes=CLASSES)
        results[f"batch {batch}"] = {
            "MAST-Small": step_throughput(ours.to(device), spectrograms, repeats),
            "timm mvitv2_small (reference)": step_throughput(theirs.to(device), spectrograms[:, None], repeats,
                                                             logits_of=lambda logits: logits)}
        del ours, theirs
        torch.cuda.empty_cache()
    return results


def extractor_results(device: torch.device, repeats: int) -> dict:
    extractor = SpectrogramFeatureExtractor.from_preset("audioset")
    clips = torch.randn(32, 160000) * 0.1
    on_device = clips.to(device)
    times = cuda_medians({
        "gpu": lambda: extractor(list(on_device), sampling_rate=16000, return_tensors="pt"),
        "cpu": lambda: extractor(list(clips), sampling_rate=16000, return_tensors="pt"),
    }, max(3, repeats // 4))
    return {"clips": 32, "seconds_each": 10, "gpu_s": times["gpu"], "cpu_s": times["cpu"],
            "cpu_over_gpu": times["cpu"] / times["gpu"]}


def pretraining_results(device: torch.device, batch: int, repeats: int) -> dict:
    """Steps/s of the whole pretraining step against the bare backbones, bf16 autocast."""
    torch.manual_seed(0)
    asit_config = ASiTConfig.from_preset("asit-base")
    ssmast_config = SSMASTConfig(backbone_config=MASTConfig.from_preset("mast-small"))
    results = {}
    for name, model in (("ASiT-Base pretraining", ASiTForPreTraining(asit_config)),
                        ("SS-MAST MAST-Small pretraining", SSMASTForPreTraining(ssmast_config))):
        model.to(device).train()
        optimizer = make_optimizer(model, 0.04)
        asit = isinstance(model, ASiTForPreTraining)
        frames = asit_config.target_frames if asit else 1024
        views = torch.randn(batch, 2, frames, 128, device=device)
        if asit:
            rng = np.random.default_rng(0)
            masks, sources = zip(*(draw_gmml(batch, (frames, 128), asit_config, rng) for _ in range(2)))
            masks = torch.from_numpy(np.stack(masks, 1)).to(device)
            sources = torch.from_numpy(np.stack(sources, 1)).to(device)
            corrupted = apply_gmml(views.transpose(0, 1), masks.transpose(0, 1), sources.T).transpose(0, 1)

        def whole_step():
            with torch.autocast("cuda", dtype=torch.bfloat16):
                output = model(views, corrupted, masks, teacher_temperature=0.05) if asit else model(views)
            output.loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            model.update_teacher(0.996)

        student, teacher = (model.vit, model.teacher_vit) if asit else (model.backbone, model.teacher_backbone)

        def bare_backbones():
            flat = views.transpose(0, 1).flatten(0, 1)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                with torch.no_grad():
                    teacher(flat)
                student(flat).last_hidden_state.float().sum().backward()
            model.zero_grad(set_to_none=True)

        whole_step()
        times = cuda_medians({"whole": whole_step, "bare": bare_backbones}, repeats)
        results[name] = {"frames": frames, "clips_per_step": batch, "steps_per_s": 1 / times["whole"],
                         "clips_per_s": batch / times["whole"], "overhead": times["whole"] / times["bare"],
                         "peak_mib": peak_memory(whole_step)}
        model.cpu()
        optimizer.state.clear()  # free its GPU memory before the next model
        torch.cuda.empty_cache()
    return results


SECTIONS = ("classifiers", "extractor", "pretraining", "timm")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16, help="clips per forward / training step")
    parser.add_argument("--pretraining_batch", type=int, default=16, help="clips per pretraining step")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="what to measure")
    parser.add_argument("--output", default="benchmark_runs/gpu.json")
    args = parser.parse_args(argv)
    device = require_cuda()
    torch.backends.cuda.matmul.allow_tf32 = True
    measures = {"classifiers": lambda: classifier_results(device, args.batch, args.repeats),
                "extractor": lambda: extractor_results(device, args.repeats),
                "pretraining": lambda: pretraining_results(device, args.pretraining_batch, args.repeats),
                "timm": lambda: timm_results(device, args.repeats)}
    results = {"device": torch.cuda.get_device_name(device), "torch": torch.__version__, "cuda": torch.version.cuda}
    results.update({section: measures[section]() for section in args.sections})
    return save_and_report(results, args.output, report)


def report(results: dict) -> str:
    lines = [f"{results['device']}, torch {results['torch']}, CUDA {results['cuda']}, bf16 autocast, SDPA"]
    if "classifiers" in results:
        lines += ["", "| model | frames | batch | forward clips/s | train clips/s | forward peak MiB "
                      "| train peak MiB |", "|---|---|---|---|---|---|---|"]
        for name, r in results["classifiers"].items():
            lines.append(f"| {name} | {r['frames']} | {r['batch']} | {throughput_cells(r)} |")
        ours = results["classifiers"]["AST-Base"]
        reference = results["classifiers"]["transformers AST-Base (reference)"]
        lines += ["", f"AST-Base against transformers: {ratios(ours, reference)} the throughput."]
    if "extractor" in results:
        extractor = results["extractor"]
        lines += ["", f"Extractor, 32 x 10 s: {extractor['gpu_s'] * 1e3:.1f} ms on the GPU, "
                      f"{extractor['cpu_s'] * 1e3:.0f} ms on the CPU ({extractor['cpu_over_gpu']:.0f}x)."]
    if "pretraining" in results:
        lines += ["", "| pretraining | frames | clips/step | steps/s | clips/s | whole step / bare backbones "
                      "| peak MiB |", "|---|---|---|---|---|---|---|"]
        for name, r in results["pretraining"].items():
            lines.append(f"| {name} | {r['frames']} | {r['clips_per_step']} | {r['steps_per_s']:.2f} | "
                         f"{r['clips_per_s']:.0f} | {r['overhead']:.2f}x | {r['peak_mib']:.0f} |")
    if "timm" in results:
        lines += ["", "MAST-Small against timm's mvitv2_small, 128 x 128:"]
        if "skipped" in results["timm"]:
            lines.append(results["timm"]["skipped"])
        else:
            lines += ["", "| model | batch | forward clips/s | train clips/s | forward peak MiB | train peak MiB |",
                      "|---|---|---|---|---|---|"]
            for pair in results["timm"].values():
                for name, r in pair.items():
                    lines.append(f"| {name} | {r['batch']} | {throughput_cells(r)} |")
            lines.append("")
            lines += [f"{batch}: MAST-Small {ratios(pair['MAST-Small'], pair['timm mvitv2_small (reference)'])} "
                      "timm's throughput." for batch, pair in results["timm"].items()]
    return "\n".join(lines)


def throughput_cells(r: dict) -> str:
    return (f"{r['forward_clips_per_s']:.0f} | {r['train_clips_per_s']:.0f} | {r['forward_peak_mib']:.0f} | "
            f"{r['train_peak_mib']:.0f}")


def ratios(ours: dict, reference: dict) -> str:
    return (f"forward {ours['forward_clips_per_s'] / reference['forward_clips_per_s']:.2f}x, training step "
            f"{ours['train_clips_per_s'] / reference['train_clips_per_s']:.2f}x")


if __name__ == "__main__":
    main()
