"""AutoPandas equality: values, order and index values matter; dtypes and axis names don't."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd

from autopandas.equality import csv_matches, equal


def frame():
    return pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]}, index=[10, 20, 30])


def test_identical_frames_are_equal():
    assert equal(frame(), frame())


def test_dtypes_and_axis_names_do_not_matter():
    f = frame()
    g = f.copy()
    g["a"] = g["a"].astype("float64")
    g["b"] = g["b"].astype(object)
    g.index = pd.Index([10, 20, 30], dtype="int32", name="idx")
    g.columns.name = "cols"
    assert equal(f, g)


def test_row_order_column_order_and_index_values_matter():
    f = frame()
    assert not equal(f, f.iloc[::-1])
    assert not equal(f, f[["b", "a"]])
    assert not equal(f, f.reset_index(drop=True))


def test_range_index_equals_same_valued_int_index():
    f = pd.DataFrame({"a": [1, 2]})
    assert equal(f, f.set_axis(pd.Index([0, 1], dtype="int64"), axis=0))


def test_float_tolerance_and_nan():
    f = pd.DataFrame({"a": [0.1 + 0.2, np.nan]})
    assert equal(f, pd.DataFrame({"a": [0.3, np.nan]}))
    assert not equal(f, pd.DataFrame({"a": [0.31, np.nan]}))
    assert not equal(f, pd.DataFrame({"a": [0.3, 0.0]}))


def test_missing_markers_equal_each_other():
    assert equal(pd.Series(["a", None]), pd.Series(["a", np.nan], dtype=object))
    assert equal(pd.Series(["a", None], dtype="str"), pd.Series(["a", pd.NA], dtype="string"))


def test_kinds_must_agree():
    s = pd.Series([1, 2], name="a")
    assert not equal(s.to_frame(), s)
    assert not equal(s, s.to_frame())
    assert equal(np.array([[1, 2]]), np.array([[1.0, 2.0]]))
    assert not equal(np.array([[1, 2]]), np.array([1, 2]))


def test_series_name_ignored_index_checked():
    assert equal(pd.Series([1, 2], name="x"), pd.Series([1, 2], name="y"))
    assert not equal(pd.Series([1, 2]), pd.Series([1, 2], index=[1, 2]))


def test_multiindex_compared_level_by_level():
    mi = pd.MultiIndex.from_tuples([("a", 1), ("b", 2)])
    f = pd.DataFrame({"v": [1, 2]}, index=mi)
    assert equal(f, f.copy())
    assert not equal(f, f.set_axis(pd.MultiIndex.from_tuples([("a", 1), ("b", 3)]), axis=0))
    assert not equal(f, f.reset_index())


def test_csv_rule_as_written_or_after_reset_index():
    target = pd.DataFrame({"g": ["a", "b"], "v": [3, 4]})
    grouped = pd.Series([3, 4], index=pd.Index(["a", "b"], name="g"), name="v")
    assert csv_matches(target, grouped)                      # after reset_index()
    assert csv_matches(target, target.set_axis([7, 9]))      # as written, index dropped
    assert not csv_matches(target, target[["v", "g"]])
    assert not csv_matches(target, grouped.rename("w"))      # header differs


def test_csv_labels_compare_as_text():
    target = pd.DataFrame({"10": [1], "x": [2]})
    assert csv_matches(target, pd.DataFrame({10: [1], "x": [2]}))


def test_csv_rule_accepts_an_unnamed_index_as_to_csv_writes_it_and_nothing_looser():
    res = pd.DataFrame({"a": [1, 2]}, index=[5, 7])
    written = pd.DataFrame({"Unnamed: 0": [5, 7], "a": [1, 2]})         # read_csv of res.to_csv()
    assert csv_matches(written, res)
    assert csv_matches(written.rename(columns={"Unnamed: 0": "index"}), res)   # reset_index()
    assert not csv_matches(written.assign(**{"Unnamed: 0": [7, 5]}), res)     # index values count
    assert not csv_matches(written.rename(columns={"Unnamed: 0": "Unnamed: 1"}), res)
    named = res.rename_axis("k")
    assert not csv_matches(written, named)               # a named index is written as its name
    assert csv_matches(written.rename(columns={"Unnamed: 0": "k"}), named)


def test_integers_compare_exactly_floats_with_tolerance():
    assert not equal(pd.Series([1_000_000, 3]), pd.Series([1_000_009, 3]))     # was within rtol
    assert not equal(pd.DataFrame({"a": [2**53]}), pd.DataFrame({"a": [2**53 + 1]}))
    assert equal(pd.Series([1_000_000.0]), pd.Series([1_000_000.000001]))
    assert equal(pd.Series([1, 2]), pd.Series([1.0, 2.0]))                      # dtype still free
    assert equal(pd.Series([True, False]), pd.Series([1, 0]))
    assert not csv_matches(pd.DataFrame({"n": [1_000_000]}), pd.DataFrame({"n": [1_000_009]}))


def test_a_column_compares_exactly_when_either_side_is_integer_or_boolean():
    # assert_frame_equal's check_exact default (pandas >= 2.2) holds when either side is integer:
    # a float result of 1,000,009.0 (a division, a mean) is not an integer target's 1,000,000
    ints = pd.DataFrame({"a": [1_000_000, 3]})
    assert not equal(ints, pd.DataFrame({"a": [1_000_009.0, 3.0]}))
    assert not equal(pd.DataFrame({"a": [1_000_009.0, 3.0]}), ints)
    assert not equal(pd.Series(pd.array([1_000_000, None], dtype="Int64")), pd.Series([1_000_009.0, np.nan]))
    assert not equal(pd.Series([True, False]), pd.Series([1.000001, 0.0]))
    assert not equal(ints, pd.DataFrame({"a": [1_000_009.0, 3.0]}, dtype=object))     # object cells
    assert not equal(pd.Series(pd.array([1_000_000, None], dtype="Int64")),
                     pd.Series([1_000_009.0, None], dtype=object))
    assert equal(ints, ints.astype(object)) and equal(ints, ints.astype(float).astype(object))
    assert equal(ints, ints.astype(float))                                      # dtype still free
    assert equal(pd.Series(pd.array([3, None], dtype="Int64")), pd.Series([3.0, np.nan]))


def test_a_single_value_compares_exactly_when_either_side_is_integer_or_boolean():
    # a scalar result (df0['n'].sum(), a mean) against a scalar target, as a column compares
    assert not equal(1_000_000, 1_000_009.0) and not equal(np.float64(1_000_009.0), np.int64(1_000_000))
    assert not equal(True, 1.000001)
    assert equal(np.int64(5), 5.0) and equal(5, np.float32(5.0)) and equal(True, 1)
    assert equal(0.1 + 0.2, 0.3) and equal(1_000_000.0, 1_000_009.0)              # floats: rtol 1e-5


def test_datetimes_and_durations_compare_exactly_whatever_their_unit():
    # As float nanoseconds since 1970 they compared with rtol 1e-5: hours apart were equal.
    t = pd.Series(pd.to_datetime(["2024-05-01 09:00", "2024-05-01 10:00"]))
    assert not equal(t, t + pd.Timedelta(hours=2))
    assert not equal(t, t + pd.Timedelta(1, "ns"))
    assert not equal(pd.DataFrame({"d": t - t.iloc[0]}), pd.DataFrame({"d": t - t.iloc[0] + pd.Timedelta(1, "s")}))
    assert not equal(t.to_frame().set_index(0), (t + pd.Timedelta(hours=1)).to_frame().set_index(0))
    assert equal(t.astype("datetime64[s]"), t.astype("datetime64[ns]"))      # same instants
    with_nat = pd.Series(pd.to_datetime(["2024-05-01", None]))
    assert equal(with_nat.astype("datetime64[s]"), with_nat)
    assert not equal(with_nat, with_nat + pd.Timedelta(hours=1))


def _read_back(frame: pd.DataFrame, index: bool = False) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(frame.to_csv(index=index)))


def test_csv_booleans_never_match_numbers_in_either_direction():
    """A CSV holds True/False for a boolean and 1/0 for a number, so neither matches the other
    (values_equal, like assert_frame_equal(check_dtype=False), has True == 1)."""
    flags = pd.DataFrame({"k": ["a", "b", "c"], "f": [True, False, True]})
    ints = flags.assign(f=[1, 0, 1])
    assert not csv_matches(_read_back(ints), flags)                  # bool result, int target
    assert not csv_matches(_read_back(flags), ints)                  # int result, bool target
    assert not csv_matches(_read_back(flags.assign(f=[1.0, 0.0, 1.0])), flags)
    assert not csv_matches(_read_back(ints), flags.astype({"f": object}))
    assert not csv_matches(_read_back(ints), flags.astype({"f": "boolean"}))
    assert not csv_matches(_read_back(ints[["f", "k"]]), flags.set_index("f"))   # index, reset
    assert not csv_matches(_read_back(ints), flags["f"])             # a Series
    # what a CSV round trip keeps still matches
    assert csv_matches(_read_back(flags), flags)
    assert csv_matches(_read_back(flags), flags.astype({"f": object}))
    assert csv_matches(_read_back(flags), flags.astype({"f": "boolean"}))
    assert csv_matches(_read_back(flags[["f", "k"]]), flags.set_index("f"))
    assert csv_matches(_read_back(flags.set_index("f"), index=True), flags.set_index("f"))
    assert csv_matches(_read_back(ints), ints.astype({"f": float}))  # numbers: dtype still free
    mixed = pd.DataFrame({"f": [True, "x"]})                         # read back as text
    assert csv_matches(_read_back(mixed), mixed)
    assert not csv_matches(_read_back(pd.DataFrame({"f": [1, "x"]})), mixed)


def test_with_real_dtypes_booleans_never_match_numbers_anywhere():
    """equal(bool_is_number=False), for Parquet/JSON targets: True == 1 matched there (as it does
    in AutoPandas' own check_dtype=False, still the default), in cells, index and labels."""
    flags = pd.DataFrame({"k": ["a", "b", "c"], "f": [True, False, True]})
    ints = flags.assign(f=[1, 0, 1])
    assert equal(flags, ints) and equal(ints, flags)                 # AutoPandas' rule kept
    for a, b in [(flags, ints), (ints, flags), (flags, ints.astype({"f": float})),
                 (flags.astype({"f": "boolean"}), ints.astype({"f": "Int64"})),
                 (flags.astype({"f": object}), ints), (flags.set_index("f"), ints.set_index("f")),
                 (flags.set_index(["k", "f"]), ints.set_index(["k", "f"])),
                 (flags.set_index("k").T, ints.set_index("k").T),
                 (flags["f"], ints["f"]), (flags["f"].to_numpy(), ints["f"].to_numpy())]:
        assert not equal(a, b, bool_is_number=False), (a, b)
    assert not equal(True, 1, bool_is_number=False) and equal(True, True, bool_is_number=False)
    # only booleans against numbers: other dtypes are still free, and booleans match booleans
    assert equal(flags, flags.astype({"f": "boolean"}), bool_is_number=False)
    assert equal(flags, flags.astype({"f": object}), bool_is_number=False)
    assert equal(ints, ints.astype({"f": float}), bool_is_number=False)
    assert equal(flags.set_index("f"), flags.set_index("f"), bool_is_number=False)
    mixed = pd.DataFrame({"f": [True, "x"]})
    assert equal(mixed, mixed.copy(), bool_is_number=False)
    assert not equal(mixed, pd.DataFrame({"f": [1, "x"]}), bool_is_number=False)
