"""Which parser claims each file of the sample case: every log by its own parser, and the case's
documents (README, ground truth, generator) by none, so they are listed as unclaimed, not parsed
into warnings."""

from __future__ import annotations

from pathlib import Path

import pytest

from forensics.evidence import detect_compression, read_head, read_head_decompressed
from forensics.registry import Sniff, choose_parser

SAMPLE = Path(__file__).resolve().parents[1] / "sample_logs"


def claimed_by(path: Path) -> str | None:
    compression = detect_compression(read_head(str(path), 16))
    head = read_head_decompressed(str(path), compression)
    parser, _score = choose_parser(Sniff(name=path.name, path=str(path), head=head, compression=compression))
    return parser.name if parser else None


@pytest.mark.parametrize("name", ["README.md", "ground_truth.json", "generate.py"])
def test_case_documents_are_claimed_by_no_parser(name):
    path = SAMPLE / name
    if not path.exists():
        pytest.skip(f"{path} is not present")
    assert claimed_by(path) is None


def test_every_sample_log_is_claimed_by_its_parser():
    expected = {
        "cloudfirewall/cloudfirewall-logstore_dump_0.json": "alibaba_cloudfw",
        "inventory.yaml": "inventory",
        "nodes/gpu-node-01/kern.log": "netfilter",
        "nodes/gpu-node-01/kern.log.2.gz": "netfilter",
        "nodes/gpu-node-03/audit.log": "auditd",
        "nodes/gpu-node-03/falco.jsonl": "falco",
        "nodes/gpu-node-03/nvidia-smi-compute-apps.csv": "nvidia_smi_csv",
        "pcap/gpu-node-03-egress.pcap": "pcap",
        "gpu/gpu-node-03/dcgm-exporter.prom.gz": "dcgm_exporter",
    }
    got = {rel: claimed_by(SAMPLE / rel) for rel in expected}
    assert got == expected
    for path in sorted((SAMPLE / "trajectories").rglob("*")):
        if path.is_file():
            assert claimed_by(path) is not None, path


def test_a_document_quoting_firewall_keys_is_not_a_firewall_log():
    head = (b"# Notes\n\nThe export has `rule_result`, `src_ip` and `dst_ip` columns and log_type "
            b"internet_log from cloudfirewall_access_log.\n")
    parser, _ = choose_parser(Sniff(name="notes.md", path="notes.md", head=head))
    assert parser is None or parser.name != "alibaba_cloudfw"


def test_a_cloud_firewall_csv_export_is_still_claimed():
    head = (b"__time__,log_type,src_ip,src_private_ip,src_port,dst_ip,dst_port,rule_result\n"
            b"1771294300,internet_log,47.1.2.3,10.244.3.33,40022,203.0.113.50,22,alert\n")
    parser, _ = choose_parser(Sniff(name="export.csv", path="export.csv", head=head))
    assert parser is not None and parser.name == "alibaba_cloudfw"
