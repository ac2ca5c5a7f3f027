"""The 21-table IMDb schema of the Join Order Benchmark: columns, types, keys and FK indexes.

Column names and types follow JOB's ``schema.sql`` (Leis et al. 2015), written as DuckDB types.
``FOREIGN_KEYS`` maps a referencing column to the table whose ``id`` it references;
``FK_INDEXES`` are the 23 secondary indexes of JOB's ``fkindexes.sql``.
"""
from __future__ import annotations

_I, _T = "INTEGER", "VARCHAR"

TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "aka_name": (("id", _I), ("person_id", _I), ("name", _T), ("imdb_index", _T),
                 ("name_pcode_cf", _T), ("name_pcode_nf", _T), ("surname_pcode", _T),
                 ("md5sum", _T)),
    "aka_title": (("id", _I), ("movie_id", _I), ("title", _T), ("imdb_index", _T),
                  ("kind_id", _I), ("production_year", _I), ("phonetic_code", _T),
                  ("episode_of_id", _I), ("season_nr", _I), ("episode_nr", _I), ("note", _T),
                  ("md5sum", _T)),
    "cast_info": (("id", _I), ("person_id", _I), ("movie_id", _I), ("person_role_id", _I),
                  ("note", _T), ("nr_order", _I), ("role_id", _I)),
    "char_name": (("id", _I), ("name", _T), ("imdb_index", _T), ("imdb_id", _I),
                  ("name_pcode_nf", _T), ("surname_pcode", _T), ("md5sum", _T)),
    "comp_cast_type": (("id", _I), ("kind", _T)),
    "company_name": (("id", _I), ("name", _T), ("country_code", _T), ("imdb_id", _I),
                     ("name_pcode_nf", _T), ("name_pcode_sf", _T), ("md5sum", _T)),
    "company_type": (("id", _I), ("kind", _T)),
    "complete_cast": (("id", _I), ("movie_id", _I), ("subject_id", _I), ("status_id", _I)),
    "info_type": (("id", _I), ("info", _T)),
    "keyword": (("id", _I), ("keyword", _T), ("phonetic_code", _T)),
    "kind_type": (("id", _I), ("kind", _T)),
    "link_type": (("id", _I), ("link", _T)),
    "movie_companies": (("id", _I), ("movie_id", _I), ("company_id", _I),
                        ("company_type_id", _I), ("note", _T)),
    "movie_info": (("id", _I), ("movie_id", _I), ("info_type_id", _I), ("info", _T),
                   ("note", _T)),
    "movie_info_idx": (("id", _I), ("movie_id", _I), ("info_type_id", _I), ("info", _T),
                       ("note", _T)),
    "movie_keyword": (("id", _I), ("movie_id", _I), ("keyword_id", _I)),
    "movie_link": (("id", _I), ("movie_id", _I), ("linked_movie_id", _I), ("link_type_id", _I)),
    "name": (("id", _I), ("name", _T), ("imdb_index", _T), ("imdb_id", _I), ("gender", _T),
             ("name_pcode_cf", _T), ("name_pcode_nf", _T), ("surname_pcode", _T),
             ("md5sum", _T)),
    "person_info": (("id", _I), ("person_id", _I), ("info_type_id", _I), ("info", _T),
                    ("note", _T)),
    "role_type": (("id", _I), ("role", _T)),
    "title": (("id", _I), ("title", _T), ("imdb_index", _T), ("kind_id", _I),
              ("production_year", _I), ("imdb_id", _I), ("phonetic_code", _T),
              ("episode_of_id", _I), ("season_nr", _I), ("episode_nr", _I),
              ("series_years", _T), ("md5sum", _T)),
}

#: Columns that may hold NULL (everything else is NOT NULL in JOB's DDL).
NULLABLE: frozenset[tuple[str, str]] = frozenset(
    (t, c) for t, cols in TABLES.items() for c, _ in cols
    if c not in ("id",) and not (
        (t, c) in {("aka_name", "person_id"), ("aka_name", "name"), ("aka_title", "movie_id"),
                   ("aka_title", "title"), ("aka_title", "kind_id"), ("cast_info", "person_id"),
                   ("cast_info", "movie_id"), ("cast_info", "role_id"), ("char_name", "name"),
                   ("comp_cast_type", "kind"), ("company_name", "name"),
                   ("company_type", "kind"), ("complete_cast", "subject_id"),
                   ("complete_cast", "status_id"), ("info_type", "info"),
                   ("keyword", "keyword"), ("kind_type", "kind"), ("link_type", "link"),
                   ("movie_companies", "movie_id"), ("movie_companies", "company_id"),
                   ("movie_companies", "company_type_id"), ("movie_info", "movie_id"),
                   ("movie_info", "info_type_id"), ("movie_info", "info"),
                   ("movie_info_idx", "movie_id"), ("movie_info_idx", "info_type_id"),
                   ("movie_info_idx", "info"), ("movie_keyword", "movie_id"),
                   ("movie_keyword", "keyword_id"), ("movie_link", "movie_id"),
                   ("movie_link", "linked_movie_id"), ("movie_link", "link_type_id"),
                   ("name", "name"), ("person_info", "person_id"),
                   ("person_info", "info_type_id"), ("person_info", "info"),
                   ("role_type", "role"), ("title", "title"), ("title", "kind_id")}
    )
)

#: Referencing column name -> referenced table (its ``id``).
FOREIGN_KEYS: dict[str, str] = {
    "movie_id": "title", "linked_movie_id": "title", "episode_of_id": "title",
    "person_id": "name", "person_role_id": "char_name", "company_id": "company_name",
    "company_type_id": "company_type", "info_type_id": "info_type", "keyword_id": "keyword",
    "kind_id": "kind_type", "link_type_id": "link_type", "role_id": "role_type",
    "subject_id": "comp_cast_type", "status_id": "comp_cast_type",
}

#: JOB's secondary indexes on foreign-key columns (table, column).
FK_INDEXES: frozenset[tuple[str, str]] = frozenset({
    ("movie_companies", "company_id"), ("movie_companies", "company_type_id"),
    ("movie_info_idx", "info_type_id"), ("movie_info", "info_type_id"),
    ("person_info", "info_type_id"), ("movie_keyword", "keyword_id"),
    ("aka_title", "kind_id"), ("title", "kind_id"), ("movie_link", "linked_movie_id"),
    ("movie_link", "link_type_id"), ("aka_title", "movie_id"), ("cast_info", "movie_id"),
    ("complete_cast", "movie_id"), ("movie_companies", "movie_id"),
    ("movie_info_idx", "movie_id"), ("movie_keyword", "movie_id"), ("movie_link", "movie_id"),
    ("movie_info", "movie_id"), ("aka_name", "person_id"), ("cast_info", "person_id"),
    ("person_info", "person_id"), ("cast_info", "person_role_id"), ("cast_info", "role_id"),
})

#: Table -> column names (for validating queries).
COLUMNS: dict[str, tuple[str, ...]] = {t: tuple(c for c, _ in cols) for t, cols in TABLES.items()}


def has_index(table: str, column: str) -> bool:
    """Whether JOB's physical design has an index on ``table.column`` (primary key or FK index)."""
    return column == "id" or (table, column) in FK_INDEXES


def create_table_sql(table: str) -> str:
    """``CREATE TABLE`` for one table in DuckDB syntax."""
    cols = []
    for c, typ in TABLES[table]:
        null = "" if (table, c) in NULLABLE else " NOT NULL"
        cols.append(f"{c} {typ}{' PRIMARY KEY' if c == 'id' else null}")
    return f"CREATE TABLE {table} ({', '.join(cols)})"
