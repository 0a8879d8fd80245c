"""Broken captures: warnings with frame locators, and everything readable still loads.

Each capture here is built in the test: a small session (HTTP, a stratum login, UDP datagrams)
that is then cut short, given a link type nobody knows, corrupted in the middle, or filled with
bytes that are not UTF-8. Without tshark the file fails with a warning that names the fix.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest

from forensics import Case
from forensics.pcap import tshark as tshark_module
from pcap_synth import Capture, TcpConversation, jline

BASE = 1771294000.0

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def session() -> Capture:
    """An HTTP request with non-UTF-8 bytes, a stratum login with a non-UTF-8 worker name and a
    message cut off mid-way, then ten UDP datagrams (frames 10-19)."""
    cap = Capture()
    web = TcpConversation(cap, ("10.20.1.13", 40000), ("192.0.2.80", 80))
    t = web.handshake(BASE)
    web.send(t + 0.01, True, b"GET /dl/\xff\xfe.tgz HTTP/1.1\r\nHost: dl.example.net\r\n"
                             b"User-Agent: curl/8.5.0 \xc3\x28\x1b[31m\r\n\r\n")
    web.send(t + 0.05, False, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    pool = TcpConversation(cap, ("10.20.1.13", 40001), ("198.51.100.77", 3333))
    t = pool.handshake(BASE + 1)
    login = jline({"id": 1, "method": "login", "params": {"login": "4" + "A" * 94, "pass": "x"}})
    login = login.replace(b'"pass":"x"', b'"pass":"\xff\xfeweird"')
    pool.send(t + 0.01, True, login + b'{"id":2,"method":"submit","params":{"job_id":"j1","no')
    for i in range(10):
        cap.udp(BASE + 10 + i, "10.20.1.13", 5000 + i, "10.20.0.2", 9999, b"datagram %d" % i)
    return cap


def ingest(tmp_path: Path, path: Path) -> Case:
    case = Case(tmp_path / "case.duckdb")
    case.ingest([str(path)])
    return case


def warnings(case: Case) -> list[tuple[str, str]]:
    return [(w.locator, w.reason) for w in case.warnings().itertuples()]


def test_capture_cut_mid_packet_loads_every_whole_packet(tmp_path):
    data = session().write(tmp_path / "full.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-7])  # the last datagram loses its tail
    case = ingest(tmp_path, cut)
    assert case.sql("SELECT status FROM evidence").status[0] == "parsed"
    udp = case.sql("SELECT count(*) AS n FROM flows WHERE proto = 'udp'").n[0]
    assert udp == 9
    assert ("frame:19", "tshark: The capture appears to have been cut short in the middle of a packet.") in warnings(case)


def test_unknown_link_type_is_a_warning_not_a_failure(tmp_path):
    cap = session()
    cap.linktype = 65000
    case = ingest(tmp_path, cap.write(tmp_path / "odd.pcap"))
    row = case.sql("SELECT status, n_records FROM evidence").iloc[0]
    assert (row.status, row.n_records) == ("parsed", 0)
    [(locator, reason)] = warnings(case)
    assert locator == "frame:1" and "network type 65000 unknown or unsupported" in reason


def test_frames_of_a_link_type_tshark_cannot_decode_are_counted_with_their_frames(tmp_path):
    cap = session()
    cap.linktype = 147  # DLT_USER0: no dissector configured
    case = ingest(tmp_path, cap.write(tmp_path / "user0.pcap"))
    found = case.warnings()
    assert len(found) == 19 and set(found.reason) == {"link layer tshark cannot decode; frame skipped"}
    assert found.locator.tolist()[:2] == ["frame:1", "frame:10"]  # sorted as text


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_corrupt_record_in_the_middle_is_skipped_and_reading_resumes(tmp_path, fmt):
    cap = session()
    path = cap.write(tmp_path / "c.pcap") if fmt == "pcap" else cap.write_pcapng(tmp_path / "c.pcapng")
    data = bytearray(path.read_bytes())
    # damage the length field of the 12th record (a UDP datagram)
    pos, index = (24, 0) if fmt == "pcap" else (0, 0)
    while True:
        if fmt == "pcap":
            length = 16 + struct.unpack_from("<I", data, pos + 8)[0]
            if index == 11:
                struct.pack_into("<I", data, pos + 8, 0x00FFFFF0)
                break
        else:
            btype, length = struct.unpack_from("<II", data, pos)
            if btype == 6 and index == 11 + 2:
                struct.pack_into("<I", data, pos + 4, 0x00FFFFF0)
                break
        pos += length
        index += 1
    path.write_bytes(bytes(data))
    case = ingest(tmp_path, path)
    found = warnings(case)
    # tshark says "damaged or corrupt" (pcap) or "cut short" (pcapng: the block seems to run past the end)
    assert any(loc == "frame:12" and reason.startswith("tshark: The capture appears to") for loc, reason in found)
    resumed = [(loc, reason) for loc, reason in found if reason.startswith("damaged capture:")]
    assert len(resumed) == 1 and resumed[0][0] == "frame:12"
    # ten datagrams were sent; the damaged one is lost, the eight after it are read again
    ports = set(case.sql("SELECT orig_p FROM flows WHERE proto = 'udp'").orig_p)
    assert ports == {5000, 5001, 5003, 5004, 5005, 5006, 5007, 5008, 5009}
    assert case.sql("SELECT count(*) AS n FROM jsonrpc_msgs").n[0] == 1


def test_bytes_that_are_not_utf8_load_as_replacement_characters(tmp_path):
    case = ingest(tmp_path, session().write(tmp_path / "s.pcap"))
    http = case.sql("SELECT uri, user_agent, status_code FROM http").iloc[0]
    assert http.uri == "/dl/\ufffd\ufffd.tgz" and http.user_agent.startswith("curl/8.5.0 \ufffd(")
    assert http.status_code == 404
    login = case.sql("SELECT login, params::VARCHAR AS params FROM jsonrpc_msgs").iloc[0]
    assert login.login == "4" + "A" * 94
    assert "\ufffd\ufffdweird" in login.params


def test_json_that_breaks_off_is_reported_at_its_frame(tmp_path):
    case = ingest(tmp_path, session().write(tmp_path / "s.pcap"))
    broken = [(loc, r) for loc, r in warnings(case) if "breaks off" in r]
    assert broken == [("frame:9", "JSON message breaks off (capture or stream ends mid-message)")]
    excerpt = case.warnings().query("reason.str.contains('breaks off')").excerpt.iloc[0]
    assert excerpt.startswith('{"id":2,"method":"submit"')


def test_gzip_compressed_capture_reads_like_the_plain_one(tmp_path):
    plain = session().write(tmp_path / "s.pcap")
    packed = tmp_path / "s.pcap.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes(), mtime=0))
    case = ingest(tmp_path, packed)
    assert case.sql("SELECT compression, format FROM evidence").values.tolist() == [["gzip", "pcap"]]
    assert case.sql("SELECT count(*) AS n FROM flows").n[0] == 12


def test_without_tshark_the_capture_fails_with_the_fix_named(tmp_path, monkeypatch):
    monkeypatch.setenv("FORENSICS_TSHARK", str(tmp_path / "no-such-tshark"))
    tshark_module.reset_tools_cache()
    try:
        case = ingest(tmp_path, session().write(tmp_path / "s.pcap"))
        row = case.sql("SELECT status FROM evidence").iloc[0]
        assert row.status == "failed"
        [(_, reason)] = warnings(case)
        assert "tshark not found" in reason and "install tshark" in reason
    finally:
        monkeypatch.delenv("FORENSICS_TSHARK")
        tshark_module.reset_tools_cache()


def test_a_memory_limit_option_duckdb_refuses_is_a_warning_and_the_capture_loads(tmp_path):
    path = session().write(tmp_path / "s.pcap")
    with Case(tmp_path / "case.duckdb") as case:
        before = case.sql("SELECT current_setting('memory_limit') AS m").m[0]
        case.ingest([str(path)], options={"pcap_memory_limit": "lots"})
        assert case.sql("SELECT status FROM evidence").status[0] == "parsed"
        assert case.sql("SELECT count(*) AS n FROM flows WHERE proto = 'udp'").n[0] == 10
        reasons = set(case.warnings().reason)
        assert "option pcap_memory_limit='lots' is not a DuckDB memory size; DuckDB's limit kept" in reasons
        # the case's own limit is the same after the capture as before it
        assert case.sql("SELECT current_setting('memory_limit') AS m").m[0] == before
