"""The scan that finds the lines the server's reader skips as too long: Hadoop's arithmetic
(a line whose bytes plus line break reach the bound is skipped), line numbers that count the
header, gzip, a line longer than a read block, and only the start of a long line kept."""

from __future__ import annotations

import gzip

from dbt.adapters.sparkconnect import line_scan
from dbt.adapters.sparkconnect.line_scan import START_BYTES, long_lines

BOUND = 101  # a line of 100 bytes plus "\n" is skipped; 99 plus "\n" is read


def _write(path, lines: list[bytes], end: bytes = b"\n") -> None:
    data = b"\n".join(lines) + end
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)


def test_the_bound_counts_the_line_break_as_the_reader_does(tmp_path):
    path = tmp_path / "f.csv"
    _write(path, [b"header", b"a" * 99, b"b" * 100, b"c" * 5, b"d" * 99 + b"\r"])
    found = long_lines(path, BOUND)
    # "b"*100 + \n reaches the bound; "d"*99 + \r\n is two bytes of break: 99 + 2 = 101 too
    assert [(f.line_number, f.line_bytes) for f in found] == [(3, 100), (5, 100)]
    assert found[0].start == "b" * 100


def test_a_last_line_without_a_break_counts_its_bytes_alone(tmp_path):
    path = tmp_path / "f.csv"
    _write(path, [b"header", b"x" * 100], end=b"")
    assert long_lines(path, BOUND) == []
    _write(path, [b"header", b"x" * 101], end=b"")
    assert [(f.line_number, f.line_bytes) for f in long_lines(path, BOUND)] == [(2, 101)]


def test_gzip_and_a_line_longer_than_a_block_keep_only_its_start(tmp_path, monkeypatch):
    monkeypatch.setattr(line_scan, "BLOCK_BYTES", 64)  # the long line spans many blocks
    path = tmp_path / "f.csv.gz"
    long = b"2019-10-01 00:00:00 UTC,view," + bytes(range(48, 58)) * 1_000
    _write(path, [b"header", b"short", long, b"short", b"e" * 150, b"tail"])
    found = long_lines(path, BOUND)
    assert [(f.line_number, f.line_bytes) for f in found] == [(3, len(long)), (5, 150)]
    assert found[0].start == long[:START_BYTES].decode()
    assert found[1].start == "e" * 150


def test_invalid_utf8_in_a_long_line_start_is_replaced(tmp_path):
    path = tmp_path / "f.csv"
    _write(path, [b"\xff" * 120])
    assert long_lines(path, BOUND)[0].start == "\ufffd" * 120


def test_blocks_skipped_without_splitting_find_the_same_lines(tmp_path, monkeypatch):
    """Blocks whose every chunk holds a line break are counted, not split: over random line
    lengths around the bound, lines crossing blocks and blocks of one line, the scan finds
    exactly the lines a direct split of the whole file finds."""
    import random

    rng = random.Random(7)
    for trial in range(200):
        monkeypatch.setattr(line_scan, "BLOCK_BYTES", rng.choice([16, 64, 100, 250, 1000]))
        lengths = [rng.choice([0, 1, 50, BOUND - 2, BOUND - 1, BOUND, 300, rng.randrange(400)])
                   for _ in range(rng.randrange(1, 40))]  # fmt: skip
        end = rng.choice([b"\n", b""])
        path = tmp_path / f"f{trial}.csv"
        _write(path, [bytes([65 + i % 26]) * n for i, n in enumerate(lengths)], end=end)
        lines = path.read_bytes().split(b"\n")
        if end:
            lines = lines[:-1]
        expected = [(number, len(line)) for number, line in enumerate(lines, start=1)
                    if len(line) + (1 if end or number < len(lines) else 0) >= BOUND]  # fmt: skip
        found = long_lines(path, BOUND)
        assert [(f.line_number, f.line_bytes) for f in found] == expected, (trial, lengths)
        assert all(f.start == lines[f.line_number - 1][:START_BYTES].decode() for f in found)
