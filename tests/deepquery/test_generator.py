from __future__ import annotations

import duckdb
import numpy as np
import pytest

from deepquery.query_graph import parse_query
from sysml_datasets.imdb import ImdbConfig, generate_tables
from sysml_datasets.imdb.schema import COLUMNS, FOREIGN_KEYS, TABLES


@pytest.fixture(scope="module")
def con(imdb_db):
    c = duckdb.connect(str(imdb_db), read_only=True)
    yield c
    c.close()


def _ratio(con, a: str, b: str, col: str, ref: str) -> float:
    """|A join B| on col divided by the independent-uniform estimate |A||B|/|ref|."""
    n = con.execute(f"SELECT count(*) FROM {ref}").fetchone()[0]
    na = con.execute(f"SELECT count(*) FROM {a}").fetchone()[0]
    nb = con.execute(f"SELECT count(*) FROM {b}").fetchone()[0]
    joined = con.execute(
        f"SELECT sum(x.c * y.c) FROM (SELECT {col} k, count(*) c FROM {a} GROUP BY 1) x "
        f"JOIN (SELECT {col} k, count(*) c FROM {b} GROUP BY 1) y USING (k)").fetchone()[0]
    return joined / (na * nb / n)


@pytest.mark.parametrize("a, b, col, ref", [
    ("movie_keyword", "movie_info", "movie_id", "title"),
    ("movie_keyword", "movie_companies", "movie_id", "title"),
    ("cast_info", "movie_companies", "movie_id", "title"),
    ("cast_info", "movie_info", "movie_id", "title"),
    ("movie_info", "movie_info_idx", "movie_id", "title"),
    ("cast_info", "person_info", "person_id", "name"),
])
def test_correlated_skew_makes_joins_larger_than_uniform(con, a, b, col, ref):
    assert _ratio(con, a, b, col, ref) > 2.0


def test_uniform_foreign_keys_would_give_ratio_near_one():
    # The measure itself: independent uniform movie_ids give about 1 (so > 2 is the skew's doing).
    rng = np.random.default_rng(0)
    a, b, n = rng.integers(0, 1000, 20000), rng.integers(0, 1000, 30000), 1000
    ca, cb = np.bincount(a, minlength=n), np.bincount(b, minlength=n)
    assert abs((ca * cb).sum() / (len(a) * len(b) / n) - 1.0) < 0.1


def test_foreign_keys_always_resolve(con):
    for table, cols in TABLES.items():
        for c, _ in cols:
            if c in FOREIGN_KEYS:
                ref = FOREIGN_KEYS[c]
                dangling = con.execute(
                    f"SELECT count(*) FROM {table} x WHERE x.{c} IS NOT NULL AND NOT EXISTS "
                    f"(SELECT 1 FROM {ref} r WHERE r.id = x.{c})").fetchone()[0]
                assert dangling == 0, (table, c)


def test_lookup_tables_and_shares(con):
    assert con.execute("SELECT count(*) FROM info_type").fetchone()[0] == 113
    assert con.execute("SELECT info FROM info_type WHERE id = 112").fetchone()[0] == "top 250 rank"
    assert con.execute("SELECT count(*) FROM kind_type").fetchone()[0] == 7
    assert {r[0] for r in con.execute("SELECT DISTINCT company_type_id FROM movie_companies").fetchall()} == {1, 2}
    g = dict(con.execute("SELECT coalesce(gender, 'null'), count(*) / sum(count(*)) OVER () "
                         "FROM name GROUP BY 1").fetchall())
    assert abs(g["m"] - 0.417) < 0.03 and abs(g["f"] - 0.231) < 0.03
    us = con.execute("SELECT avg((country_code = '[us]')::INT), avg((country_code IS NULL)::INT) "
                     "FROM company_name").fetchone()
    assert 0.30 < us[0] < 0.42 and 0.06 < us[1] < 0.14
    y = con.execute("SELECT avg((production_year > 2000)::INT) FROM title "
                    "WHERE production_year IS NOT NULL").fetchone()[0]
    assert 0.5 < y < 0.62


def test_generation_is_deterministic_by_seed():
    a = generate_tables(ImdbConfig(scale=0.0005, seed=3))
    b = generate_tables(ImdbConfig(scale=0.0005, seed=3))
    c = generate_tables(ImdbConfig(scale=0.0005, seed=4))
    for t in ("title", "cast_info", "movie_keyword", "name"):
        assert a[t].equals(b[t]), t
    assert not a["cast_info"].equals(c["cast_info"])


def test_every_job_base_filter_selects_a_row(con, job_dir):
    empty = []
    for f in sorted(job_dir.glob("[0-9]*.sql")):
        g = parse_query(f.read_text(), COLUMNS, f.stem)
        for i, r in enumerate(g.relations):
            if g.filters[i]:
                where = " AND ".join(f"({p})" for p in g.filters[i])
                from deepquery.query_graph import quote
                n = con.execute(f"SELECT count(*) FROM {r.table} AS {quote(r.alias)} "
                                f"WHERE {where}").fetchone()[0]
                if n == 0:
                    empty.append(f"{f.stem}.{r.alias}")
    assert empty == []


def test_config_validates_fields():
    with pytest.raises(ValueError, match="scale"):
        ImdbConfig(scale=0)
    with pytest.raises(ValueError, match="seed"):
        ImdbConfig(seed=-1)
    # the library took any size of seed (only the CLI bounded it): 10**250 named a cache file
    # too long to create (OSError: File name too long)
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*64 - 1\]"):
        ImdbConfig(seed=2**64)
    assert ImdbConfig(seed=2**64 - 1).seed == 2**64 - 1


def _tables(scale: float) -> dict:
    """The tables at ``scale`` (seed 0), literals injected as a build does."""
    from sysml_datasets.imdb._witness import inject_literals
    tables = generate_tables(ImdbConfig(scale=scale, seed=0))
    inject_literals(tables, np.random.default_rng(1))
    return tables


@pytest.fixture(scope="module")
def tables_001():
    """The tables at scale 0.001 (36,244 cast_info rows)."""
    return _tables(0.001)


def test_cast_info_notes_have_imdbs_shares(tables_001):
    # IMDB_STATS.md: ci.note = '(voice)' 713,828 and LIKE '%(producer)%' 1,435,439 of 36,244,344
    # rows (1.97%, 3.96%); the note pool's shares are among non-NULL notes, which were scaled up
    # to all of them (4.2%, 8.1%)
    note = tables_001["cast_info"]["note"]
    assert abs((note == "(voice)").mean() - 0.0197) < 0.005
    assert abs(note.fillna("").str.contains("(producer)", regex=False).mean() - 0.0396) < 0.007
    assert 0.5 < note.isna().mean() < 0.6


def test_cast_info_person_role_id_is_set_about_as_often_as_on_imdb(tables_001):
    # IMDB_STATS.md: non-NULL in 48.5% of rows; drawn as 48.5% of the actor and actress rows only
    # (about 45% of the rows), it was 22%. Only actors and actresses play characters here.
    ci = tables_001["cast_info"]
    has = ci["person_role_id"].notna()
    assert 0.42 < has.mean() < 0.52
    assert set(ci.loc[has, "role_id"]) <= {1, 2}


def test_job_keywords_take_the_lowest_keyword_ids(tables_001):
    # the most used ids under movie_keyword's Zipf: id 1 took a generated keyword, the literals 2..
    from sysml_datasets.imdb._witness import collect_literals
    literal = set(collect_literals(list(tables_001["info_type"]["info"]))[("keyword", "keyword", None)])
    first = tables_001["keyword"]["keyword"].iloc[:len(literal)]
    assert set(first) == literal


@pytest.fixture(scope="module")
def tables_01():
    """The tables at scale 0.01 (2,350 companies)."""
    return _tables(0.01)


def test_job_literals_keep_imdbs_shares_where_the_pool_holds_them(tables_01):
    # IMDB_STATS.md: '[ru]' 1,361 and '[nl]' 2,340 of 234,997 companies, mc.note NULL 48.8%.
    # The literals were mixed in at 5% of the rows over again (and into NULL cells): '[ru]' 1.7%,
    # '[nl]' 1.6%, mc.note NULL 44.7%.
    code = tables_01["company_name"]["country_code"]
    assert abs((code == "[ru]").mean() - 0.0058) < 0.004
    assert abs((code == "[nl]").mean() - 0.010) < 0.004
    assert abs(tables_01["movie_companies"]["note"].isna().mean() - 0.488) < 0.015
    # a literal the pool lacks is still there
    assert (code == "[sm]").any()


def test_a_title_with_movie_info_idx_has_one_votes_distribution_votes_and_rating(tables_01):
    # IMDB_STATS.md: 1,380,035 rows over 459,925 titles (18%), 3.0 a title: one row of each of
    # info types 99, 100, 101 (3 x 459,925 + 250 top + 10 bottom ranks). Drawn row by row, a
    # popular title had several ratings and 37% of the titles had some row.
    mx = tables_01["movie_info_idx"]
    body = mx[mx["info_type_id"].isin([99, 100, 101])]
    per = body.groupby(["movie_id", "info_type_id"]).size()
    assert per.max() == 1
    titles = body["movie_id"].nunique()
    assert abs(titles / len(tables_01["title"]) - 459_925 / 2_528_312) < 0.01
    assert len(body) / titles > 2.99
    ranked = set(mx.loc[mx["info_type_id"].isin([112, 113]), "movie_id"])
    assert ranked <= set(body["movie_id"])          # the ranked titles have votes and a rating
