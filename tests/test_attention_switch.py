"""`set_attn_implementation` in a fresh interpreter, every family one after another, the pretraining wrappers
included (their encoders have configs of their own). transformers decides whether a class can switch by reading
its module's source and caches the answer on the class; specformers' models answer for themselves, so neither the
source nor the order matters. (Each family's in-process check is in model_tester.py.)"""

import subprocess
import sys

SCRIPT = """
import torch
from specformers import (ASiTConfig, ASiTForPreTraining, ASiTModel, ASTConfig, ASTModel, MASTConfig, MASTModel,
                         SSMASTConfig, SSMASTForPreTraining)

models = {
    "asit": ASiTModel(ASiTConfig.from_preset("asit-tiny")),
    "ssmast": SSMASTForPreTraining(SSMASTConfig(backbone_config=MASTConfig.from_preset("mast-tiny"))),
    "ast": ASTModel(ASTConfig.from_preset("ast-tiny")),
    "mast": MASTModel(MASTConfig.from_preset("mast-tiny")),
    "asit_pretraining": ASiTForPreTraining(ASiTConfig.from_preset("asit-tiny")),
}
inputs = torch.randn(1, 128, 128)
for name, model in models.items():
    model.eval()
    reference = model(inputs).last_hidden_state if name in ("asit", "ast", "mast") else None
    for implementation in ("eager", "sdpa", "eager"):
        model.set_attn_implementation(implementation)
        found = {m.config._attn_implementation for m in model.modules() if hasattr(m, "config")}
        assert found == {implementation}, (name, implementation, found)
        if reference is not None:
            torch.testing.assert_close(model(inputs).last_hidden_state, reference, atol=1e-5, rtol=1e-4)
    print(name, "switched")
"""


def test_every_family_switches_in_a_fresh_process():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [word for name in ("asit", "ssmast", "ast", "mast", "asit_pretraining")
                                     for word in (name, "switched")]
