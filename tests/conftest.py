from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLE_LOGS = ROOT / "sample_logs"

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    return CORPUS


@pytest.fixture
def records_parser():
    """Registers the test-only 'test-records' parser (see records_parser.py)."""
    import records_parser as module
    from forensics.registry import unregister

    yield module.install()
    unregister(module.PARSER.name)
