"""Checks of an SQLite database's write-ahead log (``-wal``) against its index (``-shm``).

SQLite reads a damaged log silently: it stops at the first frame whose checksum fails, or
ignores a log whose header is bad, or the whole log when it is gone; the database then reads
as an older state (a killed run may look finished or not started). After a writer is killed
its ``-shm`` still records how many frames it committed (``mxFrame``) and their salts; a log
that holds fewer valid frames, a frame of the current log that fails its checksum, a bad
header or a deleted log are damage. Formats: https://www.sqlite.org/fileformat2.html#walformat
"""

from __future__ import annotations

import struct
import sys
import time
from functools import cache
from pathlib import Path

import numpy as np

_MAGIC = (0x377F0682, 0x377F0683)  # checksums little-endian, big-endian
_VERSION = 3007000
_MASK = 0xFFFFFFFF
_BIG = sys.byteorder == "big"  # the -shm is in the machine's byte order


def _checksum(data: bytes, big: bool, s0: int = 0, s1: int = 0) -> tuple[int, int]:
    words = struct.unpack(f"{'>' if big else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & _MASK
        s1 = (s1 + words[i + 1] + s0) & _MASK
    return s0, s1


@cache
def _weights(pairs: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The checksum over ``pairs`` word pairs is linear: s' = A^n s + sum_j A^(n-j) B x_j with
    A = [[1,1],[1,2]], B = [[1,0],[1,1]] (mod 2^32). Returns the (2n, 2) weights of the words
    and A^n, so that a frame's checksum is one product (uint64 wraps mod 2^64: exact mod 2^32)."""
    w = np.zeros((pairs, 2, 2), dtype=np.uint64)
    power = (1, 0, 0, 1)  # A^0, row-major
    for j in range(pairs - 1, -1, -1):  # pair j is followed by n-1-j pairs
        a, b, c, d = power
        w[j] = [[(a + b) & _MASK, b], [(c + d) & _MASK, d]]  # A^k B
        power = ((a + b) & _MASK, (a + 2 * b) & _MASK, (c + d) & _MASK, (c + 2 * d) & _MASK)
    return w.transpose(0, 2, 1).reshape(pairs * 2, 2), power


def _frame_sums(frames: bytes, size: int, big: bool, count: int) -> np.ndarray:
    """Each frame's own checksum contribution (first 8 header bytes and the page), (count, 2)."""
    raw = np.frombuffer(frames, dtype=">u4" if big else "<u4", count=count * size // 4)
    raw = raw.reshape(count, size // 4)
    words = np.concatenate([raw[:, :2], raw[:, 6:]], axis=1).astype(np.uint64)
    weights, _ = _weights(words.shape[1] // 2)
    return (words @ weights) & _MASK


def _index(shm: Path) -> tuple[int, bytes] | None:
    """(mxFrame, the log's salt bytes) from the -shm's header when both copies agree."""
    try:
        head = shm.read_bytes()[:96]
    except OSError:
        return None
    if len(head) < 96 or head[:48] != head[48:96]:
        return None
    version, _, _, init, _, _, mx, *_, c1, c2 = struct.unpack("=IIIBBHIIIIIIII", head[:48])
    if version != _VERSION or init != 1 or _checksum(head[:40], _BIG) != (c1, c2):
        return None
    return mx, head[32:40]  # copied byte for byte from the log's header


def _problem(path: Path) -> str | None:
    wal, shm = path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")
    index = _index(shm) if shm.exists() else None
    committed = index[0] if index else 0
    if not wal.exists():
        if committed:
            return (
                f"has lost its write-ahead log {wal.name}: {shm.name} records {committed} "
                "committed frames in it, but the file is gone"
            )
        return None
    data = wal.read_bytes()
    if not data:
        return (
            f"has lost its write-ahead log: {wal.name} is empty, but {shm.name} records "
            f"{committed} committed frames in it"
            if committed
            else None
        )
    if len(data) < 32:
        return f"has a damaged write-ahead log: {wal.name} is truncated ({len(data)} bytes)"
    magic, version, page, _, salt1, salt2, c1, c2 = struct.unpack(">8I", data[:32])
    big = magic == _MAGIC[1]
    if magic not in _MAGIC or version != _VERSION or _checksum(data[:24], big) != (c1, c2):
        return f"has a damaged write-ahead log: the header of {wal.name} is garbled"
    size = 24 + page
    count = (len(data) - 32) // size
    heads = [struct.unpack_from(">6I", data, 32 + f * size) for f in range(count)]
    current = [h[2:4] == (salt1, salt2) for h in heads]
    valid = 0  # frames of the current log, in a row from the first, whose checksums hold
    sums = _frame_sums(data[32 : 32 + count * size], size, big, count) if count else None
    _, (a, b, c, d) = _weights(1 + page // 8)
    s0, s1 = c1, c2
    while valid < count and current[valid] and sums is not None:
        x0, x1 = int(sums[valid, 0]), int(sums[valid, 1])
        s0, s1 = (a * s0 + b * s1 + x0) & _MASK, (c * s0 + d * s1 + x1) & _MASK
        if (s0, s1) != heads[valid][4:6]:
            return (
                f"has a damaged write-ahead log: frame {valid + 1} of {wal.name} fails its "
                "checksum (the file is garbled)"
            )
        valid += 1
    if any(current[valid:]):
        return f"has a damaged write-ahead log: {wal.name} breaks off at frame {valid + 1}"
    if index and committed and index[1] != data[16:24]:
        return f"has a damaged write-ahead log: {wal.name} is not the log {shm.name} indexes"
    if committed > valid:
        return (
            f"has a damaged write-ahead log: {wal.name} holds {valid} whole frames, but "
            f"{shm.name} records {committed} committed (the file was truncated)"
        )
    return None


def _stamp(path: Path) -> tuple[object, ...]:
    out: list[object] = []
    for suffix in ("-wal", "-shm"):
        try:
            st = path.with_name(path.name + suffix).stat()
            out.append((st.st_size, st.st_mtime_ns))
        except FileNotFoundError:
            out.append(None)
    return tuple(out)


def wal_problem(path: Path) -> str | None:
    """What is wrong with ``path``'s write-ahead log, or None. A problem seen while another
    process writes the database (the log or its index changes meanwhile) is not damage."""
    before = _stamp(path)
    problem = _problem(path)
    if problem is None:
        return None
    time.sleep(0.05)
    return problem if _stamp(path) == before else None
