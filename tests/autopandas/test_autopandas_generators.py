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
