"""The case and the ingest machinery: registry, hashing, idempotence, wrappings, bad input, crashes."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import zstandard

from forensics import Case

INVENTORY = textwrap.dedent("""\
    kind: cluster-forensics/inventory
    version: 1
    timezone: Asia/Shanghai
    year: 2026
    networks:
      - {cidr: 10.20.0.0/16, zone: internal, name: cluster-vpc}
    hosts:
      - name: gpu-node-01
        role: gpu-node
        ips: [10.20.1.11]
        public_ips: [198.51.100.11]
        gpus:
          - {index: 0, uuid: GPU-11111111-2222-3333-4444-555555555555, pci_bus_id: "00000000:18:00.0", job: rl-run-0217}
      - name: gpu-node-03
        ips: [10.20.1.13]
        timezone: UTC
      - name: monitor-01
        role: monitoring
        ips: [10.20.0.5]
    jobs:
      - {id: rl-run-0217, kind: rl-training}
    evidence:
      - {path: "egress/**", host: gpu-node-03}
    """)


def records(lines: list[str]) -> bytes:
    return ("#test-records\n" + "".join(line + "\n" for line in lines)).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def table_counts(case: Case) -> dict[str, int]:
    return {t: int(case.con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])
            for t in case.tables() if t not in ("runs", "case_meta")}


@pytest.fixture
def evidence_dir(tmp_path: Path) -> Path:
    root = tmp_path / "evidence"
    (root / "nodes" / "gpu-node-01").mkdir(parents=True)
    (root / "egress").mkdir()
    (root / "inventory.yaml").write_text(INVENTORY)
    (root / "nodes" / "gpu-node-01" / "records.log").write_bytes(records(["gpu-node-01,1", "gpu-node-01,2"]))
    (root / "nodes" / "gpu-node-01" / "records.log.1").write_bytes(records(["gpu-node-01,3"]))
    (root / "nodes" / "gpu-node-01" / "records.log.2.gz").write_bytes(
        gzip.compress(records(["gpu-node-01,4", "gpu-node-01,5"]), mtime=0))
    (root / "egress" / "capture.zst").write_bytes(
        zstandard.ZstdCompressor().compress(records(["egress,6"])))
    return root


def test_ingest_registers_every_file_with_its_sha256(tmp_path, evidence_dir, records_parser):
    with Case(tmp_path / "case.duckdb") as case:
        summary = case.ingest([str(evidence_dir)])
        assert summary.new_evidence == 5
        rows = case.sql("SELECT path, sha256, size, status, format, compression, n_records FROM evidence "
                        "ORDER BY path").to_dict(orient="records")
    by_name = {os.path.basename(r["path"]): r for r in rows}
    for name, row in by_name.items():
        data = Path(row["path"]).read_bytes()
        assert row["sha256"] == sha256(data), name
        assert row["size"] == len(data)
    # Rotated and compressed files are recognised by their bytes, not their names.
    assert by_name["records.log.2.gz"]["compression"] == "gzip"
    assert by_name["records.log.2.gz"]["n_records"] == 2
    assert by_name["capture.zst"]["compression"] == "zstd"
    assert by_name["records.log.1"]["format"] == "test-records"
    assert by_name["inventory.yaml"]["format"] == "inventory"


def test_ingesting_again_adds_no_rows_anywhere(tmp_path, evidence_dir, records_parser):
    with Case(tmp_path / "case.duckdb") as case:
        case.ingest([str(evidence_dir)])
        before = table_counts(case)
        runs_before = case.sql("SELECT count(*) AS n FROM runs")["n"][0]
        again = case.ingest([str(evidence_dir)])
        assert again.new_evidence == 0
        assert again.count("duplicate") == 5
        assert table_counts(case) == before
        assert case.sql("SELECT count(*) AS n FROM runs")["n"][0] == runs_before


def test_inventory_hints_reach_the_other_files(tmp_path, evidence_dir, records_parser):
    with Case(tmp_path / "case.duckdb") as case:
        case.ingest([str(evidence_dir)])
        hints = case.sql("SELECT path, host_hint, tz_hint, year_hint FROM evidence").set_index("path")
        node01 = hints.loc[str(evidence_dir / "nodes" / "gpu-node-01" / "records.log")]
        assert (node01.host_hint, node01.tz_hint, node01.year_hint) == ("gpu-node-01", "Asia/Shanghai", 2026)
        egress = hints.loc[str(evidence_dir / "egress" / "capture.zst")]
        assert (egress.host_hint, egress.tz_hint) == ("gpu-node-03", "UTC")  # the rule, then that host's zone
        gpu = case.sql("SELECT host, job, json_extract_string(attributes, '$.pci_bus_id') AS bus "
                       "FROM entities WHERE kind = 'gpu_uuid'").to_dict(orient="records")
        assert gpu == [{"host": "gpu-node-01", "job": "rl-run-0217", "bus": "00000000:18:00.0"}]
        assert case.sql("SELECT ip_is_internal('10.20.1.13') AS a, ip_is_internal('10.30.0.1') AS b"
                        ).to_dict(orient="records") == [{"a": True, "b": False}]


def test_cli_hints_override_the_inventory(tmp_path, evidence_dir, records_parser):
    with Case(tmp_path / "case.duckdb") as case:
        case.ingest([str(evidence_dir)], timezone="Europe/Berlin", year=2025)
        zones = set(case.sql("SELECT DISTINCT tz_hint FROM evidence WHERE format = 'test-records'")["tz_hint"])
        assert zones == {"Europe/Berlin"}


def test_bad_input_gives_warnings_or_unclaimed_and_everything_else_loads(tmp_path, records_parser):
    root = tmp_path / "bad"
    root.mkdir()
    good = records([f"host-a,{i}" for i in range(200)])
    truncated = gzip.compress(good, mtime=0)
    (root / "cut.log.gz").write_bytes(truncated[: len(truncated) * 2 // 3])
    (root / "blob.bin").write_bytes(bytes(range(256)) * 64)
    (root / "garbage.log").write_bytes(records(["host-b,1", "\x1b[2J garbage \x00 line", "host-b,2", "???"]))
    (root / "ok.log").write_bytes(records(["host-c,7"]))
    with Case(tmp_path / "case.duckdb") as case:
        summary = case.ingest([str(root)])
        assert [o.display_path for o in summary.unclaimed] == [str(root / "blob.bin")]
        status = dict(case.sql("SELECT path, status FROM evidence").values.tolist())
        assert status[str(root / "blob.bin")] == "unclaimed"
        assert status[str(root / "cut.log.gz")] == "parsed"
        warnings = case.warnings()
        cut = warnings[warnings.path.str.endswith("cut.log.gz")]
        assert cut.reason.str.contains("truncated gzip stream").any()
        garbage = warnings[warnings.path.str.endswith("garbage.log")]
        assert sorted(garbage.locator) == ["line:3", "line:5"]
        assert garbage.excerpt.str.contains("garbage").any()
        values = case.sql("SELECT host, count(*) AS n FROM entities WHERE kind = 'test_record' GROUP BY host"
                          ).set_index("host")["n"].to_dict()
        assert values["host-b"] == 2 and values["host-c"] == 1
        # Everything before the break of the truncated gzip still loaded.
        assert 0 < values["host-a"] < 200


def test_zip_members_are_evidence_of_their_own(tmp_path, records_parser):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("logs/a.log", records(["zip-host,1"]))
        archive.writestr("../../escape.log", records(["zip-host,2"]))  # a hostile name is never a path
        archive.writestr("logs/notes.txt", b"just text")
    path = tmp_path / "bundle.zip"
    path.write_bytes(buffer.getvalue())
    with Case(tmp_path / "case.duckdb") as case:
        case.ingest([str(path)])
        rows = case.sql("SELECT evidence_id, parent_id, member, status FROM evidence ORDER BY evidence_id")
        assert rows.status.tolist() == ["archive", "parsed", "parsed", "unclaimed"]
        assert set(rows.parent_id.dropna()) == {rows.evidence_id[0]}
        assert case.sql("SELECT count(*) AS n FROM entities WHERE host = 'zip-host'")["n"][0] == 2
    assert not (tmp_path.parent / "escape.log").exists()


def test_a_failing_parser_marks_the_file_failed_and_the_run_goes_on(tmp_path, records_parser):
    from dataclasses import replace

    import records_parser as module
    from forensics.registry import register, unregister

    original = module.PARSER.parse

    def explode(ctx):
        if ctx.path.endswith("bad.log"):
            raise RuntimeError("boom")
        original(ctx)

    unregister("test-records")
    register(replace(module.PARSER, parse=explode))
    (tmp_path / "bad.log").write_bytes(records(["x,1"]))
    (tmp_path / "good.log").write_bytes(records(["y,1"]))
    with Case(tmp_path / "case.duckdb") as case:
        summary = case.ingest([str(tmp_path / "bad.log"), str(tmp_path / "good.log")])
        assert [o.status for o in summary.outcomes] == ["failed", "parsed"]
        warning = case.warnings()
        assert warning.reason.str.contains("parser test-records failed: RuntimeError: boom").any()
        assert case.sql("SELECT count(*) AS n FROM entities WHERE host = 'x'")["n"][0] == 0
        assert case.sql("SELECT count(*) AS n FROM entities WHERE host = 'y'")["n"][0] == 1


def test_format_option_forces_a_parser(tmp_path, records_parser):
    path = tmp_path / "plain.txt"
    path.write_bytes(b"host-z,1\nhost-z,2\n")
    with Case(tmp_path / "case.duckdb") as case:
        first = case.ingest([str(path)])
        assert first.outcomes[0].status == "unclaimed"
        forced = case.ingest([str(path)], format="test-records")
        assert forced.outcomes[0].status == "parsed"
        rows = case.sql("SELECT evidence_id, status FROM evidence").values.tolist()
        assert rows == [[1, "parsed"]]  # the unclaimed row was replaced, not duplicated


KILL_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import records_parser
records_parser.install()
from forensics import Case
with Case({case!r}) as case:
    case.ingest([{evidence!r}])
"""


def _dump(case_path: Path) -> dict[str, list]:
    with Case(case_path, read_only=True) as case:
        out = {}
        for table in case.tables():
            if table in ("runs", "case_meta"):
                continue
            frame = case.sql(f'SELECT * FROM "{table}"')
            frame = frame.drop(columns=[c for c in ("ingested_at", "run_id") if c in frame.columns])
            out[table] = sorted(map(repr, frame.astype(str).values.tolist()))
        return out


def test_killing_an_ingest_midway_then_rerunning_gives_the_same_case(tmp_path, evidence_dir):
    tests_dir = str(Path(__file__).resolve().parent)

    def run(case_path: Path, kill_after: int | None) -> int:
        env = dict(os.environ)
        if kill_after:
            env["FORENSICS_TEST_KILL_BEFORE_COMMIT"] = str(kill_after)
        else:
            env.pop("FORENSICS_TEST_KILL_BEFORE_COMMIT", None)
        script = KILL_SCRIPT.format(tests=tests_dir, case=str(case_path), evidence=str(evidence_dir))
        return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True).returncode

    clean = tmp_path / "clean.duckdb"
    assert run(clean, None) == 0
    crashed = tmp_path / "crashed.duckdb"
    assert run(crashed, 3) == -9  # SIGKILL while the third file's transaction is open
    with Case(crashed, read_only=True) as case:
        assert case.sql("SELECT count(*) AS n FROM evidence")["n"][0] == 2
        assert case.sql("SELECT status FROM runs")["status"].tolist() == ["running"]
    assert run(crashed, None) == 0
    assert _dump(crashed) == _dump(clean)


def test_evidence_files_are_not_modified(tmp_path, evidence_dir, records_parser):
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in evidence_dir.rglob("*") if p.is_file()}
    for p in before:
        p.chmod(0o444)
    with Case(tmp_path / "case.duckdb") as case:
        case.ingest([str(evidence_dir)])
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in evidence_dir.rglob("*") if p.is_file()}
    assert after == before


def test_missing_evidence_path_is_a_clear_error(tmp_path):
    from forensics.errors import EvidenceError

    with Case(tmp_path / "case.duckdb") as case, pytest.raises(EvidenceError, match="does not exist"):
        case.ingest([str(tmp_path / "nope")])


def test_entities_from_rows_with_different_keys_keep_every_key(tmp_path, records_parser):
    from forensics.context import Hints, ParseContext

    with Case(tmp_path / "case.duckdb") as case:
        ctx = ParseContext(case.con, 1, "x", tmp_path, "test", Hints())
        ctx.add_entities([{"kind": "ip", "value": "10.0.0.1"},
                          {"kind": "ip", "value": "10.0.0.2", "host": "n2", "job": "j"}])
        rows = case.con.execute("SELECT value, host, job FROM entities ORDER BY value").fetchall()
        assert rows == [("10.0.0.1", None, None), ("10.0.0.2", "n2", "j")]
