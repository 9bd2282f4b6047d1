"""The event generator and the profiler: formats, determinism, published statistics, signal."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import duckdb
import pytest

from lakehouse.data import generate, profile

LINE = re.compile(
    r"^2019-1[01]-\d\d [0-2]\d:[0-5]\d:[0-5]\d UTC,(view|cart|purchase),\d{6,8},\d{19},"
    r"([a-z_]+(\.[a-z_]+)+)?,([a-z]+)?,\d+\.\d\d,\d{9},[0-9a-f-]{36}$"
)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> list[Path]:
    """300 k events over the default two months, with a few malformed lines mixed in."""
    out = tmp_path_factory.mktemp("events")
    return generate.generate(out, rows=300_000, seed=7, bad_rate=0.0005, progress=False)


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def test_one_file_per_day_with_the_kaggle_header(small):
    assert [p.name for p in small][:2] == ["events_2019-10-01.csv", "events_2019-10-02.csv"]
    assert len(small) == 61
    for path in small:
        assert path.read_text().split("\n", 1)[0] == generate.HEADER


def test_lines_have_the_source_formats(small):
    lines = small[40].read_text().splitlines()[1:]
    bad = [line for line in lines if not LINE.match(line)]
    # Only the deliberately malformed lines (bad_rate 0.05%) fail the pattern.
    assert 0 < len(bad) < len(lines) * 0.002, bad[:5]
    day = small[40].name[7:17]
    assert all(line.startswith(day) for line in lines if LINE.match(line))


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    kwargs = dict(rows=20_000, start=date(2019, 10, 1), end=date(2019, 10, 3), progress=False)
    a = generate.generate(tmp_path / "a", seed=1, **kwargs)
    b = generate.generate(tmp_path / "b", seed=1, **kwargs)
    c = generate.generate(tmp_path / "c", seed=2, **kwargs)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_gzip_files_read_the_same(tmp_path):
    kwargs = dict(rows=5_000, start=date(2019, 10, 1), end=date(2019, 10, 1), progress=False)
    plain = generate.generate(tmp_path / "plain", **kwargs)
    gz = generate.generate(tmp_path / "gz", compress=True, **kwargs)
    import gzip

    assert gz[0].name.endswith(".csv.gz")
    assert gzip.decompress(gz[0].read_bytes()) == plain[0].read_bytes()


def test_statistics_match_the_published_ones(small):
    stats = profile.profile(small)
    off = {c.target.name: c.value for c in profile.check(stats) if not c.ok}
    assert off == {}, profile.report(stats)
    assert 280_000 < stats["rows"] < 320_000


def test_earlier_behaviour_reveals_the_propensity_to_buy(small):
    """Users who carted in October buy in November far more often than users who did not:
    the signal the purchase model must learn."""
    oct_files = [str(p) for p in small if "2019-10" in p.name]
    nov_files = [str(p) for p in small if "2019-11" in p.name]
    con = duckdb.connect()
    src = "read_csv({}, header=true, all_varchar=true, ignore_errors=true)"
    rates = con.execute(
        f"""
        with oct as (
            select user_id, max((event_type = 'cart')::int) as carted
            from {src.format(oct_files)} group by user_id
        ),
        nov as (
            select distinct user_id from {src.format(nov_files)} where event_type = 'purchase'
        )
        select carted, avg((nov.user_id is not null)::int) as buy_rate, count(*) as users
        from oct left join nov using (user_id)
        group by carted order by carted
        """
    ).fetchall()
    (_, rate_no_cart, n0), (_, rate_cart, n1) = rates
    assert n0 > 1000 and n1 > 100
    assert rate_cart > 2.0 * rate_no_cart, rates


def test_memory_stays_bounded_as_rows_grow(tmp_path):
    """The generator streams: four times the rows (0.2 M to 0.8 M) add little to its peak memory
    (the catalogue grows with the rows, the events do not stay in memory), where holding 0.6 M
    more rows as Python tuples would add about 300 MiB. The two sizes run side by side."""

    def peak_mib(rows: int, folder: Path) -> float:
        folder.mkdir()
        # VmHWM is this process's own peak; ru_maxrss would also count the pytest process it
        # was forked from (Linux keeps the high-water mark across exec)
        code = (
            "import re; from pathlib import Path; "
            "from lakehouse.data.generate import generate; "
            f"generate(Path('{folder}'), rows={rows}, progress=False); "
            "print(re.search(r'VmHWM:\\s+(\\d+)', Path('/proc/self/status').read_text())[1])"
        )
        proc = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                              text=True)  # fmt: skip
        return int(proc.stdout.split()[-1]) / 1024

    with ThreadPoolExecutor(2) as pool:
        small, large = pool.map(peak_mib, (200_000, 800_000),
                                (tmp_path / "small", tmp_path / "large"))  # fmt: skip
    size_mib = sum(p.stat().st_size for p in (tmp_path / "large").iterdir()) / 2**20
    assert size_mib > 70
    assert large < 400 and large - small < 150, (
        f"peak {small:.0f} MiB at 0.2 M rows, {large:.0f} MiB at 0.8 M"
    )


def test_profile_cli_flags_files_that_are_off(tmp_path):
    """Files far from the published shape (here: only views) fail `profile --check`."""
    path = tmp_path / "views.csv"
    row = "2019-10-01 10:00:00 UTC,view,1000001,2053013552326770905,,,10.00,512345678,"
    path.write_text(
        generate.HEADER
        + "\n"
        + "\n".join(row + f"00000000-0000-4000-8000-{i:012d}" for i in range(2000))
        + "\n"
    )
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "lakehouse"), "profile", "--check", str(path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "purchase_share" in proc.stderr
