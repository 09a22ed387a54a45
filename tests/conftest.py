import pytest
import soundfile
import torch
from audio_helpers import noisy_tone


def pytest_configure(config):
    config.addinivalue_line("markers", "several_processes: starts a multi-process run (accelerate launch, torchrun)")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Groups for `pytest -n 2 --dist loadgroup` (`make test`): a module's tests run on one worker (its module
    fixtures are built once), documentation pages spread over the workers, and the multi-process runs take turns
    (their processes meet on the default port 29500)."""
    for item in items:
        if item.get_closest_marker("several_processes"):
            group = "several_processes"
        elif item.module.__name__ == "test_docs":
            continue
        else:
            group = item.module.__name__
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """An audiofolder of 13 one-second tones (one at 8 kHz) and one corrupt file."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "train").mkdir()
    for i in range(12):
        soundfile.write(root / "train" / f"tone{i:02d}.wav", noisy_tone(16000, freq=200 + 150 * i, seed=i), 16000)
    soundfile.write(root / "train" / "tone_8k.wav", noisy_tone(8000, rate=8000, freq=500), 8000)
    (root / "train" / "broken.wav").write_bytes(b"RIFF\x00\x00 this is not audio")
    return root
