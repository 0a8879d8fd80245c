"""The command line: thin, documented, one-line errors, terminal-safe output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def forensics(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forensics", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_formats_lists_every_parser_with_its_tables():
    result = forensics("formats", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["inventory"]["tables"] == "entities"


def test_ingest_then_evidence_as_json(tmp_path):
    inventory = tmp_path / "inv.yaml"
    inventory.write_text("kind: cluster-forensics/inventory\nversion: 1\nhosts:\n  - {name: n1, ips: [10.0.0.1]}\n")
    case = tmp_path / "c.duckdb"
    result = forensics("ingest", str(inventory), "--case", str(case))
    assert result.returncode == 0, result.stderr
    assert "1 new evidence files" in result.stdout
    again = forensics("ingest", str(inventory), "--case", str(case))
    assert "nothing new" in again.stdout
    rows = json.loads(forensics("evidence", "--case", str(case), "--format", "json").stdout)
    assert rows[0]["format"] == "inventory" and len(rows[0]["sha256"]) == 64


def test_errors_are_one_line_with_exit_code_1(tmp_path):
    result = forensics("query", "detect/nope", "--case", str(tmp_path / "missing.duckdb"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    debug = forensics("--debug", "query", "nope-query-name")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_evidence_text_cannot_drive_the_terminal(tmp_path):
    hostile = tmp_path / "inv.yaml"
    hostile.write_bytes(b"kind: cluster-forensics/inventory\nhosts: [\x1b]0;pwned\x07\x1b[2J\xe2\x80\xae]\n")
    case = tmp_path / "c.duckdb"
    assert forensics("ingest", str(hostile), "--case", str(case)).returncode == 0
    for fmt in ("table", "csv", "json"):
        out = forensics("warnings", "--case", str(case), "--format", fmt).stdout
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out, fmt
        assert ("x1b" in out) or ("u001b" in out), fmt  # shown escaped, not dropped


def test_unknown_output_format_is_rejected():
    result = forensics("formats", "--format", "xml")
    assert result.returncode == 1 and "unknown output format" in result.stderr


def test_readme_python_example_runs(tmp_path):
    root = Path(__file__).resolve().parents[1]
    if not (root / "sample_logs" / "ground_truth.json").exists():
        pytest.skip("sample_logs/ not generated")
    readme = (root / "README.md").read_text()
    code = readme.split("## Python and Jupyter", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "sample_logs").symlink_to(root / "sample_logs")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr


def test_investigate_writes_the_report_when_asked(tmp_path):
    inventory = tmp_path / "inv.yaml"
    inventory.write_text("kind: cluster-forensics/inventory\nversion: 1\nhosts:\n  - {name: n1, ips: [10.0.0.1]}\n")
    result = forensics("investigate", str(inventory), "--case", str(tmp_path / "c.duckdb"),
                       "--report", str(tmp_path / "rep"))
    assert result.returncode == 0, result.stderr
    assert "Report: " in result.stdout
    for name in ("report.html", "report.md", "report.json", "manifest.json"):
        assert (tmp_path / "rep" / name).is_file(), name
