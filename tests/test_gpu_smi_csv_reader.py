"""nvidia-smi query CSV read by DuckDB's CSV reader: a responder must still be able to go from
any row to its line in the file, whatever sits between the rows (a short or long row, an empty
or blank line, a comment, the header written again after a collector restart), in LF or CRLF
text, UTF-8 or not. The same file read by the line splitter (the path for capture sections and
files the reader cannot take) gives the same rows and warnings.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from forensics import Case
from forensics.gpu import smi
from forensics.gpu.textlines import scan_text

DATA = Path(__file__).resolve().parent / "data" / "gpu"
SAMPLE = DATA / "query_gpu_bad_rows.csv"
UUID6 = "GPU-3c6f0b2e-6d1a-4b7e-9c1a-000000000306"
UUID7 = "GPU-3c6f0b2e-6d1a-4b7e-9c1a-000000000307"

# (locator, GPU index, utilisation, memory, power) of every good row of the sample.
EXPECTED_ROWS = [
    ("line:3", 6, 3.0, 1021.0, 71.2),
    ("line:4", 7, 2.0, 1021.0, 70.95),
    ("line:7", 7, 100.0, 74470.0, None),  # [N/A]
    ("line:11", 7, 100.0, 74470.0, 688.02),
    ("line:13", 6, 100.0, 74458.0, None),  # [Not Supported]
]
EXPECTED_WARNINGS = [
    ("line:10", "nvidia-smi CSV row has 9 fields, the header has 8"),
    ("line:5", "nvidia-smi CSV row has 5 fields, the header has 8"),
]


def ingest(tmp_path: Path, path: Path, **hints) -> Case:
    case = Case(tmp_path / "case.duckdb")
    summary = case.ingest([str(path)], **hints)
    assert summary.outcomes[0].status == "parsed", summary.outcomes[0].message
    assert summary.outcomes[0].parser == "nvidia_smi_csv"
    return case


def good_rows(case: Case) -> list[tuple]:
    return [tuple(r) for r in case.con.execute(
        """SELECT locator, gpu_index, util, fb_used_mib, power_w FROM gpu_samples
           ORDER BY CAST(substr(locator, 6) AS INTEGER)""").fetchall()]


def warnings(case: Case) -> list[tuple]:
    return [tuple(r) for r in case.con.execute(
        "SELECT locator, reason FROM parse_warnings ORDER BY locator, reason").fetchall()]


def line_of(path: Path, locator: str) -> bytes:
    return path.read_bytes().splitlines()[int(locator.split(":")[1]) - 1]


def test_rows_after_bad_rows_blank_lines_comments_and_a_repeated_header_keep_their_line(tmp_path):
    with ingest(tmp_path, SAMPLE, timezone="Asia/Shanghai", host="gpu-node-03") as case:
        assert good_rows(case) == EXPECTED_ROWS
        assert warnings(case) == EXPECTED_WARNINGS
        # Every locator points at the bytes the row came from.
        for locator, ts_raw, uuid in case.con.execute(
                "SELECT locator, ts_raw, gpu_uuid FROM gpu_samples").fetchall():
            line = line_of(SAMPLE, locator).decode()
            assert line.startswith(ts_raw) and uuid in line
        ts, ts_raw, host = case.con.execute(
            "SELECT ts, ts_raw, host FROM gpu_samples WHERE locator = 'line:13'").fetchone()
        assert ts == datetime(2026, 2, 17, 2, 31, 45, 100000, tzinfo=timezone.utc)
        assert (ts_raw, host) == ("2026/02/17 10:31:45.100", "gpu-node-03")
        # The last cell is kept without the unit-less column's trailing spaces.
        assert case.con.execute("SELECT DISTINCT extra->>'pstate' FROM gpu_samples").fetchall() == [("P0",)]
        entities = case.con.execute("""SELECT value, json_extract_string(attributes, '$.pci_bus_id'), locator
                                       FROM entities WHERE kind = 'gpu_uuid' ORDER BY value""").fetchall()
        assert entities == [(UUID6, "00000000:BA:00.0", "line:13"), (UUID7, "00000000:DB:00.0", "line:11")]


def test_a_bad_row_on_the_first_data_line_moves_every_row_after_it(tmp_path):
    text = SAMPLE.read_text().splitlines()
    text.insert(2, "2026/02/17 10:30:45.100, 6, broken")
    path = tmp_path / "first_row_bad.csv"
    path.write_text("\n".join(text) + "\n")
    with ingest(tmp_path, path, timezone="UTC") as case:
        moved = [(f"line:{int(loc.split(':')[1]) + 1}", *rest) for loc, *rest in EXPECTED_ROWS]
        assert good_rows(case) == [tuple(r) for r in moved]
        assert ("line:3", "nvidia-smi CSV row has 3 fields, the header has 8") in warnings(case)


def test_crlf_text_gives_the_same_rows_and_no_carriage_returns_in_values(tmp_path):
    path = tmp_path / "crlf.csv"
    path.write_bytes(SAMPLE.read_bytes().replace(b"\n", b"\r\n"))
    assert scan_text(path).line_end == "crlf"
    with ingest(tmp_path, path, timezone="UTC") as case:
        assert good_rows(case) == EXPECTED_ROWS
        assert warnings(case) == EXPECTED_WARNINGS
        assert case.con.execute("SELECT count(*) FROM gpu_samples WHERE contains(extra::VARCHAR, chr(13)) "
                                "OR contains(ts_raw, chr(13))").fetchone() == (0,)


def test_latin1_file_keeps_its_bytes_and_rows(tmp_path):
    data = SAMPLE.read_bytes().replace(b"# collector restarted", b"# collector restarted \xe9t\xe9")
    data = data.replace(b"688.02 W, P0", b"688.02 W, P\xe9")
    path = tmp_path / "latin1.csv"
    path.write_bytes(data)
    assert not scan_text(path).utf8
    with ingest(tmp_path, path, timezone="UTC") as case:
        assert good_rows(case) == EXPECTED_ROWS
        assert [w for w in warnings(case) if w[0]] == EXPECTED_WARNINGS
        assert (None, "file is not valid UTF-8: read as Latin-1 so that no byte is lost") in warnings(case)
        assert case.con.execute("SELECT extra->>'pstate' FROM gpu_samples WHERE locator = 'line:11'").fetchone() \
            == ("P\u00e9",)


def test_many_bad_rows_are_read_by_the_line_splitter_with_the_same_answer(tmp_path, monkeypatch):
    # Past the rejected-row limit the reader cannot number the good rows: the lines are split instead.
    monkeypatch.setattr(smi, "REJECTS_LIMIT", 2)
    with ingest(tmp_path, SAMPLE, timezone="UTC") as case:
        assert good_rows(case) == EXPECTED_ROWS
        assert warnings(case) == EXPECTED_WARNINGS
        assert case.con.execute("SELECT records_by_table->>'gpu_samples' FROM evidence").fetchone() == ("5",)


def test_both_readers_agree_on_the_sample(tmp_path, monkeypatch):
    def load(folder: Path) -> tuple[list, list]:
        folder.mkdir()
        with ingest(folder, SAMPLE, timezone="Asia/Shanghai") as case:
            return (case.con.execute("SELECT * EXCLUDE (evidence_id) FROM gpu_samples ORDER BY locator").fetchall(),
                    case.con.execute("SELECT kind, value, attributes, locator FROM entities ORDER BY ALL").fetchall())

    fast = load(tmp_path / "reader")
    import forensics.parsers.nvidia_smi_csv as parser

    # As if the file had stray carriage returns: the parser hands it to the line splitter.
    monkeypatch.setattr(parser, "scan_text", lambda path: type(scan_text(path))(line_end="mixed"))
    split = load(tmp_path / "splitter")
    assert len(fast[0]) == 5 and len(fast[1]) == 4
    assert split == fast


def test_scan_finds_empty_lines_line_ends_and_utf8_across_block_boundaries(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"\nab\n\n\xc3\xa9\n\nx\n")
    for chunk in (1, 2, 3, 7, 1 << 20):
        scan = scan_text(path, chunk)
        assert (scan.blank_lines, scan.line_end, scan.utf8) == ([1, 3, 5], "lf", True)
    path.write_bytes(b"a\r\n\r\nb\r\n")
    assert [(s.blank_lines, s.line_end) for s in (scan_text(path, c) for c in (1, 2, 5))] == [([2], "crlf")] * 3
    path.write_bytes(b"a\xc3")  # a character cut at the end of the file
    assert [scan_text(path, c).utf8 for c in (1, 2, 8)] == [False] * 3
    path.write_bytes(b"a\rb\n")
    assert scan_text(path).line_end == "mixed"


@pytest.mark.parametrize("cell", ["12", "12 %", "74458 MiB", "696.51 W", " 12", "12  MiB", "[N/A]", "N/A", "",
                                  "[Not Supported]", "1e3 W", "-", "nan", "\u00e9 3", "3 \u00e9"])
def test_smi_number_takes_the_text_before_the_first_space(tmp_path, cell):
    with Case(tmp_path / "case.duckdb") as case:
        got, want = case.con.execute(
            "SELECT smi_number(?), TRY_CAST(split_part(?, ' ', 1) AS DOUBLE)", [cell, cell]).fetchone()
        assert got == want or (got != got and want != want)  # NaN is NaN


def write_node_files(folder: Path, nodes: int) -> None:
    folder.mkdir()
    header = "timestamp, index, uuid, pci.bus_id, utilization.gpu [%], memory.used [MiB]\n"
    for node in range(nodes):
        rows = "".join(f"2026/02/17 10:31:{s:02d}.000, {g}, GPU-3c6f0b2e-6d1a-4b7e-9c1a-{node:06d}{g:06d}, "
                       f"00000000:{0x18 + g:02X}:00.0, {node + s} %, 1000 MiB\n" for s in range(3) for g in range(2))
        (folder / f"gpu-node-{node:02d}.csv").write_text(header + rows)


def test_small_files_share_a_transaction_and_stay_separate_evidence(tmp_path):
    write_node_files(tmp_path / "nodes", 5)
    with Case(tmp_path / "case.duckdb") as case:
        summary = case.ingest([str(tmp_path / "nodes")], timezone="UTC")
        assert [o.status for o in summary.outcomes] == ["parsed"] * 5
        per_file = case.con.execute("""
            SELECT e.evidence_id, e.path, e.n_records, count(s.locator), min(s.locator), max(s.util)
            FROM evidence e JOIN gpu_samples s USING (evidence_id) GROUP BY ALL ORDER BY 1""").fetchall()
        assert [(eid, Path(path).name, n, rows, first, util) for eid, path, n, rows, first, util in per_file] == [
            (node + 1, f"gpu-node-{node:02d}.csv", 10, 6, "line:2", float(node + 2)) for node in range(5)]
        again = case.ingest([str(tmp_path / "nodes")], timezone="UTC")
        assert again.count("duplicate") == 5


def test_a_failing_file_in_a_shared_transaction_fails_alone(tmp_path, monkeypatch):
    import forensics.parsers.nvidia_smi_csv as parser
    from forensics.registry import get_parser

    write_node_files(tmp_path / "nodes", 4)
    real = parser.load_query_csv

    def flaky(ctx, section, *args, **kwargs):
        if ctx.path.endswith("gpu-node-02.csv"):
            raise RuntimeError("boom")
        return real(ctx, section, *args, **kwargs)

    monkeypatch.setattr(parser, "load_query_csv", flaky)
    assert get_parser("nvidia_smi_csv").shared_commit_bytes > 0
    with Case(tmp_path / "case.duckdb") as case:
        summary = case.ingest([str(tmp_path / "nodes")], timezone="UTC")
        assert [(Path(o.path).name, o.status) for o in summary.outcomes] == [
            ("gpu-node-00.csv", "parsed"), ("gpu-node-01.csv", "parsed"), ("gpu-node-02.csv", "failed"),
            ("gpu-node-03.csv", "parsed")]
        assert case.con.execute("""SELECT e.status, count(s.locator) FROM evidence e LEFT JOIN gpu_samples s
                                   USING (evidence_id) GROUP BY ALL ORDER BY ALL""").fetchall() == [
            ("failed", 0), ("parsed", 18)]
        assert case.con.execute("SELECT count(*) FROM parse_warnings WHERE reason LIKE '%RuntimeError: boom%'"
                                ).fetchone() == (1,)


def test_commit_groups_take_small_files_of_one_parser_up_to_its_budget():
    from forensics.ingest import _commit_groups, _Planned
    from forensics.registry import get_parser

    csv, xml = get_parser("nvidia_smi_csv"), get_parser("nvidia_smi_xml")
    budget = csv.shared_commit_bytes

    def item(name, size, parser=csv, compression=None):
        return _Planned(name, name, size, compression, parser, 1.0, b"")

    planned = [item("a", budget // 3), item("b", budget // 3), item("c", budget // 3), item("d", budget // 3),
               item("big", budget), item("e", 10), item("x", 10, xml), item("f", 10), item("z", 10, compression="zip")]
    assert [[p.path for p in group] for group in _commit_groups(planned)] == [
        ["a", "b", "c"], ["d"], ["big"], ["e"], ["x"], ["f"], ["z"]]


def test_a_lone_carriage_return_loads_the_file_with_lines_numbered_by_newlines(tmp_path):
    """A stray CR inside a row (and CRLF on some rows only) once failed the whole file."""
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        b"timestamp, index, uuid, utilization.gpu [%], memory.used [MiB]\n"
        b"2026/02/17 10:00:00.000, 0, GPU-cf83589d-353d-61f7-6163-0295f299dcfe, 50 %, 100 MiB\r\n"
        b"2026/02/17 10:00:01.000, 0, GPU-cf83589d-353d-61f7-6163-0295f299dcfe, 5\r0 %, 101 MiB\n"
        b"2026/02/17 10:00:02.000, 0, GPU-cf83589d-353d-61f7-6163-0295f299dcfe, 60 %, 102 MiB\n")
    assert scan_text(path).line_end == "mixed"
    with ingest(tmp_path, path, timezone="UTC") as case:
        rows = case.con.execute("SELECT locator, util, fb_used_mib FROM gpu_samples ORDER BY locator").fetchall()
        assert rows == [("line:2", 50.0, 100.0), ("line:3", None, 101.0), ("line:4", 60.0, 102.0)]
        reasons = [reason for _, reason in warnings(case)]
        assert any(reason.startswith("mixed line ends") for reason in reasons)


def test_a_large_file_is_staged_and_its_rows_keep_their_lines(tmp_path, monkeypatch):
    # Files from STAGE_MIN_BYTES on go through a staging table (numbered by row id, so the rest
    # runs on all cores): the same rows, locators and warnings as the one-statement read.
    monkeypatch.setattr(smi, "STAGE_MIN_BYTES", 0)
    with ingest(tmp_path, SAMPLE, timezone="Asia/Shanghai", host="gpu-node-03") as case:
        assert good_rows(case) == EXPECTED_ROWS
        assert warnings(case) == EXPECTED_WARNINGS
        assert case.con.execute("SELECT count(*) FROM duckdb_tables() WHERE starts_with(table_name, '_smi_')"
                                ).fetchone() == (0,)


def test_staged_and_unstaged_reads_agree_across_row_groups(tmp_path, monkeypatch):
    # 250,000 rows (three of DuckDB's 122,880-row groups, written by several threads) with a
    # bad row and an empty line near the end: every row is on its own line number.
    header = SAMPLE.read_text().splitlines()[1]
    lines = [header]
    for i in range(250_000):
        second, micro = divmod(i, 8)
        lines.append(f"2026/02/17 {10 + second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}.{micro:03d}, "
                     f"{i % 8}, GPU-3c6f0b2e-6d1a-4b7e-9c1a-{i % 8:012d}, 00000000:{i % 8 + 16:02X}:00.0, "
                     f"{i % 101} %, {i % 90000} MiB, {i % 700}.25 W, P0")
    lines.insert(249_000, "2026/02/17 12:00:00.000, 3, broken")
    lines.insert(249_500, "")
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")

    def load(folder: Path) -> tuple[list, list]:
        folder.mkdir()
        with ingest(folder, path, timezone="UTC") as case:
            return (case.con.execute("SELECT locator, ts_raw, gpu_index, util, power_w FROM gpu_samples "
                                     "ORDER BY CAST(substr(locator, 6) AS INTEGER)").fetchall(),
                    warnings(case))

    plain = load(tmp_path / "plain")
    monkeypatch.setattr(smi, "STAGE_MIN_BYTES", 0)
    staged = load(tmp_path / "staged")
    assert staged == plain
    rows, warned = staged
    assert len(rows) == 250_000 and ("line:249001", "nvidia-smi CSV row has 3 fields, the header has 8") in warned
    assert rows[-1][:3] == ("line:250003", "2026/02/17 18:40:49.007", 7)
    text = path.read_text().splitlines()
    for locator, ts_raw, *_ in rows[::997] + rows[-3:]:
        assert text[int(locator[5:]) - 1].startswith(ts_raw)
