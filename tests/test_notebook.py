"""notebooks/investigation.ipynb runs top to bottom on the sample incident (any cell error fails)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "investigation.ipynb"


def test_investigation_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    if not (ROOT / "sample_logs" / "ground_truth.json").exists():
        pytest.skip("sample_logs/ not generated")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    # The kernel is this interpreter (the one with forensics installed), and the case goes to tmp.
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("FORENSICS_NOTEBOOK_CASE", str(tmp_path / "sample.duckdb"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError naming the cell that failed
    outputs = {i: cell.get("outputs", []) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"}
    figure_cell = next(i for i, cell in enumerate(notebook.cells) if "plot_timeline" in cell.source)
    assert any("image/png" in o.get("data", {}) for o in outputs[figure_cell])  # the figure is shown inline
    text = "".join(o.get("text", "") for cell_outputs in outputs.values() for o in cell_outputs)
    assert "affected GPUs: [6, 7]" in text
    assert (tmp_path / "report" / "report.html").exists()
    assert (tmp_path / "iocs" / "indicators.stix.json").exists()
