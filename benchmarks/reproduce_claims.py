"""Do the papers' central claims hold at small scale? Tiny models, CPU, corpora made with corpora/make_corpus.py.

Claims (the seed papers):
  1. MAST beats AST at equal (here: random) initialisation (MAST paper, Table 1), with MViTv2's 7 x 7 / 4 patch
     stem and with the authors' AST-like 16 x 16 / 10 one.
  2. SS-MAST pretraining improves AST and MAST over no pretraining; patch-drop adds about 0.5 points.
  3. ASiT's full objective beats GMML reconstruction alone, which beats no pretraining (ASiT ablation).

Every arm gets the same budget: `--pretrain_steps` of pretraining on the task's training split (labels unused),
then `--finetune_steps` of supervised training, then the test split (voices / soundfonts never seen in training)
is scored. Each arm's encoder is judged under three protocols (`--protocols`): fine-tuned with all the training
labels (`finetune`), a linear probe of the frozen encoder (`probe`: the head alone, on embeddings computed once),
and fine-tuned with 10 % of the training labels (`labels10`: pretraining still sees the whole split, unlabelled;
the regime where self-supervision should pay). An arm pretrains once for all its protocols. Each finished run is
appended to `runs.jsonl` in the output folder, so an interrupted run picks up where it stopped; the tables
(`claims_table.md`) and the bar chart (`claims_bars.png`) are rebuilt from that file.

    python benchmarks/reproduce_claims.py --kws corpus/kws --notes corpus/notes           # full: hours on 2 cores
    python benchmarks/reproduce_claims.py --kws corpus/kws --quick                        # spot check: < 15 min
    python benchmarks/reproduce_claims.py --quick          # on the shipped corpora/kws_mini, from a fresh clone
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shlex
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from study import (  # noqa: E402
    FEATURES,
    STUDY_ASIT,
    STUDY_SSMAST,
    STUDY_SSMAST_OBJECTIVE,
    VIT,
    describe_corpus,
    finetune_argv,
    machine,
    probe_argv,
)

from specformers.training.data import load_audio_dataset  # noqa: E402
from specformers.training.script_runner import run_step  # noqa: E402

# arm -> (family, pretraining: None | ("ssmast", patch_drop_rate) | ("asit", config overrides of the objective))
ARMS = {
    "AST": ("ast", None),
    "MAST": ("mast", None),
    "MAST, 16x16 stride-10 stem": ("mast", None),
    "AST + SS-MAST": ("ast", ("ssmast", 0.2)),
    "AST + SS-MAST, no patch-drop": ("ast", ("ssmast", 0.0)),
    "MAST + SS-MAST": ("mast", ("ssmast", 0.2)),
    "MAST + SS-MAST, no patch-drop": ("mast", ("ssmast", 0.0)),
    "ASiT": ("asit", None),
    "ASiT + GMML reconstruction only": ("asit", ("asit", ",global_loss_weight=0.0,local_loss_weight=0.0")),
    "ASiT + full objective": ("asit", ("asit", "")),
}
# protocol -> what its scores are
PROTOCOLS = {"finetune": "fine-tuned, all training labels",
             "probe": "linear probe of the frozen encoder, all training labels",
             "labels10": "fine-tuned on 10 % of the training labels"}
LABELLED_SHARE = 0.1  # of the training clips, for labels10
SCRATCH = {"ast": ["--model_type", "ast", "--config_name", "ast-tiny", "--config_overrides", VIT],
           "mast": ["--model_type", "mast", "--config_name", "mast-tiny"],
           "asit": ["--model_type", "asit", "--config_name", "asit-tiny", "--config_overrides", VIT]}
# arms that start from another configuration than their family's
SCRATCH_OF_ARM = {"MAST, 16x16 stride-10 stem": ["--model_type", "mast", "--config_name", "mast-tiny-ast-stem"]}
# claim -> list of (better arm, worse arm) whose mean test accuracies it predicts
CLAIMS = {
    "1. MAST beats AST from random initialisation": [("MAST", "AST"), ("MAST, 16x16 stride-10 stem", "AST")],
    "2a. SS-MAST pretraining beats no pretraining": [("AST + SS-MAST", "AST"), ("MAST + SS-MAST", "MAST")],
    "2b. patch-drop adds to SS-MAST": [("AST + SS-MAST", "AST + SS-MAST, no patch-drop"),
                                       ("MAST + SS-MAST", "MAST + SS-MAST, no patch-drop")],
    "3a. ASiT's full objective beats reconstruction alone": [("ASiT + full objective",
                                                              "ASiT + GMML reconstruction only")],
    "3b. ASiT reconstruction alone beats no pretraining": [("ASiT + GMML reconstruction only", "ASiT")],
}


def pretrain_argv(family: str, pretraining: tuple, data: str, out: str, steps: int, seed: int) -> tuple[str, list]:
    """(script module, argv) of an arm's pretraining run."""
    common = ["--dataset_name", data, "--output_dir", out, *FEATURES, "--per_device_train_batch_size", 32,
              "--max_steps", steps, "--warmup_steps", max(1, steps // 10), "--logging_steps", max(1, steps // 20),
              "--dataloader_num_workers", 1, "--seed", seed]
    kind, setting = pretraining
    if kind == "ssmast":  # --config_overrides: the encoder's size and the objective's settings
        preset, size = ("mast-tiny", "") if family == "mast" else ("ast-tiny", VIT + ",")
        return "specformers.training.pretrain_ssmast", [
            *common, "--backbone", family, "--config_name", preset, "--learning_rate", 3e-4, *STUDY_SSMAST,
            "--config_overrides", f"{size}patch_drop_rate={setting},{STUDY_SSMAST_OBJECTIVE}"]
    return "specformers.training.pretrain_asit", [
        *common, "--config_name", "asit-tiny", "--config_overrides", VIT + setting, "--learning_rate", 5e-4,
        "--teacher_temperature_warmup_steps", max(1, steps // 5), "--teacher_momentum", 0.99, *STUDY_ASIT]


@functools.lru_cache
def labelled_clips(data: str, share: float) -> int:
    """How many training clips `share` of the training split is (at least one)."""
    return max(1, round(share * len(load_audio_dataset(data, None, "train", "audio"))))


def run_arm(task: str, data: str, arm: str, seed: int, protocol: str, args, work: str) -> dict:
    """Pretrain (if the arm does and its encoder is not there yet from another protocol), train the classifier
    under `protocol`, score the test split: one record of runs.jsonl."""
    family, pretraining = ARMS[arm]
    slug = re.sub(r"[^\w-]", "", f"{task}-{arm}-{seed}".replace(" ", "_").replace("+", "plus"))
    start, began, reused = SCRATCH_OF_ARM.get(arm, SCRATCH[family]), time.time(), False
    if pretraining is not None:
        encoder = os.path.join(work, slug, "encoder")
        reused = os.path.isfile(os.path.join(encoder, "model.safetensors"))  # written when pretraining ends
        if not reused:
            module, argv = pretrain_argv(family, pretraining, data, encoder, args.pretrain_steps, seed)
            run_step(f"{slug}: pretraining", module, argv)
        start = ["--model_name_or_path", encoder]
    out = os.path.join(work, slug, "classifier" if protocol == "finetune" else f"classifier-{protocol}")
    if protocol == "probe":
        argv = probe_argv(start, data, out, args.finetune_steps, seed)
    else:
        argv = finetune_argv(start, data, out, args.finetune_steps, seed)
        if protocol == "labels10":
            argv += ["--max_train_samples", labelled_clips(data, LABELLED_SHARE)]
    metrics = run_step(f"{slug}: {PROTOCOLS[protocol]}, then the test split", "specformers.training.train_classifier",
                       argv)
    return {"task": task, "arm": arm, "seed": seed, "protocol": protocol, "test_accuracy": metrics["eval_accuracy"],
            "test_skipped_clips": metrics["eval_skipped_clips"], "pretrain_steps": args.pretrain_steps if pretraining
            else 0, "finetune_steps": args.finetune_steps, "pretraining_reused": reused,
            "wall_seconds": round(time.time() - began, 1)}


def read_runs(path: str) -> list[dict]:
    if not os.path.isfile(path):
        return []
    with open(path) as f:  # runs from before the protocols were all fine-tuned with every label
        return [{"protocol": "finetune", **json.loads(line)} for line in f if line.strip()]


def summarise(runs: list[dict]) -> dict[tuple[str, str, str], tuple[float, float, int]]:
    """(task, protocol, arm) -> (mean, std, seeds) of the test accuracy."""
    groups = {}
    for run in runs:
        groups.setdefault((run["task"], run["protocol"], run["arm"]), []).append(run["test_accuracy"])
    return {key: (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v))
            for key, v in groups.items()}


def compare(better: tuple, worse: tuple) -> tuple[str, str]:
    """Outcome of one predicted ordering of two arms' (mean, std, seeds): "held", "reversed", "within noise" (the
    difference is within twice its standard error over seeds) or "one seed"; and the numbers behind it."""
    (b, b_std, b_n), (w, w_std, w_n) = better, worse
    if min(b_n, w_n) < 2:
        return "one seed", f"{b - w:+.3f}"
    error = (b_std ** 2 / b_n + w_std ** 2 / w_n) ** 0.5
    outcome = "within noise" if abs(b - w) <= 2 * error else "held" if b > w else "reversed"
    return outcome, f"{b - w:+.3f} +- {error:.3f}"


VERDICTS = {"held": "held", "reversed": "did not hold (reversed)",
            "within noise": "not shown (difference within seed noise)", "one seed": "open (one seed so far)"}


def verdicts(summary: dict, task: str, protocol: str) -> list[tuple[str, str]]:
    """(claim, verdict with the numbers) for every claim whose arms ran on `task` under `protocol`."""
    lines = []
    for claim, pairs in CLAIMS.items():
        parts, outcomes = [], []
        for better, worse in pairs:
            high, low = (task, protocol, better), (task, protocol, worse)
            if high not in summary or low not in summary:
                continue
            outcome, numbers = compare(summary[high], summary[low])
            outcomes.append(outcome)
            parts.append(f"{better} {summary[high][0]:.3f} vs {worse} {summary[low][0]:.3f} ({numbers}: {outcome})")
        if outcomes:
            kinds = set(outcomes)
            verdict = (VERDICTS[outcomes[0]] if len(kinds) == 1 else "mixed" if {"held", "reversed"} <= kinds
                       else "held in part" if "held" in kinds else "reversed in part" if "reversed" in kinds
                       else "not shown")
            lines.append((claim, f"**{verdict}**: " + "; ".join(parts)))
    return lines


def write_report(runs: list[dict], out: str, header: str) -> None:
    """claims_table.md and claims_bars.png from all finished runs."""
    summary = summarise(runs)
    sections = sorted({(task, protocol) for task, protocol, _ in summary},
                      key=lambda section: (section[0], list(PROTOCOLS).index(section[1])))
    dates = sorted(r["date"] for r in runs)
    total = sum(r["wall_seconds"] for r in runs) / 3600
    lines = [header, "", f"{len(runs)} runs from {dates[0]} to {dates[-1]}, {total:.2f} h of wall time in all "
             "(a protocol that reuses an arm's pretrained encoder does not count its pretraining again).", ""]
    for task, protocol in sections:
        lines += [f"### {task}: {PROTOCOLS[protocol]}", "",
                  "| arm | test accuracy (mean +- std) | seeds | wall time per run |", "|---|---|---|---|"]
        for arm in ARMS:
            if (task, protocol, arm) in summary:
                mean, std, n = summary[(task, protocol, arm)]
                wall = statistics.mean(r["wall_seconds"] for r in runs
                                       if (r["task"], r["protocol"], r["arm"]) == (task, protocol, arm))
                lines.append(f"| {arm} | {mean:.3f} +- {std:.3f} | {n} | {wall / 60:.1f} min |")
        lines += ["", "| claim | at this scale |", "|---|---|"]
        lines += [f"| {claim} | {verdict} |" for claim, verdict in verdicts(summary, task, protocol)]
        lines.append("")
    lines.append("A difference counts when it is larger than twice its standard error over seeds, "
                 "sqrt(s1^2/n1 + s2^2/n2) (shown after +-); with three seeds this is a rough screen, not a "
                 "significance test.")
    with open(os.path.join(out, "claims_table.md"), "w") as f:
        f.write("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(task for task, _ in sections))  # one row per task, one column per protocol
    present = {protocol for _, protocol in sections}
    protocols = [protocol for protocol in PROTOCOLS if protocol in present]
    figure, axes = plt.subplots(len(tasks), len(protocols), figsize=(7 * len(protocols), 5 * len(tasks)),
                                squeeze=False)
    for axis in axes.flat:
        axis.set_visible(False)
    for task, protocol in sections:
        axis = axes[tasks.index(task), protocols.index(protocol)]
        axis.set_visible(True)
        arms = [arm for arm in ARMS if (task, protocol, arm) in summary]
        means = [summary[(task, protocol, arm)][0] for arm in arms]
        stds = [summary[(task, protocol, arm)][1] for arm in arms]
        colors = [{"ast": "tab:blue", "mast": "tab:orange", "asit": "tab:green"}[ARMS[arm][0]] for arm in arms]
        axis.barh(range(len(arms)), means, xerr=stds, color=colors, capsize=3)
        axis.set_yticks(range(len(arms)), arms)
        axis.invert_yaxis()
        axis.set(xlim=(0, 1), xlabel="test accuracy (mean +- std over seeds)", title=f"{task}: {protocol}")
    figure.tight_layout()
    figure.savefig(os.path.join(out, "claims_bars.png"), dpi=100)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kws", help="kws/ folder of corpora/make_corpus.py (keyword spotting); with neither "
                                      "--kws nor --notes, the shipped corpora/kws_mini is used")
    parser.add_argument("--notes", help="notes/ folder of corpora/make_corpus.py (instrument families)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pretrain_steps", type=int, default=300)
    parser.add_argument("--finetune_steps", type=int, default=600)
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    parser.add_argument("--protocols", nargs="+", choices=list(PROTOCOLS), default=list(PROTOCOLS),
                        help="how each arm's encoder is judged (see the top of this file)")
    parser.add_argument("--quick", action="store_true",
                        help="one seed, 30 pretraining and 60 fine-tuning steps: a spot check in minutes")
    parser.add_argument("--output_dir", help="results folder (default benchmark_runs/claims[_quick], not kept in "
                                             "git; the committed results were written with --output_dir)")
    parser.add_argument("--work_dir", default=os.path.join("benchmark_runs", "claims_work"),
                        help="models of the runs (not kept in git)")
    parser.add_argument("--report_only", action="store_true", help="rebuild the table and chart from runs.jsonl")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.pretrain_steps, args.finetune_steps = args.seeds[:1], 30, 60
    tasks = {name: path for name, path in (("kws", args.kws), ("notes", args.notes)) if path}
    if not tasks:  # the keyword corpus shipped for the quickstart: runs from a fresh clone, nothing to build
        tasks = {"kws_mini": os.path.join(os.path.dirname(HERE), "corpora", "kws_mini")}
        print("No --kws / --notes corpus given: using the shipped corpora/kws_mini (6 keywords, 360 training clips).")
    out = args.output_dir or os.path.join("benchmark_runs", "claims_quick" if args.quick else "claims")
    os.makedirs(out, exist_ok=True)
    runs_path = os.path.join(out, "runs.jsonl")
    runs = read_runs(runs_path)
    other = [r for r in runs if r["finetune_steps"] != args.finetune_steps
             or r["pretrain_steps"] not in (0, args.pretrain_steps)]
    if other:
        raise SystemExit(f"{runs_path} holds runs with other step budgets ({other[0]['pretrain_steps']} + "
                         f"{other[0]['finetune_steps']}); give another --output_dir to keep both.")
    done = {(r["task"], r["arm"], r["seed"], r["protocol"]) for r in runs}
    command = " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else map(str, argv))
                       if a != "--report_only")
    header = (f"Claims at small scale on {machine()}, torch {torch.__version__}: {args.pretrain_steps} pretraining "
              f"+ {args.finetune_steps} fine-tuning (or linear-probe) steps of 32 clips per arm, then the test split "
              f"(unseen voices / soundfonts); labels10 fine-tunes on {LABELLED_SHARE:.0%} of the training clips "
              f"(drawn per seed) after pretraining on all of them. "
              f"Command: `python benchmarks/reproduce_claims.py {command}`.")
    corpora = [line for line in (describe_corpus(task, data) for task, data in tasks.items()) if line]
    if corpora:
        header += "\n\nCorpora:\n" + "\n".join(corpora)
    for task, data in ({} if args.report_only else tasks).items():
        for seed in args.seeds:
            for arm in args.arms:
                for protocol in args.protocols:
                    if (task, arm, seed, protocol) in done:
                        continue
                    record = run_arm(task, data, arm, seed, protocol, args, args.work_dir)
                    record["date"] = time.strftime("%Y-%m-%d %H:%M")
                    with open(runs_path, "a") as f:
                        f.write(json.dumps(record) + "\n")
                    runs.append(record)
                    print(f"[claims] {task} / {arm} / seed {seed} / {protocol}: test accuracy "
                          f"{record['test_accuracy']:.3f} ({record['wall_seconds'] / 60:.1f} min)", flush=True)
                    write_report(runs, out, header)
    if runs:
        write_report(runs, out, header)
        with open(os.path.join(out, "claims_table.md")) as f:
            print(f.read())


if __name__ == "__main__":
    main()
