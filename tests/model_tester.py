"""Checks every specformers model must pass, in the spirit of transformers' ModelTesterMixin.

A test class sets `family` (an entry of the table of model families) and `frames`, and defines
`expected_hidden_shapes(config, batch, frames) -> list of shapes` (one per returned hidden state). Its config,
encoder and classifier classes and its tiny preset come from the table.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from audio_helpers import noisy_tone
from safetensors.torch import save_file
from transformers import AutoConfig, AutoModel, AutoModelForAudioClassification, pipeline
from transformers.modeling_layers import GradientCheckpointingLayer

from specformers import SpectrogramFeatureExtractor
from specformers.families import FAMILIES


def assert_invalid(config, model_class, message: str, tmp_path) -> None:
    """A bad config builds (transformers' configs may be assembled field by field) and is refused with `message`
    where transformers validates: `validate()`, `save_pretrained`, and when a model is built from it."""
    with pytest.raises(ValueError, match=message):
        config.validate()
    with pytest.raises(ValueError, match=message):
        config.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=message):
        model_class(config)


class ModelTesterMixin:
    family = None  # a specformers.families.ModelFamily
    frames = 128  # input frames of the test spectrograms
    num_labels = 3

    @property
    def config_class(self):
        return self.family.config_class

    @property
    def model_class(self):
        return self.family.model_class

    @property
    def classification_class(self):
        return self.family.classifier_class

    @property
    def preset(self):
        return self.family.tiny_preset

    # ------------------------------------------------------------ helpers

    def make_config(self, **overrides):
        overrides.setdefault("id2label", {i: f"class_{i}" for i in range(self.num_labels)})
        return self.config_class.from_preset(self.preset, **overrides)

    def make_inputs(self, batch: int = 2, frames: int | None = None) -> torch.Tensor:
        return torch.randn(batch, frames or self.frames, 128)

    def classifier(self, **overrides):
        return self.classification_class(self.make_config(**overrides)).eval()

    # ------------------------------------------------------------ checks

    def test_forward_shapes_and_pooled_output(self):
        model = self.model_class(self.make_config()).eval()
        out = model(self.make_inputs(batch=3))
        assert out.pooler_output.shape == (3, model.config.hidden_size)
        assert out.last_hidden_state.shape[0] == 3
        logits = self.classifier()(self.make_inputs(batch=3)).logits
        assert logits.shape == (3, self.num_labels) and torch.isfinite(logits).all()

    def test_initialisation(self):
        model = self.classifier()
        std = model.config.initializer_range
        for module in model.modules():
            for name in getattr(module, "_trunc_normal_parameters", ()):
                parameter = getattr(module, name)
                if parameter is not None and parameter.numel() > 100:
                    assert 0.5 * std < parameter.std().item() < 1.5 * std, name
            if isinstance(module, torch.nn.Linear):
                assert 0.5 * std < module.weight.std().item() < 1.5 * std
                assert torch.all(module.bias == 0)

    def test_save_and_load_through_auto_classes(self, tmp_path):
        model = self.classifier()
        model.save_pretrained(tmp_path)
        assert isinstance(AutoConfig.from_pretrained(tmp_path), self.config_class)
        inputs = self.make_inputs()
        loaded = AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
        assert type(loaded) is self.classification_class
        torch.testing.assert_close(loaded(inputs).logits, model(inputs).logits, rtol=0, atol=0)
        base = AutoModel.from_pretrained(tmp_path).eval()
        assert type(base) is self.model_class
        torch.testing.assert_close(base(inputs).last_hidden_state, model.base_model(inputs).last_hidden_state,
                                   rtol=0, atol=0)

    def test_another_model_or_no_encoder_weights_is_refused(self, tmp_path):
        own = self.config_class.model_type
        for other in FAMILIES:
            if other.model_type != own:
                other.model_class(other.config_class.from_preset(other.tiny_preset)).save_pretrained(
                    tmp_path / other.model_type)
                for cls in (self.model_class, self.classification_class):
                    with pytest.raises(ValueError, match=f"holds a '{other.model_type}' model, not a '{own}' one.*"
                                                         f"Load it with {other.model_class.__name__}"):
                        cls.from_pretrained(tmp_path / other.model_type)
        # the right config, but weights under other names (as in a pretraining wrapper's checkpoint)
        model = self.model_class(self.make_config())
        model.config.save_pretrained(tmp_path / "renamed")
        save_file({f"elsewhere.{k}": v.contiguous() for k, v in model.state_dict().items()},
                  str(tmp_path / "renamed" / "model.safetensors"), metadata={"format": "pt"})
        with pytest.raises(ValueError, match="has none of the .* encoder weights"):
            self.classification_class.from_pretrained(tmp_path / "renamed")
        # a proper folder still loads, with the loading report when asked
        model.save_pretrained(tmp_path / "good")
        loaded, info = self.classification_class.from_pretrained(tmp_path / "good", output_loading_info=True)
        assert all(key.startswith("classifier") for key in info["missing_keys"])

    def test_eager_matches_sdpa(self, tmp_path):
        model = self.classifier()
        assert model.config._attn_implementation == "sdpa"
        model.save_pretrained(tmp_path)
        eager = self.classification_class.from_pretrained(tmp_path, attn_implementation="eager").eval()
        assert eager.config._attn_implementation == "eager"
        inputs = self.make_inputs()
        torch.testing.assert_close(eager(inputs).logits, model(inputs).logits, atol=1e-5, rtol=1e-4)

    def test_inference_without_autograd_matches(self):
        model = self.classifier()
        inputs = self.make_inputs()
        with_autograd = model(inputs).logits
        with torch.inference_mode():
            torch.testing.assert_close(model(inputs).logits, with_autograd, atol=1e-6, rtol=1e-5)

    def test_batching_equivalence(self):
        model = self.classifier()
        inputs = self.make_inputs(batch=4)
        batched = model(inputs).logits
        for i in range(4):
            torch.testing.assert_close(model(inputs[i : i + 1]).logits[0], batched[i], atol=1e-5, rtol=1e-4)

    def test_empty_batch(self):
        """A training batch whose clips were all unreadable still runs forward and backward (zero gradients)."""
        model = self.classifier().train()
        logits = model(self.make_inputs(batch=0)).logits
        assert logits.shape == (0, self.num_labels)
        (logits.sum() * 0).backward()
        assert all(p.grad is None or not p.grad.any() for p in model.parameters())

    def test_hidden_states_and_attentions(self):
        model = self.model_class(self.make_config()).eval()
        inputs = self.make_inputs(batch=2)
        out = model(inputs, output_hidden_states=True, output_attentions=True)
        shapes = [tuple(h.shape) for h in out.hidden_states]
        assert shapes == self.expected_hidden_shapes(model.config, 2, self.frames)
        assert len(out.attentions) == len(out.hidden_states) - 1
        for weights in out.attentions:
            assert weights.shape[0] == 2 and weights.ndim == 4
            torch.testing.assert_close(weights.sum(-1), torch.ones_like(weights.sum(-1)))
        # attention maps come from the eager path; the states must not depend on asking for them
        plain = model(inputs)
        torch.testing.assert_close(plain.last_hidden_state, out.last_hidden_state, atol=1e-5, rtol=1e-4)

    def test_gradient_checkpointing_gives_the_same_gradients(self):
        inputs, labels = self.make_inputs(), torch.tensor([0, 2])
        model = self.classifier().train()

        def gradients():
            model.zero_grad()
            model(inputs, labels=labels).loss.backward()
            return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

        reference = gradients()
        # transformers >= 5.2x renames gradient_checkpointing_enable to activation_checkpointing_enable
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable()
        flags = [m.gradient_checkpointing for m in model.modules() if hasattr(m, "gradient_checkpointing")]
        assert flags and all(flags)
        checkpointed = gradients()
        assert reference.keys() == checkpointed.keys() and len(reference) == len(list(model.parameters()))
        for name in reference:
            torch.testing.assert_close(checkpointed[name], reference[name], atol=1e-6, rtol=1e-5)

    def test_activation_checkpointing_is_transformers_own(self):
        """Every block is a GradientCheckpointingLayer, so `every_n_layers` picks the blocks that are recomputed in
        the backward pass (a recomputed block runs its attention twice per step)."""
        model = self.classifier().train()
        layers = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
        assert len(layers) >= 2
        model.activation_checkpointing_enable(every_n_layers=2)
        recomputed = [index % 2 == 0 for index in range(len(layers))]
        assert [layer.gradient_checkpointing for layer in layers] == recomputed and model.is_activation_checkpointing
        calls = Counter()
        for index, layer in enumerate(layers):
            layer.attention.register_forward_hook(lambda *_, index=index: calls.update([index]))
        model(self.make_inputs(), labels=torch.tensor([0, 2])).loss.backward()
        assert [calls[index] for index in range(len(layers))] == [2 if again else 1 for again in recomputed]
        model.activation_checkpointing_disable()
        assert not model.is_activation_checkpointing

    def test_set_attn_implementation_switches_both_ways(self, monkeypatch):
        model = self.classifier()
        inputs = self.make_inputs()
        reference = model(inputs).logits
        sdpa_calls = []
        sdpa = F.scaled_dot_product_attention
        monkeypatch.setattr(F, "scaled_dot_product_attention", lambda *a, **k: sdpa_calls.append(1) or sdpa(*a, **k))
        for implementation in ("eager", "sdpa", "eager", "sdpa"):
            model.set_attn_implementation(implementation)
            assert model.config._attn_implementation == implementation
            sdpa_calls.clear()
            torch.testing.assert_close(model(inputs).logits, reference, atol=1e-5, rtol=1e-4)
            assert bool(sdpa_calls) == (implementation == "sdpa")
        with pytest.raises(ValueError, match="does not support Flash Attention"):
            model.set_attn_implementation("flash_attention_2")

    def test_attention_mask_is_accepted_and_not_applied(self):
        model = self.classifier()
        inputs = self.make_inputs()
        mask = torch.ones(2, self.frames, dtype=torch.int32)
        mask[0, self.frames // 2:] = 0  # padding frames are still attended to, as the models are trained
        torch.testing.assert_close(model(inputs, attention_mask=mask).logits, model(inputs).logits, rtol=0, atol=0)
        base = model.base_model
        torch.testing.assert_close(base(inputs, attention_mask=mask).last_hidden_state,
                                   base(inputs).last_hidden_state, rtol=0, atol=0)
        with pytest.raises(ValueError, match="attention_mask must have shape \\(batch, frames\\)"):
            model(inputs, attention_mask=mask[:, :10])

    def test_config_round_trip(self, tmp_path):
        config = self.make_config()
        values = config.to_dict()
        assert self.config_class.from_dict(values).to_dict() == values
        assert self.config_class.from_dict(json.loads(config.to_json_string())).to_dict() == values
        config.save_pretrained(tmp_path)
        loaded = AutoConfig.from_pretrained(tmp_path)
        assert type(loaded) is self.config_class
        assert {**loaded.to_dict(), "_name_or_path": ""} == values  # loading records where the config came from
        generic = {name: getattr(config, name) for name in ("hidden_size", "num_hidden_layers", "num_attention_heads")}
        assert all(isinstance(value, int) and value > 0 for value in generic.values()), generic

    def test_transformers_loading_calls_with_explicit_weights(self, tmp_path):
        """`from_pretrained(None, config=..., state_dict=...)` and a folder whose keys are all renamed by
        `key_mapping`: the caller chose the weights, so the no-encoder-weights guard stays out."""
        model = self.classifier()
        inputs = self.make_inputs()
        expected = model(inputs).logits
        loaded = self.classification_class.from_pretrained(None, config=model.config, state_dict=model.state_dict())
        torch.testing.assert_close(loaded.eval()(inputs).logits, expected, rtol=0, atol=0)
        fresh = self.classification_class.from_pretrained(None, config=model.config, state_dict={})
        assert type(fresh) is self.classification_class
        model.config.save_pretrained(tmp_path / "renamed")
        save_file({f"elsewhere.{k}": v.contiguous() for k, v in model.state_dict().items()},
                  str(tmp_path / "renamed" / "model.safetensors"), metadata={"format": "pt"})
        mapped = self.classification_class.from_pretrained(tmp_path / "renamed", key_mapping={r"^elsewhere\.": ""})
        torch.testing.assert_close(mapped.eval()(inputs).logits, expected, rtol=0, atol=0)

    def test_training_step_lowers_the_loss(self):
        model = self.classifier().train()
        inputs, labels = self.make_inputs(batch=4), torch.tensor([0, 1, 2, 1])
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        losses = []
        for _ in range(5):
            loss = model(inputs, labels=labels).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0]

    def test_losses_follow_problem_type(self):
        inputs = self.make_inputs(batch=2)
        single = self.classifier()
        out = single(inputs, labels=torch.tensor([2, 0]))
        torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, torch.tensor([2, 0])))
        soft = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.5, 0.5]])  # mixup's targets: set the problem type
        single.config.problem_type = "single_label_classification"
        torch.testing.assert_close(single(inputs, labels=soft).loss, F.cross_entropy(out.logits, soft))

        multi = self.classifier(problem_type="multi_label_classification")
        targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
        out = multi(inputs, labels=targets)
        torch.testing.assert_close(out.loss, F.binary_cross_entropy_with_logits(out.logits, targets))
        with pytest.raises(ValueError, match="logits' shape"):
            multi(inputs, labels=torch.tensor([1.0, 0.0]))

        regression = self.classifier(id2label={0: "value"}, problem_type="regression")
        values = torch.tensor([0.5, -1.0])
        out = regression(inputs, labels=values)
        torch.testing.assert_close(out.loss, F.mse_loss(out.logits.squeeze(-1), values))

    def test_any_input_length(self):
        model = self.classifier()
        for frames in (self.frames // 2, self.frames, 2 * self.frames + 37):
            logits = model(self.make_inputs(frames=frames)).logits
            assert logits.shape == (2, self.num_labels) and torch.isfinite(logits).all()

    def test_bad_input_raises(self):
        model = self.classifier()
        with pytest.raises(ValueError, match="shape"):
            model(torch.randn(2, 128, 64))  # 64 mel bins for a 128-bin model
        with pytest.raises(ValueError, match="shape"):
            model(torch.randn(2, 1, self.frames, 128))

    def test_pipeline_classifies_other_sampling_rates(self, tmp_path):
        model = self.classifier()
        model.save_pretrained(tmp_path)
        SpectrogramFeatureExtractor(target_frames=self.frames).save_pretrained(tmp_path)
        classify = pipeline("audio-classification", model=str(tmp_path))
        labels = set(model.config.id2label.values())
        for rate in (8000, 44100):
            predictions = classify({"array": noisy_tone(rate, rate=rate), "sampling_rate": rate}, top_k=None)
            assert {p["label"] for p in predictions} == labels
            assert sum(p["score"] for p in predictions) == pytest.approx(1.0, abs=1e-5)
        # the pipeline's scores are the model's own on the extractor's features
        clip = noisy_tone(16000)
        features = SpectrogramFeatureExtractor(target_frames=self.frames)(clip, sampling_rate=16000,
                                                                          return_tensors="pt")
        expected = model(**features).logits.softmax(-1)[0]
        for prediction in classify(clip, top_k=None):
            label_id = model.config.label2id[prediction["label"]]
            assert prediction["score"] == pytest.approx(expected[label_id].item(), abs=1e-5)
        assert np.isclose(sum(p["score"] for p in classify(clip, top_k=2)), expected.topk(2).values.sum().item())
