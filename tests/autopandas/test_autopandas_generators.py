"""Argument generators: merge keys of different names are only paired where pandas can merge them."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd

from autopandas.choices import enumerate_choices
from autopandas.generators import GenContext, _key_pairs, generator

KEYS = {
    "int": pd.Series([1, 2, 3]), "float": pd.Series([1.0, 2.5, np.nan]),
    "bool": pd.Series([True, False, True]), "text": pd.Series(["a", "b", "c"]),
    "text_object": pd.Series(["a", "b", "c"], dtype=object),
    "int_object": pd.Series([1, 2, 3], dtype=object), "mixed": pd.Series([1, "a", 2.0], dtype=object),
    "datetime": pd.Series(pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"])),
    "datetime_tz": pd.Series(pd.to_datetime(["2020-01-01"] * 3).tz_localize("UTC")),
    "timedelta": pd.Series(pd.to_timedelta([1, 2, 3], unit="D")),
    "category": pd.Series(["a", "b", "a"], dtype="category"),
    "nullable_int": pd.Series([1, None, 3], dtype="Int64"), "all_nan": pd.Series([np.nan] * 3, dtype=object),
}


def test_merge_key_pairs_leave_out_only_pairs_pandas_refuses():
    left_out = 0
    for a, b in itertools.product(KEYS, KEYS):
        left, right = pd.DataFrame({f"l_{a}": KEYS[a]}), pd.DataFrame({f"r_{b}": KEYS[b]})
        if _key_pairs(left, right):
            continue
        left_out += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                left.merge(right, left_on=f"l_{a}", right_on=f"r_{b}")
            except (ValueError, TypeError):
                continue
        raise AssertionError(f"{a} with {b} merges but was left out")
    assert left_out >= 20          # numbers with text, datetimes with numbers, ...


def test_merge_left_right_keys_pair_like_columns_sharing_values_first():
    orders = pd.DataFrame({"order": [1, 2, 3], "cust": [10, 11, 10], "note": ["x", "y", "z"]})
    people = pd.DataFrame({"id": [10, 11], "name": ["ann", "bob"]})
    assert _key_pairs(orders, people) == (("cust", "id"), ("order", "id"), ("note", "name"))
    ctx = GenContext(orders, [orders, people])
    pairs = {(a["left_on"], a["right_on"]) for a, _ in enumerate_choices(generator("merge"), ctx)
             if a["left_on"] is not None}
    assert pairs == {("cust", "id"), ("order", "id"), ("note", "name")}   # never text with numbers


def stats() -> pd.DataFrame:
    return pd.DataFrame({"player": ["p", "q", "r", "s"], "team": ["x", "y", "x", "z"],
                         "goals": [0, 3, 0, 5], "passes": [6, 101, 91, 15], "saves": [0, 14, 6, 0]})


def test_melt_tries_first_the_columns_the_target_shows_as_values():
    """A target that holds receiver column labels as values melted them: that selection of
    value_vars, with the holding column as var_name, is the first option (the old generator
    tried every value_vars=None option first, then 1- and 2-column subsets in column order)."""
    df = stats()
    target = df.melt(value_vars=["passes", "saves"], var_name="stat", value_name="n")
    first, _ = next(iter(enumerate_choices(generator("melt"), GenContext(df, [df], target))))
    assert first == {"id_vars": (), "value_vars": ("passes", "saves"), "var_name": "stat",
                     "value_name": "n"}


def test_melt_keeps_every_generic_option_without_a_hint():
    df = stats()
    with_target = {tuple(sorted(a.items(), key=str)) for a, _ in enumerate_choices(
        generator("melt"), GenContext(df, [df], df.melt(value_vars=["goals", "saves"])), limit=10_000)}
    without = {tuple(sorted(a.items(), key=str)) for a, _ in enumerate_choices(
        generator("melt"), GenContext(df, [df], None), limit=10_000)}
    assert without <= with_target
