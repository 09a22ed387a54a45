import math

import numpy as np
import pytest
import torch

from specformers.feature_extraction.augmentations import LogMixup, draw_resized_crop, random_resized_crop, resized_crop


def test_random_resized_crop_keeps_shape_and_range():
    spectrogram = torch.rand(96, 128) * 2 - 1
    for seed in range(20):
        view = random_resized_crop(spectrogram, np.random.default_rng(seed))
        assert view.shape == spectrogram.shape and view.dtype == spectrogram.dtype
        # bicubic overshoots: its weights (a = -0.75) sum to at most 1.375 in absolute value per axis
        assert view.abs().max() <= 1.375**2
    a = random_resized_crop(spectrogram, np.random.default_rng(3))
    assert torch.equal(a, random_resized_crop(spectrogram, np.random.default_rng(3)))  # seeded
    assert not torch.equal(a, random_resized_crop(spectrogram, np.random.default_rng(4)))


def test_random_resized_crop_without_scaling_is_the_identity():
    spectrogram = torch.randn(50, 64)
    view = random_resized_crop(spectrogram, np.random.default_rng(0), virtual_scale=(1.0, 1.0),
                               frequency_scale=(1.0, 1.0), time_scale=(1.0, 1.0))
    torch.testing.assert_close(view, spectrogram)


def test_random_resized_crop_zooms_out_with_zero_padding():
    spectrogram = torch.ones(60, 40)
    # canvas 1.5x longer in time, the whole canvas cropped: the clip is squeezed into the middle two thirds
    view = random_resized_crop(spectrogram, np.random.default_rng(0), virtual_scale=(1.0, 1.5),
                               frequency_scale=(1.0, 1.0), time_scale=(1.5, 1.5))
    assert view[:5].abs().max() < 0.05 and view[-5:].abs().max() < 0.05
    torch.testing.assert_close(view[25:35], torch.ones(10, 40), atol=0.01, rtol=0)


def test_log_mixup_by_hand():
    mixup = LogMixup(ratio=0.4, memory_size=3)
    views = torch.zeros(1, 2, 2, 2)
    assert torch.equal(mixup(views, torch.ones(1, 2), torch.zeros(1, 2)), views)  # empty memory: unchanged
    mixup.remember(torch.full((2, 2, 2), math.log(3.0)))
    mixup.remember(torch.full((2, 2, 2), math.log(5.0)))
    # view 0: lam = 0.4 * 0.5 = 0.2 with memory[0] (pick 0.1 of 2); view 1: lam = 0.4 with memory[1] (pick 0.9)
    mixed = mixup(views, torch.tensor([[0.5, 1.0]]), torch.tensor([[0.1, 0.9]]))
    assert mixup.memory.dtype == torch.float16 and mixed.dtype == torch.float32  # the memory is kept in half
    torch.testing.assert_close(mixed[0, 0], torch.full((2, 2), math.log(0.8 * 1 + 0.2 * 3)), atol=2e-4, rtol=0)
    torch.testing.assert_close(mixed[0, 1], torch.full((2, 2), math.log(0.6 * 1 + 0.4 * 5)), atol=2e-4, rtol=0)


def test_log_mixup_memory_is_a_fifo_that_checkpoints():
    mixup = LogMixup(memory_size=4)
    for value in range(6):
        mixup.remember(torch.full((1, 3, 2), float(value)))
    assert mixup.memory[:, 0, 0].tolist() == [2.0, 3.0, 4.0, 5.0]
    restored = LogMixup(memory_size=4)
    restored.load_state_dict(mixup.state_dict())
    views, lam, pick = torch.randn(2, 2, 3, 2), torch.rand(2, 2), torch.rand(2, 2)
    torch.testing.assert_close(restored(views, lam, pick), mixup(views, lam, pick))


@pytest.mark.parametrize("frames", [3, 5])
def test_log_mixup_pads_shorter_memory_clips(frames):
    mixup = LogMixup()
    mixup.remember(torch.zeros(1, frames, 2))
    assert mixup(torch.zeros(1, 2, 4, 2), torch.ones(1, 2), torch.zeros(1, 2)).shape == (1, 2, 4, 2)


def test_a_drawn_crop_box_applied_later_is_the_same_crop():
    """SS-MAST draws the crops in the DataLoader workers and may apply them after the mixup, in the training
    process: the box must give exactly the crop drawn with it."""
    spectrogram = torch.randn(40, 16)
    box = draw_resized_crop(tuple(spectrogram.shape), np.random.default_rng(7))
    assert torch.equal(resized_crop(spectrogram, box), random_resized_crop(spectrogram, np.random.default_rng(7)))
