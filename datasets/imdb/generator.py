"""A synthetic IMDb, faithful where join ordering cares, written to a DuckDB file.

What it keeps from the real May-2013 snapshot behind JOB (see IMDB_STATS.md):
- the 21 tables with JOB's column names and types, the real lookup tables, and row counts at a
  scale factor (default 0.01: title 25,283, cast_info 362,443, ...);
- foreign keys that always resolve;
- the real shares where they steer selectivity (gender, company types 1 and 2 only, production
  years skewed to recent ones, country codes with '[us]' ~36% and ~10% NULL, note NULL rates);
- correlated skew: one log-normal popularity ``z`` per title and ``y`` per person. A table T
  hanging off title draws its ``movie_id`` with probability proportional to ``z ** beta_T``. For
  log-normal ``z`` (sigma 1) the join of two such tables on movie_id is ``exp(beta_A * beta_B)``
  times the independent-uniform estimate, so the betas below are solved from the real ratios
  (mk x mi 8.9, mk x mc 7.5, mc x mi 4.4, ci x mk 3.3, ci x mc 2.2, ci x mi 2.2; ci x pi 10.6
  and an x ci 4.6 on person_id);
- the literals the JOB queries filter on, mixed into the value pools, plus one planted witness
  per JOB query (see ``_witness.py``) so that each query's filters and joins are satisfiable.

Everything is numpy-vectorised and bulk-inserted from pandas; deterministic by seed.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Callable

import duckdb
import numpy as np
import pandas as pd

from . import _values as V
from ._witness import inject_literals, plant_witnesses
from .config import GENERATOR_VERSION, ImdbConfig, build_owner_gone, database_path, database_problem
from .schema import TABLES, create_table_sql

logger = logging.getLogger(__name__)

# Exponents on the shared popularity (see module docstring).
# movie_info_idx's picks which titles have its three rows (drawn without replacement): 1.6 gives
# mi x mi_idx 2.7 and mk x mi_idx 3.9 against IMDb's 2.58 and 4.22.
BETA_MOVIE = {"cast_info": 0.65, "movie_info": 1.18, "movie_companies": 1.18,
              "movie_keyword": 1.84, "movie_info_idx": 1.6, "aka_title": 1.0,
              "complete_cast": 1.0, "movie_link": 1.0}
BETA_PERSON = {"cast_info": 1.2, "person_info": 1.97, "aka_name": 1.27}


# --- small vectorised helpers -----------------------------------------------------------------
def _zipf(n: int, s: float) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1) ** s
    return p / p.sum()


def _draw_fk(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """1-based ids drawn with probability proportional to ``weights``."""
    p = weights / weights.sum()
    return rng.choice(len(weights), size=size, p=p).astype(np.int64) + 1


def _choice(rng: np.random.Generator, pool: list, size: int, p=None) -> np.ndarray:
    arr = np.array(pool, dtype=object)
    if p is not None:
        p = np.asarray(p, dtype=float)
        p = p / p.sum()
    return arr[rng.choice(len(arr), size=size, p=p)]


def _join_str(*parts: np.ndarray | str) -> np.ndarray:
    out = None
    for part in parts:
        s = pd.Series(part) if not isinstance(part, str) else part
        out = s if out is None else out + s
    return np.asarray(out, dtype=object)


def _pcode(rng: np.random.Generator, first: np.ndarray) -> np.ndarray:
    digits = rng.integers(0, 1000, size=len(first))
    return _join_str(pd.Series(first).str[0].str.upper().to_numpy(),
                     pd.Series(digits).map("{:03d}".format).to_numpy())


def _md5(rng: np.random.Generator, n: int) -> np.ndarray:
    hexes = rng.integers(0, 2**63 - 1, size=(n, 2), dtype=np.int64)
    return np.array([f"{a:016x}{b:016x}" for a, b in hexes], dtype=object)


def _nullify(rng: np.random.Generator, values: np.ndarray, rate: float) -> np.ndarray:
    values = values.astype(object)
    values[rng.random(len(values)) < rate] = None
    return values


def _years(rng: np.random.Generator, n: int) -> np.ndarray:
    """production_year 1880-2019 skewed to recent: >1990 69%, >2000 55%, >2010 15.5%, 2007 4.7%,
    after 2014 almost none (the snapshot is from 2013), 3% NULL."""
    years = np.arange(1880, 2020)
    w = np.zeros(len(years))
    for lo, hi, share, growth in ((1880, 1990, 0.278, 1.04), (1991, 2000, 0.146, 1.03),
                                  (2001, 2010, 0.344, 1.03), (2011, 2013, 0.1548, 1.0),
                                  (2014, 2019, 0.0002, 0.5)):
        idx = (years >= lo) & (years <= hi) & (years != 2007)
        b = growth ** np.arange(idx.sum())
        w[idx] = share * b / b.sum()
    w[years == 2007] = 0.047
    out = rng.choice(years, size=n, p=w / w.sum()).astype(object)
    out[rng.random(n) < 0.03] = None
    return out


# --- table builders ------------------------------------------------------------------------
def _lookups() -> dict[str, pd.DataFrame]:
    def lk(values: list[str], col: str) -> pd.DataFrame:
        return pd.DataFrame({"id": np.arange(1, len(values) + 1), col: values})
    return {
        "kind_type": lk(V.KIND_TYPE, "kind"), "company_type": lk(V.COMPANY_TYPE, "kind"),
        "comp_cast_type": lk(V.COMP_CAST_TYPE, "kind"), "role_type": lk(V.ROLE_TYPE, "role"),
        "link_type": lk(V.LINK_TYPE, "link"), "info_type": lk(V.INFO_TYPE, "info"),
    }


def _person_names(rng: np.random.Generator, n: int, gender: np.ndarray) -> np.ndarray:
    first = np.where(gender == "f", _choice(rng, V.FIRST_F, n, _zipf(len(V.FIRST_F), 0.7)),
                     _choice(rng, V.FIRST_M, n, _zipf(len(V.FIRST_M), 0.7)))
    last = _choice(rng, V.SURNAMES, n, _zipf(len(V.SURNAMES), 0.6))
    return _join_str(last, ", ", first)


def generate_tables(config: ImdbConfig,
                    progress: Callable[[str], None] | None = None) -> dict[str, pd.DataFrame]:
    """All 21 tables as DataFrames (before witnesses), keyed by table name."""
    rng = np.random.default_rng(config.seed)
    step = progress or (lambda name: None)
    t = _lookups()
    n_t, n_n = config.rows("title"), config.rows("name")
    z = rng.lognormal(0.0, 1.0, n_t)  # title popularity
    y = rng.lognormal(0.0, 1.0, n_n)  # person popularity

    # title: kinds (no 'tv mini series', as on real data), years, episodes of series.
    kind = rng.choice([1, 2, 3, 4, 6, 7], size=n_t, p=[0.28, 0.05, 0.05, 0.06, 0.02, 0.54])
    year = _years(rng, n_t)
    words = _choice(rng, V.TITLE_WORDS, (n_t * 3), _zipf(len(V.TITLE_WORDS), 0.5)).reshape(n_t, 3)
    n_words = rng.integers(1, 4, n_t)
    title_str = np.where(n_words == 1, words[:, 0],
                         np.where(n_words == 2, _join_str(words[:, 0], " ", words[:, 1]),
                                  _join_str(words[:, 0], " ", words[:, 1], " ", words[:, 2])))
    series_ids = np.flatnonzero(kind == 2) + 1
    episode_of = np.full(n_t, None, dtype=object)
    is_ep = kind == 7
    if len(series_ids):
        episode_of[is_ep] = rng.choice(series_ids, size=is_ep.sum())
    t["title"] = pd.DataFrame({
        "id": np.arange(1, n_t + 1), "title": title_str, "imdb_index": None, "kind_id": kind,
        "production_year": year, "imdb_id": None,
        "phonetic_code": _pcode(rng, title_str),
        "episode_of_id": episode_of,
        "season_nr": np.where(is_ep, rng.integers(1, 12, n_t), None),
        "episode_nr": np.where(is_ep, rng.integers(1, 25, n_t), None),
        "series_years": np.where(kind == 2, "2001-2005", None), "md5sum": _md5(rng, n_t)})
    step("title")

    gender = _choice(rng, ["m", "f", None], n_n, [0.417, 0.231, 0.352])
    pname = _person_names(rng, n_n, gender)
    t["name"] = pd.DataFrame({
        "id": np.arange(1, n_n + 1), "name": pname, "imdb_index": None, "imdb_id": None,
        "gender": gender, "name_pcode_cf": _pcode(rng, pname),
        "name_pcode_nf": _pcode(rng, pd.Series(pname).str.split(", ").str[-1].to_numpy()),
        "surname_pcode": _pcode(rng, pname), "md5sum": _md5(rng, n_n)})
    step("name")

    n_ch = config.rows("char_name")
    ch = np.where(rng.random(n_ch) < 0.3, _choice(rng, V.CHAR_NAMES, n_ch),
                  _person_names(rng, n_ch, _choice(rng, ["m", "f"], n_ch)))
    ch = np.array([s.split(", ")[-1] + " " + s.split(", ")[0] if ", " in s else s for s in ch],
                  dtype=object)
    t["char_name"] = pd.DataFrame({
        "id": np.arange(1, n_ch + 1), "name": ch, "imdb_index": None, "imdb_id": None,
        "name_pcode_nf": _pcode(rng, ch), "surname_pcode": _pcode(rng, ch),
        "md5sum": _md5(rng, n_ch)})

    n_cn = config.rows("company_name")
    codes = list(V.COUNTRY_CODES)
    cshare = np.array(list(V.COUNTRY_CODES.values()))
    other = 1.0 - 0.10 - cshare.sum()
    code = _choice(rng, codes + ["[xx]", None], n_cn, list(cshare) + [other, 0.10])
    cname = _join_str(_choice(rng, V.TITLE_WORDS + V.SURNAMES, n_cn), " ",
                      _choice(rng, V.COMPANY_SUFFIX, n_cn))
    t["company_name"] = pd.DataFrame({
        "id": np.arange(1, n_cn + 1), "name": cname, "country_code": code, "imdb_id": None,
        "name_pcode_nf": _pcode(rng, cname), "name_pcode_sf": _pcode(rng, cname),
        "md5sum": _md5(rng, n_cn)})

    n_k = config.rows("keyword")
    kw = np.array([f"{a.lower()}-{b.lower()}-{i}" for i, (a, b) in enumerate(zip(
        _choice(rng, V.TITLE_WORDS, n_k), _choice(rng, V.TITLE_WORDS, n_k)))], dtype=object)
    t["keyword"] = pd.DataFrame({"id": np.arange(1, n_k + 1), "keyword": kw,
                                 "phonetic_code": _pcode(rng, kw)})
    step("lookups")

    # float64 first: fillna on the object array warns under pandas 2.2 (a FutureWarning on stderr)
    years_by_movie = np.asarray(pd.Series(year, dtype="float64").fillna(2005).astype(int))

    # cast_info: fan-out by title and person popularity; role follows gender.
    n_ci = config.rows("cast_info")
    ci_movie = _draw_fk(rng, z ** BETA_MOVIE["cast_info"], n_ci)
    ci_person = _draw_fk(rng, y ** BETA_PERSON["cast_info"], n_ci)
    g = gender[ci_person - 1]
    u = rng.random(n_ci)
    other_roles = rng.choice([3, 4, 5, 6, 7, 8, 9, 10, 11], size=n_ci,
                             p=[0.25, 0.15, 0.05, 0.06, 0.04, 0.15, 0.06, 0.2, 0.04])
    role = np.where((g == "m") & (u < 0.7), 1, np.where((g == "f") & (u < 0.7), 2, other_roles))
    # person_role_id (a character) is set in 48.5% of IMDb's rows, and only actors and actresses
    # play one here: they take it at 0.485 / their share of the rows (every one of them when that
    # passes 1; about 45% of the rows are theirs). 0.485 of them alone gave 22% of the rows.
    actor = role <= 2
    has_char = (rng.random(n_ci) < min(1.0, 0.485 / max(float(actor.mean()), 1e-9))) & actor
    char_id = np.where(has_char, _draw_fk(rng, 1.0 / np.arange(1, n_ch + 1) ** 0.6, n_ci), None)
    # V.CAST_NOTES are shares among the non-NULL notes; the rest of them are credits "(as ...)"
    # (normalised to all of the notes, every listed one came out twice as often as on IMDb)
    listed = list(V.CAST_NOTES.values())
    note = _choice(rng, list(V.CAST_NOTES) + [None], n_ci, listed + [1.0 - sum(listed)])
    credited = pd.isna(note)
    note[credited] = _join_str("(as ", _choice(rng, V.FIRST_M + V.FIRST_F, int(credited.sum())), " ",
                               _choice(rng, V.SURNAMES, int(credited.sum())), ")")
    note = np.where(rng.random(n_ci) < 0.55, None, note)
    t["cast_info"] = pd.DataFrame({
        "id": np.arange(1, n_ci + 1), "person_id": ci_person, "movie_id": ci_movie,
        "person_role_id": char_id, "note": note,
        "nr_order": np.where(rng.random(n_ci) < 0.6, rng.integers(1, 60, n_ci), None),
        "role_id": role})
    step("cast_info")

    # movie_info: info type, then a value of that type.
    n_mi = config.rows("movie_info")
    mi_movie = _draw_fk(rng, z ** BETA_MOVIE["movie_info"], n_mi)
    types = np.array(list(V.MOVIE_INFO_TYPES))
    mi_type = rng.choice(types, size=n_mi, p=np.array(list(V.MOVIE_INFO_TYPES.values()))
                         / sum(V.MOVIE_INFO_TYPES.values()))
    info = _join_str("info-", pd.Series(rng.integers(0, 5000, n_mi)).astype(str).to_numpy())
    def fill(tid: int, values: np.ndarray) -> None:
        info[mi_type == tid] = values
    m = lambda tid: int((mi_type == tid).sum())  # noqa: E731
    fill(3, _choice(rng, V.GENRES, m(3), _zipf(len(V.GENRES), 0.9)))
    fill(8, _choice(rng, V.COUNTRIES, m(8), _zipf(len(V.COUNTRIES), 1.1)))
    fill(4, _choice(rng, V.LANGUAGES, m(4), _zipf(len(V.LANGUAGES), 1.2)))
    fill(1, pd.Series(rng.integers(5, 180, m(1))).astype(str).to_numpy())
    fill(2, _choice(rng, V.COLOR_INFO, m(2), [0.8, 0.2]))
    fill(6, _choice(rng, V.SOUND_MIX, m(6), _zipf(len(V.SOUND_MIX), 1.0)))
    fill(5, _choice(rng, V.CERTIFICATES, m(5)))
    k16 = mi_type == 16
    fill(16, _join_str(_choice(rng, V.COUNTRIES, m(16), _zipf(len(V.COUNTRIES), 1.0)), ":",
                       pd.Series(rng.integers(1, 29, m(16))).astype(str).to_numpy(), " ",
                       _choice(rng, V.MONTHS, m(16)), " ",
                       pd.Series(years_by_movie[mi_movie[k16] - 1]).astype(str).to_numpy()))
    fill(105, _join_str("$", pd.Series(rng.integers(1, 200, m(105)) * 100_000)
                        .map("{:,}".format).to_numpy()))
    mi_note = np.where(rng.random(n_mi) < 0.85, None,
                       _choice(rng, ["(USA)", "(premiere)", "(internet)", "(TV)",
                                     "(limited)", "(DVD premiere)", "(re-release)"], n_mi))
    t["movie_info"] = pd.DataFrame({"id": np.arange(1, n_mi + 1), "movie_id": mi_movie,
                                    "info_type_id": mi_type, "info": info, "note": mi_note})
    step("movie_info")

    # movie_info_idx: as on IMDb, a title has one votes distribution, one votes and one rating, or
    # none of them (IMDB_STATS.md: 459,925 titles, 18%, 3.0 rows each). The titles are drawn by
    # popularity z ** beta without replacement (the smallest exponential keys over the weights,
    # Efraimidis-Spirakis); the most popular of them are the top 250, the least the bottom 10.
    n_mx = config.rows("movie_info_idx")
    n_top, n_bottom = max(5, round(250 * config.scale)), max(2, round(10 * config.scale))
    n_body = n_mx - n_top - n_bottom
    n_rated = min(n_t, -(-n_body // 3))
    keys = rng.exponential(size=n_t) / z ** BETA_MOVIE["movie_info_idx"]
    rated = np.argsort(keys, kind="stable")[:n_rated]
    rated = rated[np.argsort(-z[rated], kind="stable")]         # the most popular first
    shuffle = rng.permutation(n_body)
    mx_movie = np.repeat(rated + 1, 3)[:n_body][shuffle]
    mx_type = np.tile([99, 100, 101], n_rated)[:n_body][shuffle]
    rating = np.clip(rng.normal(6.2, 1.4, n_body) + 0.3 * np.log(z[mx_movie - 1]), 1.0, 10.0)
    mx_info = np.where(mx_type == 101, pd.Series(rating).map("{:.1f}".format).to_numpy(),
                       np.where(mx_type == 100,
                                pd.Series(np.ceil(5 * z[mx_movie - 1] ** 2 * rng.random(n_body)
                                                  + 5).astype(int)).astype(str).to_numpy(),
                                _join_str("00", pd.Series(rng.integers(10**7, 10**8, n_body))
                                          .astype(str).to_numpy())))
    rank_movies = np.concatenate([rated[:n_top] + 1, rated[len(rated) - n_bottom:] + 1])
    rank_types = np.array([112] * n_top + [113] * n_bottom)
    rank_info = np.array([str(i + 1) for i in range(n_top)] + [str(i + 1) for i in range(n_bottom)],
                         dtype=object)
    t["movie_info_idx"] = pd.DataFrame({
        "id": np.arange(1, n_mx + 1),
        "movie_id": np.concatenate([mx_movie, rank_movies]),
        "info_type_id": np.concatenate([mx_type, rank_types]),
        "info": np.concatenate([mx_info, rank_info]), "note": None})
    step("movie_info_idx")

    n_mc = config.rows("movie_companies")
    mc_movie = _draw_fk(rng, z ** BETA_MOVIE["movie_companies"], n_mc)
    mc_note = _join_str("(", pd.Series(years_by_movie[mc_movie - 1]).astype(str).to_numpy(), ") ",
                        _choice(rng, V.COMPANY_NOTES, n_mc, _zipf(len(V.COMPANY_NOTES), 0.8)))
    mc_note = np.where(rng.random(n_mc) < 0.5,
                       _choice(rng, V.COMPANY_NOTES, n_mc, _zipf(len(V.COMPANY_NOTES), 0.8)),
                       mc_note)
    t["movie_companies"] = pd.DataFrame({
        "id": np.arange(1, n_mc + 1), "movie_id": mc_movie,
        "company_id": _draw_fk(rng, 1.0 / np.arange(1, n_cn + 1) ** 0.9, n_mc),
        "company_type_id": rng.choice([1, 2], size=n_mc, p=[0.55, 0.45]),
        "note": _nullify(rng, mc_note, 0.488)})

    n_mk = config.rows("movie_keyword")
    t["movie_keyword"] = pd.DataFrame({
        "id": np.arange(1, n_mk + 1),
        "movie_id": _draw_fk(rng, z ** BETA_MOVIE["movie_keyword"], n_mk),
        "keyword_id": _draw_fk(rng, 1.0 / np.arange(1, n_k + 1) ** 0.9, n_mk)})
    step("movie_companies, movie_keyword")

    n_pi = config.rows("person_info")
    pi_type = rng.choice(list(V.PERSON_INFO_TYPES), size=n_pi,
                         p=np.array(list(V.PERSON_INFO_TYPES.values()))
                         / sum(V.PERSON_INFO_TYPES.values()))
    pi_info = _join_str("bio-", pd.Series(rng.integers(0, 10**6, n_pi)).astype(str).to_numpy())
    pi_info[pi_type == 22] = _join_str(pd.Series(rng.integers(150, 200, (pi_type == 22).sum()))
                                       .astype(str).to_numpy(), " cm")
    t["person_info"] = pd.DataFrame({
        "id": np.arange(1, n_pi + 1),
        "person_id": _draw_fk(rng, y ** BETA_PERSON["person_info"], n_pi),
        "info_type_id": pi_type, "info": pi_info,
        "note": np.where(rng.random(n_pi) < 0.7, None,
                         _join_str(_choice(rng, V.FIRST_M + V.FIRST_F, n_pi), " ",
                                   _choice(rng, V.SURNAMES, n_pi)))})

    n_an = config.rows("aka_name")
    an_person = _draw_fk(rng, y ** BETA_PERSON["aka_name"], n_an)
    an_name = pname[an_person - 1]
    t["aka_name"] = pd.DataFrame({
        "id": np.arange(1, n_an + 1), "person_id": an_person,
        "name": np.where(rng.random(n_an) < 0.5, _join_str(an_name, " Jr."),
                         _join_str(pd.Series(an_name).str.split(", ").str[-1].to_numpy(), " ",
                                   pd.Series(an_name).str.split(", ").str[0].to_numpy())),
        "imdb_index": None, "name_pcode_cf": _pcode(rng, an_name),
        "name_pcode_nf": _pcode(rng, an_name), "surname_pcode": _pcode(rng, an_name),
        "md5sum": _md5(rng, n_an)})

    n_at = config.rows("aka_title")
    at_movie = _draw_fk(rng, z ** BETA_MOVIE["aka_title"], n_at)
    t["aka_title"] = pd.DataFrame({
        "id": np.arange(1, n_at + 1), "movie_id": at_movie,
        "title": _join_str(title_str[at_movie - 1], " (", _choice(rng, V.COUNTRIES, n_at), ")"),
        "imdb_index": None, "kind_id": kind[at_movie - 1],
        "production_year": year[at_movie - 1], "phonetic_code": _pcode(rng, title_str[at_movie - 1]),
        "episode_of_id": None, "season_nr": None, "episode_nr": None,
        "note": _nullify(rng, _join_str("(", _choice(rng, V.COUNTRIES, n_at), ")"), 0.4),
        "md5sum": _md5(rng, n_at)})

    n_cc = config.rows("complete_cast")
    t["complete_cast"] = pd.DataFrame({
        "id": np.arange(1, n_cc + 1),
        "movie_id": _draw_fk(rng, z ** BETA_MOVIE["complete_cast"], n_cc),
        "subject_id": rng.choice([1, 2], size=n_cc, p=[0.55, 0.45]),
        "status_id": rng.choice([3, 4], size=n_cc, p=[0.8, 0.2])})

    n_ml = config.rows("movie_link")
    t["movie_link"] = pd.DataFrame({
        "id": np.arange(1, n_ml + 1),
        "movie_id": _draw_fk(rng, z ** BETA_MOVIE["movie_link"], n_ml),
        "linked_movie_id": _draw_fk(rng, z ** BETA_MOVIE["movie_link"], n_ml),
        "link_type_id": rng.choice(np.arange(1, 19), size=n_ml,
                                   p=_zipf(18, 0.8)[np.argsort(rng.permutation(18))])})
    step("person and link tables")
    return t


def _write(tmp: Path, tables: dict[str, pd.DataFrame], config: ImdbConfig,
           rng: np.random.Generator, injected: int, progress: Callable[[str], None] | None) -> None:
    """Insert the tables, plant the witnesses and write the metadata into a new DuckDB file."""
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    con.execute("SET enable_progress_bar = false")  # it would write to stdout
    try:
        # One DuckDB thread while it scans the pandas frames. Scanning their object columns runs
        # Python code, and on Ctrl-C DuckDB returns from execute() while its worker threads still
        # finish the interrupted scan's tasks; a worker that reaches for the GIL while the
        # interpreter exits is ended with pthread_exit, whose unwinding DuckDB's catch (...)
        # swallows, and glibc aborts the process ("FATAL: exception not rethrown", SIGABRT).
        # With one thread every task runs in the calling thread, done when execute() returns.
        con.execute("SET threads = 1")
        for name, df in tables.items():
            cols = [c for c, _ in TABLES[name]]
            df = df.reindex(columns=cols)
            con.execute(create_table_sql(name))
            con.register("_df", df)
            casts = ", ".join(f"CAST({c} AS {typ}) AS {c}" for c, typ in TABLES[name])
            con.execute(f"INSERT INTO {name} SELECT {casts} FROM _df")
            con.unregister("_df")
        con.execute("RESET threads")  # the witnesses' queries read no Python objects
        if progress:
            progress("bulk insert")
        report: dict = {"literal_cells": injected}
        if config.witnesses:
            report.update(plant_witnesses(con, rng))
            if progress:
                progress("witnesses")
        con.execute("CREATE TABLE _sysml_meta (key VARCHAR, value VARCHAR)")
        meta = {"generator": "sysml_datasets.imdb", "version": GENERATOR_VERSION,
                "scale": config.scale, "seed": config.seed, "witnesses": config.witnesses,
                "fingerprint": config.fingerprint, "witness_report": report}
        con.executemany("INSERT INTO _sysml_meta VALUES (?, ?)",
                        [(k, json.dumps(v)) for k, v in meta.items()])
        con.execute("CHECKPOINT")
    finally:
        con.close()


def build_database(path: str | os.PathLike, config: ImdbConfig = ImdbConfig(),
                   progress: Callable[[str], None] | None = None) -> Path:
    """Generate the database and write it atomically to ``path`` (a DuckDB file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    tables = generate_tables(config, progress)
    rng = np.random.default_rng(config.seed + 1)
    injected = inject_literals(tables, rng)
    _remove_stale_temps(path)
    tmp = path.with_name(f".{path.name}.{_temp_owner()}.tmp")
    try:
        _write(tmp, tables, config, rng, injected, progress)
        os.replace(tmp, path)
    finally:  # on any exception, Ctrl-C included, leave no half-written file behind
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
    if progress:
        progress("written")
    logger.info("built %s (scale %s, seed %s) in %.1f s", path, config.scale, config.seed,
                time.perf_counter() - start)
    return path


def _temp_owner() -> str:
    """``<host>.<pid>`` of this process: a build's temp file names its owner, so a cache folder
    shared between machines (NFS) never has one machine remove another's live temp file."""
    return f"{socket.gethostname()}.{os.getpid()}"


def _remove_stale_temps(path: Path) -> None:
    """Remove temporary files left by builds of ``path`` on this machine whose process is gone
    (killed hard). Temps named by another host are left alone: its pids mean nothing here."""
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return
    prefix = f".{path.name}."
    for tmp in path.parent.glob(f"{prefix}*.tmp*"):
        if build_owner_gone(tmp.name[len(prefix):].split(".tmp")[0]):  # "<host>.<pid>"
            logger.info("removing %s, left by a build that did not finish", tmp)
            tmp.unlink(missing_ok=True)


def ensure_database(config: ImdbConfig = ImdbConfig(), cache_dir: str | os.PathLike | None = None,
                    progress: Callable[[str], None] | None = None) -> Path:
    """The cached database of ``config``, built first if missing or not a finished database of
    ``config`` (see :func:`database_problem`)."""
    path = database_path(config, cache_dir)
    if path.exists():
        problem = database_problem(path, config)
        if problem is None:
            return path
        logger.warning("rebuilding %s: %s", path, problem)
    build_database(path, config, progress)
    return path
