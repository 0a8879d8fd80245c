"""Evidence files: finding them, hashing them, and reading them whatever their wrapping.

Evidence is opened read-only and never written. Compressed files (gzip, zstd, bzip2, xz) and zip
archives are recognised by their magic bytes, never by their names, so rotated logs such as
``kern.log.1`` or ``kern.log.2.gz`` need no special case. A compressed file is decompressed into
a private temporary file before parsing; a stream that breaks off (a half-written gzip member, a
truncated zstd frame) keeps everything decompressed up to the break and reports the break as a
warning instead of losing the file.
"""

from __future__ import annotations

import bz2
import hashlib
import lzma
import os
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

from .errors import EvidenceError

CHUNK = 1 << 20
SNIFF_BYTES = 64 * 1024

MAGIC = {
    b"\x1f\x8b": "gzip",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"PK\x03\x04": "zip",
    b"PK\x05\x06": "zip",
}

# Limits that keep a hostile archive (zip bomb, endless stream) from filling the disk.
MAX_DECOMPRESSED_BYTES = int(os.environ.get("FORENSICS_MAX_DECOMPRESSED_BYTES", 64 << 30))
MAX_ZIP_RATIO = 2000


def detect_compression(head: bytes) -> str | None:
    """Name of the wrapping recognised from the first bytes, or None for plain files."""
    for magic, name in MAGIC.items():
        if head.startswith(magic):
            return name
    return None


def sha256_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while True:
            block = handle.read(CHUNK)
            if not block:
                break
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def iter_evidence_paths(paths: list[str]) -> Iterator[str]:
    """Regular files under ``paths`` (files as given, folders walked recursively, sorted).

    Paths are yielded as given (joined with the walked relative path) so the evidence registry
    records them the way the responder named them. Links are not followed into folders, hidden
    DuckDB case files and their write-ahead logs are skipped because they are not evidence.
    """
    for given in paths:
        if not os.path.exists(given):
            raise EvidenceError(f"evidence path does not exist: {given}")
        if os.path.isfile(given):
            yield given
            continue
        for root, dirs, files in os.walk(given):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                try:
                    mode = os.stat(full).st_mode
                except OSError:
                    continue
                if not stat.S_ISREG(mode):
                    continue
                if name.endswith((".duckdb", ".duckdb.wal")):
                    continue
                yield full


@dataclass
class Problem:
    """Something wrong with the wrapping of an evidence file (becomes a parse warning)."""

    locator: str
    reason: str
    excerpt: str | None = None


@dataclass
class Materialized:
    """A readable, decompressed copy (or the original file when it was plain)."""

    path: Path
    size: int
    temporary: bool
    problems: list[Problem] = field(default_factory=list)


def _decompress_gzip(src: BinaryIO, dst: BinaryIO, problems: list[Problem]) -> int:
    written = 0
    member = 1
    decomp = zlib.decompressobj(wbits=31)
    data = b""
    while True:
        if not data:
            data = src.read(CHUNK)
            if not data:
                break
        try:
            out = decomp.decompress(data)
        except zlib.error as exc:
            problems.append(Problem(f"decompressed:{written}", f"corrupt gzip member {member}: {exc}; "
                                    f"kept the {written} bytes decompressed before it"))
            return written
        dst.write(out)
        written += len(out)
        if written > MAX_DECOMPRESSED_BYTES:
            problems.append(Problem(f"decompressed:{written}", "decompressed size over the limit; rest not read"))
            return written
        if not decomp.eof:
            data = b""
            continue
        # End of one member: a concatenated member may follow, or zero padding.
        data = decomp.unused_data
        if not data:
            data = src.read(CHUNK)
            if not data:
                return written
        if not data.strip(b"\x00"):
            return written
        decomp = zlib.decompressobj(wbits=31)
        member += 1
    if not decomp.eof:
        tail = decomp.flush()
        dst.write(tail)
        written += len(tail)
        problems.append(Problem(f"decompressed:{written}", f"truncated gzip stream (member {member} breaks off); "
                                f"kept the {written} bytes decompressed before the break"))
    return written


def _decompress_stream(reader_factory, src: BinaryIO, dst: BinaryIO, kind: str,
                       problems: list[Problem]) -> int:
    written = 0
    try:
        reader = reader_factory(src)
        while True:
            block = reader.read(CHUNK)
            if not block:
                break
            dst.write(block)
            written += len(block)
            if written > MAX_DECOMPRESSED_BYTES:
                problems.append(Problem(f"decompressed:{written}", "decompressed size over the limit; rest not read"))
                break
    except (EOFError, OSError, lzma.LZMAError, ValueError) as exc:
        problems.append(
            Problem(f"decompressed:{written}", f"truncated or corrupt {kind} stream ({exc}); "
                    f"kept the {written} bytes decompressed before the break")
        )
    except Exception as exc:  # zstandard raises its own error type
        problems.append(
            Problem(f"decompressed:{written}", f"truncated or corrupt {kind} stream ({exc}); "
                    f"kept the {written} bytes decompressed before the break")
        )
    return written


def _zstd_reader(src: BinaryIO):
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(src, read_across_frames=True)


def materialize(path: str, compression: str | None, tmp_dir: str | None) -> Materialized:
    """Return a plain readable file for ``path``: the file itself, or a decompressed temporary copy."""
    if compression is None:
        return Materialized(Path(path), os.path.getsize(path), temporary=False)
    problems: list[Problem] = []
    fd, tmp_name = tempfile.mkstemp(prefix="forensics-", suffix=".bin", dir=tmp_dir)
    with os.fdopen(fd, "wb") as dst, open(path, "rb") as src:
        if compression == "gzip":
            size = _decompress_gzip(src, dst, problems)
        elif compression == "zstd":
            size = _decompress_stream(_zstd_reader, src, dst, "zstd", problems)
        elif compression == "bzip2":
            size = _decompress_stream(lambda s: bz2.BZ2File(s), src, dst, "bzip2", problems)
        elif compression == "xz":
            size = _decompress_stream(lambda s: lzma.LZMAFile(s), src, dst, "xz", problems)
        else:
            raise EvidenceError(f"cannot decompress {compression}: {path}")
    return Materialized(Path(tmp_name), size, temporary=True, problems=problems)


@dataclass
class ZipMember:
    name: str
    size: int
    compressed: int


def zip_members(path: str) -> list[ZipMember]:
    """Regular members of a zip archive (folders left out)."""
    with zipfile.ZipFile(path) as archive:
        return [ZipMember(i.filename, i.file_size, i.compress_size)
                for i in archive.infolist() if not i.is_dir()]


def extract_member(path: str, member: str, tmp_dir: str | None) -> Materialized:
    """Copy one zip member into a private temporary file, whatever its name says.

    The member name is never used as a path (no traversal), and the copy stops at the size limit
    and when the expansion ratio is that of a zip bomb.
    """
    problems: list[Problem] = []
    fd, tmp_name = tempfile.mkstemp(prefix="forensics-", suffix=".bin", dir=tmp_dir)
    written = 0
    with zipfile.ZipFile(path) as archive, os.fdopen(fd, "wb") as dst:
        info = archive.getinfo(member)
        limit = min(MAX_DECOMPRESSED_BYTES, max(info.compress_size, 1) * MAX_ZIP_RATIO + CHUNK)
        try:
            with archive.open(info) as src:
                while True:
                    block = src.read(CHUNK)
                    if not block:
                        break
                    dst.write(block)
                    written += len(block)
                    if written > limit:
                        problems.append(Problem(f"member:{member}", "member expands beyond the zip-bomb "
                                                f"limit (ratio {MAX_ZIP_RATIO}); rest not read"))
                        break
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error, NotImplementedError) as exc:
            problems.append(Problem(f"member:{member}", f"corrupt or truncated zip member ({exc}); "
                                    f"kept the {written} bytes read before the break"))
    return Materialized(Path(tmp_name), written, temporary=True, problems=problems)


def read_head(path: str | os.PathLike[str], size: int = SNIFF_BYTES) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def read_head_decompressed(path: str, compression: str | None, size: int = SNIFF_BYTES) -> bytes:
    """The first bytes of the content, decompressed when needed (errors give what was read)."""
    if compression is None:
        return read_head(path, size)
    out = b""
    try:
        with open(path, "rb") as src:
            if compression == "gzip":
                decomp = zlib.decompressobj(wbits=31)
                while len(out) < size:
                    block = src.read(CHUNK // 4)
                    if not block:
                        break
                    out += decomp.decompress(block, size - len(out))
                    while decomp.unconsumed_tail and len(out) < size:
                        out += decomp.decompress(decomp.unconsumed_tail, size - len(out))
                    if decomp.eof:
                        break
            elif compression == "zstd":
                out = _zstd_reader(src).read(size)
            elif compression == "bzip2":
                out = bz2.BZ2File(src).read(size)
            elif compression == "xz":
                out = lzma.LZMAFile(src).read(size)
    except Exception:  # a broken stream still gets sniffed on what came out
        pass
    return out[:size]


def remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
