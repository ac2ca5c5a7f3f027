"""The JOB queries' literals in the synthetic IMDb: value-pool injection and planted witnesses.

``job_specs.json`` (beside this file) holds, per JOB query, its aliases, equi-join columns and
base-table filters. Two passes use it:

1. ``inject_literals`` (pandas, before the bulk insert): every string literal a query compares a
   column with (``=``, ``IN``, and an instance of each ``LIKE`` pattern) that the column's values
   lack is mixed into them at a small share, into cells that are not NULL (a literal the values
   hold keeps their share, and the NULL rate stays); for movie_info / movie_info_idx /
   person_info only into rows of the info type the query pairs it with, so 'Drama' lands among
   genres, not budgets.
2. ``plant_witnesses`` (SQL, after the insert): per query, a row set that satisfies every filter
   and every join. Aliases are taken in order lookups, dimensions, facts; each first looks for an
   existing row consistent with the filter and the join values fixed so far, and only when none
   exists inserts a new row (a copy of a random row, so its other foreign keys resolve) with its
   filter solved column by column (DNF clause by clause) and its join columns set. Each planted
   row is checked against its filter in DuckDB; failures are counted, never hidden.
"""
from __future__ import annotations

import itertools
import json
import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import sqlglot
from sqlglot import exp

from .schema import TABLES

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

SPECS_PATH = Path(__file__).with_name("job_specs.json")
LOOKUPS = ("kind_type", "company_type", "comp_cast_type", "role_type", "link_type", "info_type")
DIMENSIONS = ("title", "name", "char_name", "company_name", "keyword")
_INFO_TABLES = ("movie_info", "movie_info_idx", "person_info")
# Share of a column's rows (of the paired info type) that take one of the queries' literals.
_SHARE = {("title", "title"): 0.004, ("name", "name"): 0.004, ("char_name", "name"): 0.01,
          ("aka_name", "name"): 0.01, ("aka_title", "title"): 0.01,
          ("company_name", "name"): 0.03, ("movie_companies", "note"): 0.08,
          ("cast_info", "note"): 0.03}
_DEFAULT_SHARE = 0.05


@lru_cache(maxsize=1)
def load_specs() -> dict:
    """The per-query specs shipped with the generator."""
    return json.loads(SPECS_PATH.read_text())["queries"]


@lru_cache(maxsize=4096)
def _parse(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="duckdb")


def like_regex(pattern: str) -> re.Pattern:
    """SQL LIKE pattern as a regular expression (case-sensitive, no escape character)."""
    out = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.compile(out, re.DOTALL)


def like_instance(pattern: str) -> str:
    """A short string matching a LIKE pattern: '%Kung%Fu%Panda%' -> 'Kung Fu Panda'."""
    parts = pattern.split("%")
    out = parts[0]
    for prev, part in zip(parts, parts[1:]):
        if out and part and out[-1].isalnum() and part[0].isalnum():
            out += " "
        out += part
    return out.replace("_", "a")


def _literal(node: exp.Expression):
    if isinstance(node, exp.Neg):
        v = _literal(node.this)
        return -v if isinstance(v, (int, float)) else None
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        return float(node.this) if "." in node.this else int(node.this)
    return None


# --- literal injection ---------------------------------------------------------------------------
def _info_type_of(spec: dict, alias: str, info_ids: dict[str, int]) -> int | None:
    """The info type id a query pins ``alias.info_type_id`` to (through an info_type alias)."""
    for a, b in spec["joins"]:
        for x, y in ((a, b), (b, a)):
            if x == f"{alias}.info_type_id" and y.endswith(".id"):
                it = y.split(".")[0]
                if spec["relations"].get(it) == "info_type":
                    for f in spec["filters"].get(it, []):
                        node = _parse(f)
                        if isinstance(node, exp.EQ) and isinstance(_literal(node.expression), str):
                            return info_ids.get(_literal(node.expression))
    return None


def collect_literals(info_names: list[str]) -> dict[tuple[str, str, int | None], list[str]]:
    """(table, column, info type or None) -> string literals the JOB filters compare it with."""
    info_ids = {n: i + 1 for i, n in enumerate(info_names)}
    out: dict[tuple[str, str, int | None], list[str]] = {}
    for spec in load_specs().values():
        for alias, filters in spec["filters"].items():
            table = spec["relations"][alias]
            if table in LOOKUPS:
                continue
            cond = _info_type_of(spec, alias, info_ids) if table in _INFO_TABLES else None
            for f in filters:
                for node in _parse(f).walk():
                    col = node.this if isinstance(node, (exp.EQ, exp.In, exp.Like)) else None
                    if (not isinstance(col, exp.Column) or isinstance(node.parent, exp.Not)
                            or node.args.get("negate")):
                        continue
                    if isinstance(node, exp.In):
                        vals = [_literal(v) for v in node.expressions]
                    elif isinstance(node, exp.Like):
                        pat = _literal(node.expression)
                        vals = [like_instance(pat)] if isinstance(pat, str) else []
                    else:
                        vals = [_literal(node.expression)]
                    vals = [v for v in vals if isinstance(v, str) and len(v) >= 2]
                    key = (table, col.name, cond)
                    bucket = out.setdefault(key, [])
                    bucket.extend(v for v in vals if v not in bucket)
    return out


def inject_literals(tables: dict[str, pd.DataFrame], rng: np.random.Generator) -> int:
    """Mix the queries' literals into the value pools (in place); returns cells changed."""
    literals = collect_literals(list(tables["info_type"]["info"]))
    changed = 0
    for (table, column, cond), values in sorted(literals.items(), key=lambda kv: str(kv[0])):
        df = tables[table]
        if (table, column) not in {(t, c) for t, cols in TABLES.items() for c, _ in cols}:
            continue
        if table == "keyword" and column == "keyword":
            # Literal keywords take the lowest ids, from 1, the most popular under movie_keyword's Zipf.
            col = df["keyword"].to_numpy(dtype=object).copy()
            changed += sum(a != b for a, b in zip(col[: len(values)], values))
            col[: len(values)] = values
            df["keyword"] = col
            continue
        if not values:
            continue
        rows = np.flatnonzero(df["info_type_id"].to_numpy() == cond) if cond is not None \
            else np.arange(len(df))
        if len(rows) == 0:
            continue
        col = df[column].to_numpy(dtype=object).copy()
        # A literal the pool holds already keeps the pool's share (IMDb's, where the pool follows
        # IMDB_STATS.md: '[ru]' 0.58% of company_name, not 1.7%), and NULL cells stay NULL (mc.note
        # NULL 48.8%, not 45%): the others take each the share they would have had among all.
        held = {v for v in col[rows].tolist() if isinstance(v, str)}
        new = [v for v in values if v not in held]
        if not new:
            continue
        share = _SHARE.get((table, column), _DEFAULT_SHARE)
        k = min(len(rows), max(len(new), round(share * len(rows) * len(new) / len(values))))
        filled = rows[[isinstance(v, str) for v in col[rows].tolist()]]   # not NULL
        picked = rng.choice(filled if len(filled) >= k else rows, size=k, replace=False)
        col[picked] = np.array(new, dtype=object)[np.arange(len(picked)) % len(new)]
        df[column] = col
        changed += len(picked)
    return changed


# --- witness planting ----------------------------------------------------------------------------
def _dnf(node: exp.Expression) -> list[list[exp.Expression]]:
    if isinstance(node, exp.Paren):
        return _dnf(node.this)
    if isinstance(node, exp.And):
        out = [a + b for a, b in itertools.product(_dnf(node.left), _dnf(node.right))]
        return out[:64]
    if isinstance(node, exp.Or):
        return _dnf(node.left) + _dnf(node.right)
    return [[node]]


def _matches(value, c: dict) -> bool:
    if value is None:
        return c["null"] is True
    if c["null"] is True:
        return False
    try:
        if c["lo"] is not None and not (value > c["lo"][0] or (not c["lo"][1] and value == c["lo"][0])):
            return False
        if c["hi"] is not None and not (value < c["hi"][0] or (not c["hi"][1] and value == c["hi"][0])):
            return False
    except TypeError:
        return False
    if isinstance(value, str):
        if any(not like_regex(p).fullmatch(value) for p in c["like"]):
            return False
        if any(like_regex(p).fullmatch(value) for p in c["notlike"]):
            return False
    return value not in c["ne"]


def _bump(v, up: bool):
    if isinstance(v, (int, float)):
        return v + (1 if up else -1) if isinstance(v, int) else round(v + (0.1 if up else -0.1), 1)
    try:
        return f"{float(v) + (0.1 if up else -0.1):.1f}"
    except ValueError:
        return v + "a" if up else v[:-1] + chr(max(ord(v[-1]) - 1, 32)) if v else v


def solve_clause(clause: list[exp.Expression], template: dict) -> dict | None:
    """Column values satisfying a conjunction of simple predicates (None when it cannot)."""
    cons: dict[str, dict] = {}
    for atom in clause:
        neg = isinstance(atom, exp.Not)
        node = atom.this if neg else atom
        while isinstance(node, exp.Paren):
            node = node.this
        neg = neg != bool(node.args.get("negate"))
        col = node.this if isinstance(node.this, exp.Column) else None
        if col is None:
            return None
        c = cons.setdefault(col.name, {"cand": None, "like": [], "notlike": [], "ne": [],
                                       "lo": None, "hi": None, "null": None})
        if isinstance(node, exp.Is):
            c["null"] = not neg
        elif isinstance(node, (exp.EQ, exp.NEQ)):
            v = _literal(node.expression)
            if isinstance(node, exp.NEQ) or neg:
                c["ne"].append(v)
            else:
                c["cand"] = [v] if c["cand"] is None else [x for x in c["cand"] if x == v]
        elif isinstance(node, exp.In):
            vals = [_literal(v) for v in node.expressions]
            if neg:
                c["ne"].extend(vals)
            else:
                c["cand"] = vals if c["cand"] is None else [x for x in c["cand"] if x in vals]
        elif isinstance(node, (exp.Like, exp.ILike)):
            (c["notlike"] if neg else c["like"]).append(_literal(node.expression))
        elif isinstance(node, (exp.GT, exp.GTE)):
            c["lo"] = (_literal(node.expression), isinstance(node, exp.GT))
        elif isinstance(node, (exp.LT, exp.LTE)):
            c["hi"] = (_literal(node.expression), isinstance(node, exp.LT))
        elif isinstance(node, exp.Between):
            c["lo"] = (_literal(node.args["low"]), False)
            c["hi"] = (_literal(node.args["high"]), False)
        else:
            return None
    out = {}
    for name, c in cons.items():
        options = []
        if c["null"] is True:
            options = [None]
        elif c["cand"] is not None:
            options = list(c["cand"])
        elif c["like"]:
            starts = [p for p in c["like"] if not p.startswith("%")]
            ends = [p for p in c["like"] if p.endswith("%") is False and p.startswith("%")]
            mids = [p for p in c["like"] if p not in starts and p not in ends]
            options = [" ".join(like_instance(p) for p in starts + mids + ends),
                       "".join(like_instance(p) for p in starts + mids + ends)]
        elif c["lo"] is not None or c["hi"] is not None:
            if c["lo"] is not None:
                options.append(c["lo"][0] if not c["lo"][1] else _bump(c["lo"][0], True))
            if c["hi"] is not None:
                options.append(c["hi"][0] if not c["hi"][1] else _bump(c["hi"][0], False))
        base = template.get(name)
        options += [base, f"{base} x" if isinstance(base, str) else base, "zz synthetic"]
        chosen = next((o for o in options if _matches(o, c)), _MISSING)
        if chosen is _MISSING:
            return None
        out[name] = chosen
    return out


_MISSING = object()


def _rows(con, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def plant_witnesses(con, rng: np.random.Generator) -> dict:
    """Plant one satisfying row set per JOB query into the open DuckDB ``con``; returns counts."""
    specs = load_specs()
    next_id = {t: con.execute(f"SELECT max(id) FROM {t}").fetchone()[0] + 1
               for t in TABLES if t not in LOOKUPS}
    sizes = {t: next_id[t] - 1 for t in next_id}
    report = {"queries": len(specs), "rows_inserted": 0, "rows_reused": 0, "failed_filters": []}
    order = {t: (0 if t in LOOKUPS else 1 if t in DIMENSIONS else 2) for t in TABLES}
    for qname in sorted(specs):
        spec = specs[qname]
        rels = spec["relations"]
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            parent.setdefault(x, x)
            while parent[x] != x:
                x = parent[x]
            return x
        for a, b in spec["joins"]:
            parent[find(a)] = find(b)
        value: dict[str, object] = {}  # class root -> fixed join value
        for alias in sorted(rels, key=lambda a: (order[rels[a]], a)):
            table = rels[alias]
            filt = " AND ".join(f"({f})" for f in spec["filters"].get(alias, [])) or "TRUE"
            cls = {c: find(f"{alias}.{c}") for c, _ in TABLES[table] if f"{alias}.{c}" in parent}
            fixed = {c: value[r] for c, r in cls.items() if r in value}
            qa = f'"{alias}"'
            where = " AND ".join([f"({filt})"] + [f"{qa}.{c} = ?" for c in fixed])
            found = _rows(con, f"SELECT * FROM {table} AS {qa} WHERE {where} "
                          f"ORDER BY {qa}.id LIMIT 1", list(fixed.values()))
            if found or table in LOOKUPS:
                if not found:
                    report["failed_filters"].append(f"{qname}.{alias}")
                    continue
                row = found[0]
                report["rows_reused"] += 1
            else:
                if "id" in fixed:  # an id another alias already pinned: cannot create it
                    report["failed_filters"].append(f"{qname}.{alias}")
                    continue
                tid = int(rng.integers(1, sizes[table] + 1))
                row = _rows(con, f"SELECT * FROM {table} WHERE id = ?", [tid])[0]
                row.update(fixed)
                solved = None
                for clause in _dnf(_parse(filt)) if filt != "TRUE" else [[]]:
                    sol = solve_clause([a for a in clause], row) if clause else {}
                    if sol is not None and not any(c in fixed and sol[c] != fixed[c] for c in sol):
                        solved = sol
                        break
                if solved is None:
                    report["failed_filters"].append(f"{qname}.{alias}")
                    continue
                row.update(solved)
                row["id"] = next_id[table]
                next_id[table] += 1
                cols = [c for c, _ in TABLES[table]]
                con.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(cols))})",
                            [row[c] for c in cols])
                ok = con.execute(f"SELECT count(*) FROM {table} AS {qa} WHERE {qa}.id = ? "
                                 f"AND ({filt})", [row["id"]]).fetchone()[0]
                if not ok:
                    con.execute(f"DELETE FROM {table} WHERE id = ?", [row["id"]])
                    report["failed_filters"].append(f"{qname}.{alias}")
                    continue
                report["rows_inserted"] += 1
            for c, r in cls.items():
                value.setdefault(r, row[c])
    if report["failed_filters"]:
        logger.warning("witnesses could not satisfy %d filters: %s",
                       len(report["failed_filters"]), report["failed_filters"][:10])
    return report
