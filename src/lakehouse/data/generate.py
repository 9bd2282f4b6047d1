"""Realistic event files in the Kaggle "eCommerce behavior data from multi category store" schema.

This module owns the synthetic data. It writes one CSV file per day, with exactly the header and
formats of the real `2019-Oct.csv` / `2019-Nov.csv` (`YYYY-MM-DD HH:MM:SS UTC`, empty fields,
two-decimal prices), deterministic for a seed, in bounded memory (one day of numeric arrays at a
time, strings formatted in chunks). The shape follows the published statistics (docs/data.md):
event mix, empty category codes and brands, zero prices, ~0.15% exact duplicate rows, sessions,
long-tailed popularity, and funnels in which a purchase follows a view (usually a cart) of the
same product by the same user. It also carries learnable structure: every user has stable
favourite categories, a price level and a purchase propensity that earlier behaviour reveals.
Every number that shapes the data is a field of `Shape`, in one place.
"""

from __future__ import annotations

import gzip
import math
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

HEADER = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
)
CHUNK_ROWS = 200_000


@dataclass(frozen=True)
class Shape:
    """Every number that shapes the synthetic data, in one place. Figures marked (published)
    follow the Kaggle files' published statistics (docs/data.md); the rest are choices that
    give realistic sessions and funnels and a purchase propensity earlier behaviour reveals."""

    # -- sizes, scaled from the 2-month files (~110 M rows, ~5.3 M users, ~200 k products)
    rows_per_user: float = 21.0
    products_factor: float = 0.19  # products = factor * rows ** products_exponent
    products_exponent: float = 0.75
    max_categories: int = 650  # (published)
    max_brands: int = 3500  # (published)
    duplicate_rate: float = 0.0015  # (published) 100,519 exact duplicates in 67.5 M rows
    # -- ids, with the digits of the source's ids
    category_id_low: int = 2_050_000_000_000_000_000
    category_id_high: int = 2_200_000_000_000_000_000
    product_id_base: int = 1_000_000
    product_id_span: int = 99_000_000
    user_id_base: int = 400_000_000
    user_id_span: int = 300_000_000
    # -- popularity (Zipf exponents) and prices
    category_popularity_exponent: float = 1.1
    brand_popularity_exponent: float = 1.2
    product_popularity_exponent: float = 1.0
    category_price_median: float = 150.0
    category_price_spread: float = 0.95  # sd of log price between categories
    product_price_spread: float = 0.7  # sd of log price within a category
    price_median: float = 165.0  # (published) event-weighted
    price_mean: float = 290.0  # (published) event-weighted
    price_min: float = 0.77  # (published)
    price_max: float = 2574.07  # (published)
    free_product_share: float = 0.002  # products priced 0.00
    # -- empty fields, as shares of events
    empty_category_code_share: float = 0.315  # (published) about a third
    empty_brand_share: float = 0.14  # (published) about a seventh
    # -- users
    favourite_categories: int = 3
    favourite_pick: tuple[float, ...] = (0.6, 0.3, 0.1)  # which favourite a view lands in
    taste_beta: tuple[float, float] = (6.0, 2.0)  # share of views in favourite categories
    category_weight_of_taste: float = 0.75  # category shares: taste vs global popularity
    activity_sigma: float = 1.0  # lognormal spread of how often users come back
    price_level_spread: float = 0.4
    propensity_beta: tuple[float, float] = (0.7, 7.0)  # latent propensity to buy
    # -- days and hours
    november_traffic: float = 1.6  # November traffic relative to October
    sale_days: tuple[int, int] = (15, 17)  # mid-November sale, traffic doubled
    sale_traffic: float = 2.0
    weekend_traffic: float = 1.1
    # -- sessions and funnels
    rows_per_session: float = 4.2  # views, carts, purchases and duplicates
    views_per_session: float = 3.9
    view_again_share: float = 0.3  # the same product viewed again in the session
    seconds_between_views: float = 44.0
    cart_base: float = 0.24  # p(cart | view) = base * propensity * (fit + price_fit_floor) ...
    price_fit_floor: float = 0.4
    max_cart_probability: float = 0.9
    buy_after_cart_base: float = 0.20  # p(buy | cart) = base + slope * propensity
    buy_after_cart_slope: float = 1.3
    max_buy_probability: float = 0.95
    direct_buy_share: float = 0.12  # a purchase without a cart, relative to p(cart)
    seconds_to_cart: float = 20.0
    seconds_to_purchase: float = 60.0


SHAPE = Shape()

# Words for dotted category codes (`electronics.smartphone`, `appliances.kitchen.washer`).
_TOP = [
    "electronics", "appliances", "computers", "apparel", "furniture", "auto", "construction",
    "kids", "accessories", "sport", "medicine", "country_yard", "stationery",
]  # fmt: skip
_SUB = [
    "smartphone", "audio", "video", "kitchen", "environment", "notebook", "desktop", "shoes",
    "bedroom", "living_room", "tools", "toys", "bag", "bicycle", "tv", "clocks", "tablet",
    "headphone", "refrigerators", "washer", "vacuum", "iron", "components", "peripherals",
    "jeans", "shirt", "umbrella", "skates", "camera", "player", "telephone", "sofa", "light",
]  # fmt: skip
_LEAF = [
    "", "", "", "water_heater", "blender", "mouse", "keyboard", "printer", "monitor",
    "cabinet", "chair", "table", "dress", "costume", "subwoofer", "acoustic", "drill",
]  # fmt: skip
_SYLLABLES = [
    "sam", "sun", "ap", "ple", "xia", "omi", "hua", "wei", "lu", "ka", "ri", "to", "bo", "sch",
    "ind", "es", "it", "phi", "lips", "len", "ovo", "ace", "rr", "as", "us", "bee", "ko",
]  # fmt: skip


@dataclass(frozen=True)
class Catalog:
    """Products, their categories and brands, and the users who browse them."""

    product_ids: np.ndarray  # int64, 8 digits, sorted by category
    product_category: np.ndarray  # index into categories
    product_brand: np.ndarray  # index into brand names, -1 = empty brand
    product_price: np.ndarray  # float64, 2 decimals, zeros included
    product_cum: np.ndarray  # category index + within-category cumulative popularity
    global_cum: np.ndarray  # cumulative global popularity over products
    category_ids: np.ndarray  # int64, 19 digits
    category_codes: list[str]  # '' = empty code
    brand_names: list[str]
    user_ids: np.ndarray  # int64, 9 digits
    user_activity_cum: np.ndarray  # cumulative probability of starting a session
    user_favourites: np.ndarray  # (users, 3) category indices
    user_taste: np.ndarray  # probability a view lands in a favourite category
    user_price_level: np.ndarray  # preferred price (log scale fit)
    user_propensity: np.ndarray  # latent propensity to buy


def _zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    ranks = rng.permutation(n) + 1
    weights = 1.0 / ranks.astype(float) ** exponent
    return weights / weights.sum()


def _blank_set(shares: np.ndarray, target: float, rng: np.random.Generator) -> np.ndarray:
    """A random set of items whose shares add up to `target` (within 1.5 points)."""
    chosen = np.zeros(len(shares), bool)
    total = 0.0
    for i in rng.permutation(len(shares)):
        if total >= target - 0.005:
            break
        if total + shares[i] <= target + 0.015:
            chosen[i] = True
            total += shares[i]
    return chosen


def _scaled(rows: int) -> dict[str, int]:
    """Entity counts for a data set of `rows` events, scaled from the published figures
    (2 months: ~110 M rows, ~5.3 M users, ~200 k products, ~650 categories, ~3.5 k brands)."""
    return {
        "users": max(200, int(rows / SHAPE.rows_per_user)),
        "products": max(150, int(SHAPE.products_factor * rows**SHAPE.products_exponent)),
        "categories": int(min(SHAPE.max_categories, max(25, rows**0.5 / 2))),
        "brands": int(min(SHAPE.max_brands, max(40, 3 * rows**0.5))),
    }


def build_catalog(rows: int, seed: int) -> Catalog:
    rng = np.random.default_rng([seed, 1])
    n = _scaled(rows)
    n_cat, n_prod, n_brand, n_user = n["categories"], n["products"], n["brands"], n["users"]

    # Categories: 19-digit ids, a dotted code for most, a median price level each.
    category_ids = np.unique(rng.integers(SHAPE.category_id_low, SHAPE.category_id_high, n_cat * 2))
    category_ids = rng.permutation(category_ids)[:n_cat].astype(np.int64)
    cat_weight = _zipf_weights(n_cat, SHAPE.category_popularity_exponent, rng)
    codes = []
    for _ in range(n_cat):
        parts = [_TOP[rng.integers(len(_TOP))], _SUB[rng.integers(len(_SUB))]]
        leaf = _LEAF[rng.integers(len(_LEAF))]
        codes.append(".".join(parts + ([leaf] if leaf else [])))
    cat_price = np.exp(
        rng.normal(math.log(SHAPE.category_price_median), SHAPE.category_price_spread, n_cat)
    )

    # Brands: made-up lower-case names, Zipf popularity.
    names = {"".join(rng.choice(_SYLLABLES, rng.integers(2, 5))) for _ in range(n_brand * 3)}
    brand_names = list(rng.permutation(sorted(names))[:n_brand])
    brand_weight = _zipf_weights(len(brand_names), SHAPE.brand_popularity_exponent, rng)

    # Products: category by popularity, brand (empty for ~14% of events), price around the
    # category's level (long right tail, capped at the published maximum), a few free ones.
    product_category = np.sort(rng.choice(n_cat, n_prod, p=cat_weight))
    product_category[:n_cat] = np.arange(n_cat)  # every category has a product
    product_category = np.sort(product_category)
    product_brand = rng.choice(len(brand_names), n_prod, p=brand_weight)
    log_price = np.log(cat_price[product_category]) + rng.normal(
        0.0, SHAPE.product_price_spread, n_prod
    )
    product_ids = SHAPE.product_id_base + rng.choice(SHAPE.product_id_span, n_prod, replace=False)

    popularity = _zipf_weights(n_prod, SHAPE.product_popularity_exponent, rng)
    # Pin the event-weighted price distribution to the published median (~165) and mean
    # (~290), whatever categories happen to be popular at this size and seed.
    mu = np.sum(popularity * log_price)
    sd = np.sqrt(np.sum(popularity * (log_price - mu) ** 2))
    spread = math.sqrt(2 * math.log(SHAPE.price_mean / SHAPE.price_median))
    price = np.exp(math.log(SHAPE.price_median) + spread * (log_price - mu) / sd)
    price = np.round(np.clip(price, SHAPE.price_min, SHAPE.price_max), 2)
    price[rng.random(n_prod) < SHAPE.free_product_share] = 0.0

    # Empty fields on a share of *events*, as in the source: about a third of events carry
    # no category code, about a seventh no brand. Views land in a user's favourite categories
    # ~75% of the time and follow global product popularity otherwise.
    in_category = np.bincount(product_category, weights=popularity, minlength=n_cat)
    taste_weight = SHAPE.category_weight_of_taste
    category_share = taste_weight * cat_weight + (1 - taste_weight) * in_category
    for c in np.flatnonzero(_blank_set(category_share, SHAPE.empty_category_code_share, rng)):
        codes[c] = ""
    product_share = popularity * (category_share / np.maximum(in_category, 1e-12))[product_category]
    product_brand[_blank_set(product_share, SHAPE.empty_brand_share, rng)] = -1
    global_cum = np.cumsum(popularity)
    global_cum /= global_cum[-1]
    # Within-category cumulative popularity, offset by the category index so one
    # searchsorted over the whole array samples inside any category.
    product_cum = np.empty(n_prod)
    starts = np.searchsorted(product_category, np.arange(n_cat))
    ends = np.append(starts[1:], n_prod)
    for c in range(n_cat):
        seg = np.cumsum(popularity[starts[c] : ends[c]])
        product_cum[starts[c] : ends[c]] = c + seg / seg[-1]

    # Users: heavy-tailed activity, three favourite categories, a taste strength, a price
    # level, and a latent propensity to buy (mostly low, some eager buyers).
    user_ids = SHAPE.user_id_base + rng.choice(SHAPE.user_id_span, n_user, replace=False)
    activity = rng.lognormal(0.0, SHAPE.activity_sigma, n_user)
    activity_cum = np.cumsum(activity)
    activity_cum /= activity_cum[-1]
    favourites = np.stack(
        [rng.choice(n_cat, n_user, p=cat_weight) for _ in range(SHAPE.favourite_categories)],
        axis=1,
    )
    taste = rng.beta(*SHAPE.taste_beta, n_user)
    price_level = np.log(cat_price[favourites[:, 0]]) + rng.normal(
        0, SHAPE.price_level_spread, n_user
    )
    propensity = rng.beta(*SHAPE.propensity_beta, n_user)
    return Catalog(
        product_ids=product_ids.astype(np.int64),
        product_category=product_category,
        product_brand=product_brand,
        product_price=price,
        product_cum=product_cum,
        global_cum=global_cum,
        category_ids=category_ids,
        category_codes=codes,
        brand_names=brand_names,
        user_ids=user_ids.astype(np.int64),
        user_activity_cum=activity_cum,
        user_favourites=favourites,
        user_taste=taste,
        user_price_level=price_level,
        user_propensity=propensity,
    )


def _day_weights(days: list[date]) -> np.ndarray:
    """Each day's share of the events of `days` (see `_day_weights_raw`)."""
    w = _day_weights_raw(days)
    return w / w.sum()


def _day_weights_raw(days: list[date]) -> np.ndarray:
    """November traffic is ~1.6x October's, with a mid-November sale peak; weekends busier."""
    return np.array(
        [
            (SHAPE.november_traffic if d.month == 11 else 1.0)
            * (
                SHAPE.sale_traffic
                if d.month == 11 and SHAPE.sale_days[0] <= d.day <= SHAPE.sale_days[1]
                else 1.0
            )
            * (SHAPE.weekend_traffic if d.weekday() >= 5 else 1.0)
            for d in days
        ]
    )


# Hour-of-day shape (UTC): quiet nights, busy afternoons.
_HOURS = np.array([1, 1, 2, 3, 5, 6, 7, 8, 8, 8, 8, 8, 8, 8, 9, 10, 10, 10, 9, 7, 5, 3, 2, 1.0])
_HOURS = _HOURS / _HOURS.sum()

EVENT_TYPES = np.array(["view", "cart", "purchase"])


def generate_day(
    cat: Catalog, n_rows: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], int]:
    """Numeric columns of about `n_rows` events of one day, sorted by time, and the number of
    sessions they belong to (column `session` indexes them)."""
    if n_rows <= 0:
        return {}, 0
    # ~3.9 views a session, plus carts, purchases and duplicates: ~4.2 rows a session.
    n_sessions = max(1, int(n_rows / SHAPE.rows_per_session))
    # Sessions: who, when, how many product views.
    s_user = np.searchsorted(cat.user_activity_cum, rng.random(n_sessions))
    s_start = rng.choice(24, n_sessions, p=_HOURS) * 3600 + rng.integers(0, 3600, n_sessions)
    s_views = rng.geometric(1 / SHAPE.views_per_session, n_sessions)
    # Views: one row per view, products from the user's tastes or the global long tail.
    v_session = np.repeat(np.arange(n_sessions), s_views)
    v_user = s_user[v_session]
    n_views = len(v_session)
    in_taste = rng.random(n_views) < cat.user_taste[v_user]
    fav_pick = rng.choice(SHAPE.favourite_categories, n_views, p=list(SHAPE.favourite_pick))
    fav_cat = cat.user_favourites[v_user, fav_pick]
    in_cat = np.searchsorted(cat.product_cum, fav_cat + rng.random(n_views) * 0.999999)
    anywhere = np.searchsorted(cat.global_cum, rng.random(n_views))
    v_product = np.where(in_taste, in_cat, anywhere)
    v_product = np.minimum(v_product, len(cat.product_ids) - 1)
    # People look at the same product again within a session.
    again = np.zeros(n_views, bool)
    again[1:] = (v_session[1:] == v_session[:-1]) & (
        rng.random(n_views - 1) < SHAPE.view_again_share
    )
    v_product[1:][again[1:]] = v_product[:-1][again[1:]]
    # Seconds since the session start: a view every ~45 s, never two in the same second.
    gaps = 1.0 + rng.exponential(SHAPE.seconds_between_views, n_views)
    first = np.ones(n_views, bool)
    first[1:] = v_session[1:] != v_session[:-1]
    gaps[first] = 0.0
    offsets = np.cumsum(gaps)
    session_base = offsets[first]
    v_time = s_start[v_session] + (offsets - session_base[np.cumsum(first) - 1])

    # Funnel: a cart follows a view with a probability that grows with the user's propensity
    # and how well the price fits the user's level; a purchase usually follows a cart.
    price = cat.product_price[v_product]
    fit = np.exp(-np.abs(np.log(np.maximum(price, 1.0)) - cat.user_price_level[v_user]))
    rho = cat.user_propensity[v_user]
    p_cart = np.clip(
        SHAPE.cart_base * rho * (SHAPE.price_fit_floor + fit) * (1.0 + in_taste),
        0,
        SHAPE.max_cart_probability,
    )
    carted = rng.random(n_views) < p_cart
    p_buy_after_cart = np.clip(
        SHAPE.buy_after_cart_base + SHAPE.buy_after_cart_slope * rho, 0, SHAPE.max_buy_probability
    )
    bought_after_cart = carted & (rng.random(n_views) < p_buy_after_cart)
    bought_direct = ~carted & (rng.random(n_views) < SHAPE.direct_buy_share * p_cart)
    c_idx = np.flatnonzero(carted)
    c_time = v_time[c_idx] + rng.exponential(SHAPE.seconds_to_cart, len(c_idx)) + 1
    cart_time = np.zeros(n_views)
    cart_time[c_idx] = c_time
    b_idx = np.flatnonzero(bought_after_cart | bought_direct)
    b_base = np.where(bought_after_cart[b_idx], cart_time[b_idx], v_time[b_idx])
    b_time = b_base + rng.exponential(SHAPE.seconds_to_purchase, len(b_idx)) + 1

    idx = np.concatenate([np.arange(n_views), c_idx, b_idx])
    etype = np.concatenate(
        [np.zeros(n_views, np.int8), np.ones(len(c_idx), np.int8), np.full(len(b_idx), 2, np.int8)]
    )
    seconds = np.concatenate([v_time, c_time, b_time])
    seconds = np.minimum(seconds, 86_399).astype(np.int64)
    order = np.lexsort((etype, seconds))
    idx, etype, seconds = idx[order], etype[order], seconds[order]
    cols = {
        "seconds": seconds,
        "event_type": etype,
        "product": v_product[idx],
        "user": v_user[idx],
        "session": v_session[idx],
    }
    # Exact duplicate rows (the source logs some events twice).
    dup = np.flatnonzero(rng.random(len(seconds)) < SHAPE.duplicate_rate)
    if len(dup):
        take = np.sort(np.concatenate([np.arange(len(seconds)), dup]))
        cols = {k: v[take] for k, v in cols.items()}
    return cols, n_sessions


def _session_uuids(n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` random version-4 UUID strings, drawn from `rng` (deterministic for the seed)."""
    high = rng.integers(0, 2**63, n, dtype=np.int64).tolist()
    low = rng.integers(0, 2**63, n, dtype=np.int64).tolist()
    out = []
    for x, y in zip(high, low, strict=True):
        a, b = f"{x:016x}", f"{y:016x}"
        out.append(f"{a[:8]}-{a[8:12]}-4{a[13:16]}-{'89ab'[int(b[0], 16) % 4]}{b[1:4]}-{b[4:16]}")
    return np.array(out, dtype=object)


def format_rows(cat: Catalog, day: date, cols: dict[str, np.ndarray], uuids: np.ndarray,
                lo: int, hi: int) -> str:  # fmt: skip
    """CSV text of rows lo:hi of a day, in the source's exact formats."""
    sec = cols["seconds"][lo:hi]
    prefix = day.isoformat()
    hh, mm, ss = sec // 3600, (sec // 60) % 60, sec % 60
    product = cols["product"][lo:hi]
    category = cat.product_category[product]
    brand = cat.product_brand[product]
    price = cat.product_price[product]
    user = cat.user_ids[cols["user"][lo:hi]]
    session = uuids[cols["session"][lo:hi]]
    etype = EVENT_TYPES[cols["event_type"][lo:hi]]
    pid = cat.product_ids[product]
    cid = cat.category_ids[category]
    codes, brands = cat.category_codes, cat.brand_names
    lines = [
        f"{prefix} {h:02d}:{m:02d}:{s:02d} UTC,{e},{p},{c},{codes[ci]},"
        f"{brands[b] if b >= 0 else ''},{pr:.2f},{u},{se}"
        for h, m, s, e, p, c, ci, b, pr, u, se in zip(
            hh.tolist(), mm.tolist(), ss.tolist(), etype.tolist(), pid.tolist(), cid.tolist(),
            category.tolist(), brand.tolist(), price.tolist(), user.tolist(), session.tolist(),
            strict=True,
        )
    ]  # fmt: skip
    return "\n".join(lines) + "\n" if lines else ""


# Malformed lines of the kinds the real files can hold (a truncated last line, a field too
# many or too few, a garbled value); each is quarantined by bronze with a reason.
def _bad_lines(rng: np.random.Generator, good_line: str, n: int) -> list[str]:
    def with_field(i: int, value: str) -> str:
        fields = good_line.split(",")
        fields[i] = value
        return ",".join(fields)

    kinds = [
        lambda: good_line[: max(5, len(good_line) // 2)],  # truncated line
        lambda: good_line + ",extra",  # a field too many
        lambda: with_field(0, "2019-13-45 25:61:00 UTC"),  # unparseable time
        lambda: with_field(1, "wishlist"),  # unknown event type
        lambda: with_field(6, "-12.50"),  # negative price
        lambda: with_field(6, "12,50"),  # decimal comma: a field too many
        lambda: with_field(6, "abc"),  # non-numeric price
        lambda: with_field(7, ""),  # missing user id
    ]
    return [kinds[int(rng.integers(len(kinds)))]() for _ in range(n)]


def _write_day(cat: Catalog, out_dir: Path, day: date, n_day: int, seed: int, bad_rate: float,
               compress: bool) -> tuple[Path, int]:  # fmt: skip
    """Writes the file of `day` with about `n_day` events; returns (path, lines written)."""
    rng = np.random.default_rng([seed, 3, day.toordinal()])
    cols, n_sessions = generate_day(cat, int(n_day), rng)
    name = f"events_{day.isoformat()}.csv" + (".gz" if compress else "")
    path = out_dir / name
    tmp = path.with_name(path.name + ".part")
    opener = gzip.open if compress else open
    n_out = len(cols.get("seconds", []))
    with opener(tmp, "wt", encoding="utf-8", newline="") as fh:
        fh.write(HEADER + "\n")
        if n_out:
            uuids = _session_uuids(n_sessions, rng)
            for lo in range(0, n_out, CHUNK_ROWS):
                text = format_rows(cat, day, cols, uuids, lo, min(lo + CHUNK_ROWS, n_out))
                fh.write(text)
                n_bad = int(rng.binomial(min(CHUNK_ROWS, n_out - lo), bad_rate))
                if n_bad:
                    sample = text.split("\n", 1)[0]
                    fh.write("\n".join(_bad_lines(rng, sample, n_bad)) + "\n")
                    n_out += n_bad
    tmp.replace(path)  # a file appears whole or not at all
    return path, n_out


def _check(rows: int, start: date, end: date) -> None:
    if rows < 1_000:
        raise ValueError(f"rows must be at least 1000, got {rows}")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")


def generate(
    out_dir: Path,
    rows: int = 1_000_000,
    start: date = date(2019, 10, 1),
    end: date = date(2019, 11, 30),
    seed: int = 42,
    bad_rate: float = 0.0,
    compress: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Write one file per day from `start` to `end` (inclusive); returns the paths."""
    _check(rows, start, end)
    out_dir.mkdir(parents=True, exist_ok=True)
    cat = build_catalog(rows, seed)
    days = [start + timedelta(d) for d in range((end - start).days + 1)]
    per_day = np.random.default_rng([seed, 2]).multinomial(rows, _day_weights(days))
    paths, written = [], 0
    for i, (day, n_day) in enumerate(zip(days, per_day, strict=True)):
        path, n_out = _write_day(cat, out_dir, day, n_day, seed, bad_rate, compress)
        paths.append(path)
        written += n_out
        if progress:
            _progress(i + 1, len(days), written, path.name)
    if progress:
        print(file=sys.stderr)
    return paths


def extend(
    out_dir: Path,
    days: list[date],
    rows: int = 1_000_000,
    start: date = date(2019, 10, 1),
    end: date = date(2019, 11, 30),
    seed: int = 42,
    bad_rate: float = 0.0,
    compress: bool = False,
) -> list[Path]:
    """The files of `days` that continue the data set `generate(rows, start, end, seed)`: the
    same catalog and users, each day with the volume its weight gives within that data set
    (a daily arrival after the data set, for the daily job). Returns the paths."""
    _check(rows, start, end)
    out_dir.mkdir(parents=True, exist_ok=True)
    cat = build_catalog(rows, seed)
    span = [start + timedelta(d) for d in range((end - start).days + 1)]
    total = float(np.sum(_day_weights_raw(span)))
    paths = []
    for day in days:
        n_day = round(rows * float(_day_weights_raw([day])[0]) / total)
        paths.append(_write_day(cat, out_dir, day, n_day, seed, bad_rate, compress)[0])
    return paths


def _progress(done: int, total: int, rows: int, name: str) -> None:
    width = 30
    filled = int(width * done / total)
    bar = "#" * filled + "-" * (width - filled)
    sys.stderr.write(f"\r[{bar}] {done}/{total} files, {rows:,} rows  {name}   ")
    sys.stderr.flush()
