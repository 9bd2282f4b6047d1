"""Arriving files, simulated: generated day files moved one at a time into the streaming folder.

`drop_files` generates the same event files as `lakehouse generate` into a staging folder and
moves them, one at a time and at a chosen pace, into the streaming landing folder. Each move is
a copy to a hidden name and a rename, so a stream never sees half a file; calling it again
continues with the next day.
"""

from __future__ import annotations

import shutil
import sys
import time
from datetime import date
from pathlib import Path

from lakehouse.data import generate


def drop_files(
    stream_dir: Path, staging_dir: Path, rows: int, start: date, end: date, seed: int,
    interval: float, max_files: int | None = None, progress: bool = True,
) -> list[Path]:  # fmt: skip
    """Moves generated day files into `stream_dir`, oldest first, `interval` seconds apart;
    files already there are skipped, so calling it again continues where it stopped. Returns
    the files dropped by this call."""
    stream_dir.mkdir(parents=True, exist_ok=True)
    staged = sorted(staging_dir.glob("events_*.csv"))
    if not staged:
        staged = generate.generate(
            staging_dir, rows=rows, start=start, end=end, seed=seed, progress=False
        )
    dropped: list[Path] = []
    for path in staged:
        target = stream_dir / path.name
        if target.exists():
            continue
        if max_files is not None and len(dropped) >= max_files:
            break
        if dropped and interval > 0:
            time.sleep(interval)
        tmp = stream_dir / f".{path.name}.part"  # hidden: the stream lists *.csv only
        shutil.copyfile(path, tmp)
        tmp.replace(target)
        dropped.append(target)
        if progress:
            print(f"dropped {target.name} into {stream_dir}", file=sys.stderr, flush=True)
    return dropped
