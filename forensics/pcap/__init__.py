"""Packet captures: tshark dissection, DuckDB staging, our own SSH and JSON-RPC readers."""

from .ingest import ingest_capture
from .tshark import TsharkMissing, find_tools

__all__ = ["ingest_capture", "TsharkMissing", "find_tools"]
