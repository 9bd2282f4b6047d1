"""Statistics of a set of event files, generated or real, beside the published targets.

This module owns the check that generated data looks like the Kaggle files. It reads any CSV
files in the source schema (plain or gzip) with DuckDB, which streams and spills to disk, so it
also profiles the real 5.7 GB and 9 GB files without collecting rows anywhere. Every statistic
has a target range taken from DATASET.md; `lakehouse profile --check` exits non-zero when one
falls outside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

COLUMNS = [
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
]


@dataclass(frozen=True)
class Target:
    name: str
    low: float | None
    high: float | None
    published: str


# Ranges around the published figures of 2019-Oct / 2019-Nov (DATASET.md). Ratios, not counts,
# so they hold at any size; counts are reported without a target.
TARGETS = [
    Target("view_share", 0.935, 0.965, "96.07% / 94.15%"),
    Target("cart_share", 0.018, 0.048, "2.18% / 4.49%"),
    Target("purchase_share", 0.012, 0.020, "1.75% / 1.36%"),
    Target("empty_category_code_share", 0.29, 0.35, "31.8% / 32.4%"),
    Target("empty_brand_share", 0.12, 0.16, "14.4% / 13.7%"),
    Target("zero_price_share", 0.00001, 0.01, "zero prices occur"),
    Target("min_price", 0.0, 0.0, "0.00"),
    Target("max_price", 500.0, 2574.07, "2574.07"),
    Target("mean_price", 230.0, 350.0, "290.32"),
    Target("median_price", 120.0, 210.0, "about 164.6"),
    Target("duplicate_row_share", 0.0008, 0.0025, "0.149% (Nov)"),
    Target("rows_per_session", 3.5, 6.0, "4.59 / 4.90"),
    Target("top1pct_products_event_share", 0.15, 0.75, "long tail"),
    Target("purchases_after_view_share", 0.85, 1.0, "purchases follow views"),
    Target("purchases_after_cart_share", 0.50, 1.0, "usually after a cart"),
]


def _connect(memory_limit: str, threads: int):
    import duckdb

    con = duckdb.connect()
    con.execute(f"set memory_limit = '{memory_limit}'")
    con.execute(f"set threads = {int(threads)}")
    con.execute("set preserve_insertion_order = false")
    return con


def _source(paths: list[Path]) -> str:
    files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
    columns = ", ".join(f"'{c}': 'VARCHAR'" for c in COLUMNS)
    return (
        f"read_csv([{files}], header = true, auto_detect = false, columns = {{{columns}}}, "
        "ignore_errors = true, compression = 'auto')"
    )


def event_files(folder_or_files: list[Path]) -> list[Path]:
    """CSV files (plain or gzip) of the given folders and files, sorted."""
    found: list[Path] = []
    for item in folder_or_files:
        if item.is_dir():
            found += [p for p in item.iterdir() if p.name.endswith((".csv", ".csv.gz"))]
        elif item.is_file():
            found.append(item)
        else:
            raise FileNotFoundError(f"{item} does not exist")
    if not found:
        raise FileNotFoundError(f"no .csv or .csv.gz files in {[str(p) for p in folder_or_files]}")
    return sorted(found)


def profile(paths: list[Path], memory_limit: str = "4GB", threads: int = 2) -> dict[str, float]:
    """Compute every statistic of TARGETS plus the distinct counts."""
    con = _connect(memory_limit, threads)
    con.execute(
        f"""
        create temp view raw as select * from {_source(paths)};
        create temp view ev as
        select
            try_strptime(event_time, '%Y-%m-%d %H:%M:%S UTC') as ts,
            event_type, product_id, category_id, category_code, brand,
            -- a negative or garbled price is a malformed row: out of the price statistics
            case when try_cast(price as double) >= 0 then try_cast(price as double) end as price,
            user_id, user_session
        from raw
        """
    )
    main = con.execute(
        """
        select
            count(*) as rows,
            count(distinct user_id) as distinct_users,
            count(distinct product_id) as distinct_products,
            count(distinct user_session) as distinct_sessions,
            count(distinct category_id) as distinct_categories,
            count(distinct brand) as distinct_brands,
            avg((event_type = 'view')::int) as view_share,
            avg((event_type = 'cart')::int) as cart_share,
            avg((event_type = 'purchase')::int) as purchase_share,
            avg((coalesce(category_code, '') = '')::int) as empty_category_code_share,
            avg((coalesce(brand, '') = '')::int) as empty_brand_share,
            avg((price = 0)::int) as zero_price_share,
            min(price) as min_price,
            max(price) as max_price,
            avg(price) as mean_price,
            median(price) as median_price,
            avg((user_session is null)::int) as empty_session_share
        from ev
        """
    ).fetchdf()
    stats = {k: float(v) for k, v in main.iloc[0].items()}
    stats["rows_per_session"] = stats["rows"] / max(stats["distinct_sessions"], 1)
    cols = ", ".join(COLUMNS)
    stats["duplicate_row_share"] = con.execute(
        f"select sum(n - 1) / sum(n) from (select count(*) as n from raw group by {cols})"
    ).fetchone()[0]
    stats["top1pct_products_event_share"] = con.execute(
        """
        with counts as (select product_id, count(*) as n from ev group by product_id),
        ranked as (
            select n, row_number() over (order by n desc) as r, count(*) over () as products
            from counts
        )
        select sum(n) filter (where r <= ceil(products * 0.01)) / sum(n) from ranked
        """
    ).fetchone()[0]
    after = con.execute(
        """
        with firsts as (
            select user_id, product_id,
                min(ts) filter (where event_type = 'view') as first_view,
                min(ts) filter (where event_type = 'cart') as first_cart
            from ev group by user_id, product_id
        )
        select
            avg((f.first_view <= p.ts)::int),
            avg((f.first_cart <= p.ts)::int)
        from ev as p
        join firsts as f using (user_id, product_id)
        where p.event_type = 'purchase'
        """
    ).fetchone()
    stats["purchases_after_view_share"] = float(after[0] or 0.0)
    stats["purchases_after_cart_share"] = float(after[1] or 0.0)
    con.close()
    return {k: float(v) if v is not None else float("nan") for k, v in stats.items()}


@dataclass(frozen=True)
class Check:
    target: Target
    value: float

    @property
    def ok(self) -> bool:
        low_ok = self.target.low is None or self.value >= self.target.low
        high_ok = self.target.high is None or self.value <= self.target.high
        return low_ok and high_ok


def check(stats: dict[str, float]) -> list[Check]:
    return [Check(t, stats[t.name]) for t in TARGETS]


def report(stats: dict[str, float]) -> str:
    lines = [
        f"{'rows':<32}{stats['rows']:>16,.0f}",
        *(
            f"{name:<32}{stats[name]:>16,.0f}"
            for name in (
                "distinct_users",
                "distinct_products",
                "distinct_sessions",
                "distinct_categories",
                "distinct_brands",
            )
        ),
        "",
        f"{'statistic':<32}{'value':>12}  {'target range':<22}{'published':<18}ok",
    ]
    for c in check(stats):
        rng = f"{c.target.low:g} .. {c.target.high:g}"
        lines.append(
            f"{c.target.name:<32}{c.value:>12.4f}  {rng:<22}{c.target.published:<18}"
            f"{'yes' if c.ok else 'NO'}"
        )
    return "\n".join(lines)
