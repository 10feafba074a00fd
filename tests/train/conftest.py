import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for _train_toys


@pytest.fixture
def out(tmp_path):
    return tmp_path / "run"
