"""benchmarks/reproduce_claims.py at toy budgets on the shipped keyword corpus: every kind of arm runs (scratch,
SS-MAST, ASiT reconstruction-only) and every protocol (fine-tuning, linear probe, 10 % of the labels) on one
pretraining, results are appended and resumed, the tables and chart are written."""

import json

import pytest
from training_helpers import load_benchmark

from specformers.quickstart import CORPUS


@pytest.fixture(scope="module")
def claims():
    return load_benchmark("reproduce_claims")


def test_arms_run_resume_and_report(claims, tmp_path, capsys):
    base = ["--kws", CORPUS, "--seeds", "0", "--pretrain_steps", "2", "--finetune_steps", "2", "--output_dir",
            str(tmp_path / "out"), "--work_dir", str(tmp_path / "work")]
    argv = [*base, "--protocols", "finetune", "--arms", "AST", "MAST + SS-MAST", "ASiT + GMML reconstruction only"]
    claims.main(argv)
    runs = [json.loads(line) for line in (tmp_path / "out" / "runs.jsonl").read_text().splitlines()]
    assert [r["arm"] for r in runs] == ["AST", "MAST + SS-MAST", "ASiT + GMML reconstruction only"]
    assert all(0 <= r["test_accuracy"] <= 1 and r["test_skipped_clips"] == 0 for r in runs)
    assert [r["pretrain_steps"] for r in runs] == [0, 2, 2]
    encoder = json.loads((tmp_path / "work" / "kws-ASiT_plus_GMML_reconstruction_only-0" / "encoder" /
                          "config.json").read_text())
    assert encoder["global_loss_weight"] == 0.0 and encoder["local_loss_weight"] == 0.0
    assert json.loads((tmp_path / "work" / "kws-MAST_plus_SS-MAST-0" / "classifier" / "config.json").read_text()
                      )["model_type"] == "specformers-mast"

    capsys.readouterr()
    encoder = tmp_path / "work" / "kws-MAST_plus_SS-MAST-0" / "encoder" / "model.safetensors"
    pretrained = encoder.stat().st_mtime_ns
    # the finished runs are kept; the new ones reuse the arm's encoder, and the probe of a random AST is its baseline
    claims.main([*base, "--arms", "MAST", "MAST + SS-MAST", "AST", "--protocols", "finetune", "probe", "labels10"])
    runs = [json.loads(line) for line in (tmp_path / "out" / "runs.jsonl").read_text().splitlines()]
    assert len(runs) == 10 and encoder.stat().st_mtime_ns == pretrained
    new = {(r["arm"], r["protocol"]): r for r in runs[3:]}
    assert set(new) == {("MAST", "finetune")} | {(arm, protocol) for arm in ("MAST", "MAST + SS-MAST", "AST")
                                                 for protocol in ("probe", "labels10")}
    assert new[("MAST + SS-MAST", "probe")]["pretraining_reused"] and new[("MAST + SS-MAST", "probe")][
        "pretrain_steps"] == 2
    probe = tmp_path / "work" / "kws-MAST_plus_SS-MAST-0" / "classifier-probe"
    assert "freeze_encoder" in (probe / "README.md").read_text()
    table = (tmp_path / "out" / "claims_table.md").read_text()
    assert "### kws: linear probe of the frozen encoder, all training labels" in table
    assert "### kws: fine-tuned on 10 % of the training labels" in table
    assert table.count("| 1. MAST beats AST from random initialisation |") == 3
    assert (tmp_path / "out" / "claims_bars.png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "[claims] kws / MAST / seed 0 / labels10" in printed
    assert printed.count("--max_train_samples 36") == 3  # 10 % of the 360 training clips, for each arm

    with pytest.raises(SystemExit, match="other step budgets"):
        claims.main([a if a != "2" else "3" for a in argv])


def test_verdicts_weigh_differences_against_seed_noise(claims):
    def verdict(**arms):  # arm -> (mean, std, seeds) of the test accuracy on one task
        return claims.verdicts({("kws", "probe", arm): stats for arm, stats in arms.items()}, "kws", "probe")

    # 0.80 vs 0.50 over 3 seeds each, std 0.02: far beyond twice the standard error (0.016)
    (claim, text), = verdict(MAST=(0.8, 0.02, 3), AST=(0.5, 0.02, 3))
    assert claim.startswith("1.") and text.startswith("**held**") and "+0.300 +- 0.016: held" in text
    # the same means with std 0.3: within the noise
    (_, text), = verdict(MAST=(0.8, 0.3, 3), AST=(0.5, 0.3, 3))
    assert text.startswith("**not shown")
    # clearly the other way round: reported as reversed, not hidden
    (_, text), = verdict(MAST=(0.5, 0.02, 3), AST=(0.8, 0.02, 3))
    assert text.startswith("**did not hold (reversed)**")
    # one arm with a single seed: no spread to judge by
    (_, text), = verdict(MAST=(0.8, 0.0, 1), AST=(0.5, 0.02, 3))
    assert text.startswith("**open")
    # claim 2a over two pairs: pretraining helps AST clearly, hurts MAST clearly
    lines = dict(verdict(**{"AST + SS-MAST": (0.6, 0.01, 3), "MAST + SS-MAST": (0.7, 0.01, 3)},
                         AST=(0.5, 0.01, 3), MAST=(0.8, 0.01, 3)))
    text = lines["2a. SS-MAST pretraining beats no pretraining"]
    assert text.startswith("**mixed**") and ": held" in text and ": reversed" in text


def test_corpus_line_comes_from_the_corpus_provenance(claims, tmp_path):
    (tmp_path / "kws").mkdir()
    per_label = {"yes": 4, "no": 4, "_silence_": 3}
    (tmp_path / "provenance.json").write_text(json.dumps({
        "command": "python corpora/make_corpus.py --out x --tasks kws --seed 3",
        "kws": {"speakers": {"train": ["espeak-ng:m1", "flite:slt"]},
                "clips": {"train": per_label, "validation": {"yes": 2, "no": 2}, "test": {"yes": 1, "no": 1}}}}))
    line = claims.describe_corpus("kws", str(tmp_path / "kws"))
    assert "11 / 4 / 2 clips" in line and "3 classes (chance 0.333)" in line and "(espeak-ng, flite voices)" in line
    assert "built by `python corpora/make_corpus.py --out x --tasks kws --seed 3`" in line
    assert claims.describe_corpus("notes", str(tmp_path / "kws")) is None  # the provenance knows no notes task
    assert claims.describe_corpus("kws", CORPUS) is None  # the shipped parquet corpus has no provenance.json
