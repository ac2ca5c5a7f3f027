"""Generate-and-verify enumerative search over chains of one to ``max_depth`` DSL calls.

The search is best-first by cost. A candidate's cost is the sum of its calls' costs
(``Function.cost``, 0.95 to 1.2), plus TIER_COST for each argument tier past the first (a call's
first 40 argument tuples, in generator order, are tier 0; the next 360 tier 1; the rest tier 2),
plus a heuristic in [0, 0.5) of how far its receiver looks from the target, plus
UNUSED_INPUT_COST once the chain can no longer read every frame input within the depth limit
(tasks that give several tables use them all; such programs come later, they are not dropped),
and a match that leaves one unread costs that much more, however short it is.
A match that uses none of the constants the task gives (``constants``: a query's text, a list of
ids) is held back by UNUSED_HINT_COST, one that picks rows by literal labels or positions (``loc``,
``drop_rows``, ``take``: true of these rows only) by ROW_LABEL_COST, one that combines its
receiver with an input the chain read already by REREAD_INPUT_COST (``df0.dropna().merge(df0)``
renumbers the rows as ``reset_index(drop=True)`` does, until a row repeats): it is returned only
if nothing that much cheaper matches.
So cheap arguments of one call come first, then cheap two-call chains interleaved with the long
tails of one call, and so on. States are the distinct intermediate values; a priority queue holds
``(cost, state, function, tier)`` entries and expands one at a time, lazily pushing the state's
next function, so the queue grows by one entry per state, not per state and function.

Expanding an entry enumerates that tier of the function's arguments with its generator
(exhaustive mode, or ranked when a scorer is given), runs each candidate in the sandbox, compares
the result with the target (first match wins) and keeps new results as states for the next depth.

Passes deepen iteratively (depth limit 1, then 2, then 3; pass L stops at cost L + 1, the last
pass is unbounded), so the deepest level of each pass is known to be final; one-call results are
cached across passes. Pruning that loses no solution of this DSL:

- deduplication: a result whose content hash was already seen (at lower or equal cost) is not
  kept as a state (no-ops like sorting a sorted frame vanish here); it only gives the kept
  state its program when a match through it would be held back less (below);
- kinds: a function is only tried on receivers it accepts (arrays end a chain);
- shape: a final call whose row rule (``dsl.ROW_RULES``: keeps or never increases the row count)
  can't give the target's row count, or which keeps the column count (``dsl.SAME_COLUMNS``) when
  the target's differs (CSV: allowing for reset_index), or a combining call (``dsl.MORE_COLUMNS``)
  when the target is narrower than the receiver or every other input, is skipped without running;
- labels: a final call that creates no column label (``dsl.KEEPS_LABELS``: selections, sorts,
  group-by aggregations...) is skipped when a column label of the target is not among the
  receiver's labels (after a merge-then-aggregate search, only the merged states keep both
  tables' labels, so the other intermediates are cheap to finish); a final ``pivot`` or
  ``pivot_table`` whose index (columns) key holds a value for none of the forms of one of the
  target's row (column) labels, last level, is skipped before it runs (exact matching only: a
  CSV target may hold the index as a column);
- reachability, for states one call from the end: a target text value absent from the state and
  every input can only come from ``fillna`` (needs a missing value in the state); more than two
  new text labels in the target can't come from one call (``melt`` names two, ``rename`` one)
  unless one prefix or suffix explains them all.

The search stops at the first match whose program prints as Python (see ``dsl.lit``; one held
back, as above, at its turn, at the end of the last pass or at the time limit), when the
time limit passes, or when everything up to ``max_depth`` has been tried; the result says which.
Memory is bounded by ``max_states`` and ``max_state_cells`` (intermediates kept) and by keeping
only hashes of the intermediates seen.
"""
from __future__ import annotations

import functools
import heapq
import io
import logging
import math
import numbers
import time
import tokenize
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from . import dsl
from ._dsl_arith import ARITH_OPS
from .choices import Scorer, enumerate_choices
from .equality import csv_matches, equal, unnamed_label
from .generators import GenContext, generator, py
from .program import Program, Step
from .sandbox import CallTimeout, Sandbox

log = logging.getLogger(__name__)

SEARCHES = ("enumerate", "ranked")
#: The chain lengths a search may be limited to (``SearchConfig.max_depth``).
DEPTHS = (1, 2, 3)
#: ``DEPTHS`` as a message writes them ("1, 2 or 3"): ``SearchConfig`` and the command lines'
#: ``--max-depth`` check say the same.
DEPTHS_TEXT = f"{', '.join(map(str, DEPTHS[:-1]))} or {DEPTHS[-1]}"
#: Argument tiers: a (state, function) pair first tries its first TIERS[0] argument tuples, the
#: next ones at TIER_COST more (more than one extra call), and so on: no function's long tail of
#: arguments delays the cheap options of other functions or of longer chains.
TIERS = (40, 400)
#: Most cells of one-call results kept for reuse by the next deepening passes.
CACHE_CELLS = 5_000_000
TIER_COST = 1.5
#: Extra cost once a chain can no longer read every frame input: more than a call and the
#: heuristic, so such programs mostly come after those one call longer that read them all.
UNUSED_INPUT_COST = 1.5
#: How much later a match that uses none of the task's constants is returned: less than a call,
#: so a program of the same length that uses them goes first (its pandas user wrote them).
UNUSED_HINT_COST = 0.5
#: How much later a match that picks rows by literal labels or positions is returned (ROW_ARGS):
#: more than a call, since one ``loc`` of the target's row labels reproduces any choice and
#: order of rows, which a sort, a head or a filter one call longer may explain.
ROW_LABEL_COST = 1.5
#: How much later a match that combines its receiver with an input the chain read already is
#: returned: a self-merge renumbers rows or repeats them by key, which a reset_index or a
#: group-by of the same length says directly.
REREAD_INPUT_COST = 0.5
_CREATED_LABELS = frozenset({"index", "level_0", "level_1", "variable", "value", "size", "count",
                             "proportion", *(unnamed_label(i) for i in range(3))})


@dataclass(frozen=True)
class SearchConfig:
    """Bounds and mode of one synthesis run."""

    timeout_s: float = 60.0
    """Wall-clock limit for the whole search, in seconds."""
    max_depth: int = 3
    """Longest chain of DSL calls tried (1 to 3)."""
    search: str = "enumerate"
    """Choice mode: ``enumerate`` (exhaustive) or ``ranked`` (needs a scorer)."""
    call_timeout_s: float = 1.0
    """Per-candidate time limit, in seconds."""
    max_cells: int = 1_000_000
    """Largest intermediate (rows x columns) a candidate may produce or be estimated to produce."""
    max_args_per_call: int = 3000
    """Most argument tuples tried for one (state, function) pair."""
    max_states: int = 200_000
    """Most intermediate states kept for expansion (memory bound)."""
    max_state_cells: int = 20_000_000
    """Most cells (rows x columns, summed over them) of the intermediate states kept (memory
    bound: without it a 300,000-row input filled 20 GB with its column selections and sorts)."""

    def __post_init__(self) -> None:
        # isfinite: NaN compares False with everything, so a bare `<= 0` check let it through
        for name in ("timeout_s", "call_timeout_s", "max_cells", "max_args_per_call", "max_states",
                     "max_state_cells"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value}")
        if not (isinstance(self.max_depth, numbers.Integral) and self.max_depth in DEPTHS):
            raise ValueError(f"max_depth must be {DEPTHS_TEXT}, got {self.max_depth}")
        if self.search not in SEARCHES:
            raise ValueError(f"search must be one of {SEARCHES}, got {self.search!r}")


@dataclass
class SearchResult:
    """What a search found and what it tried."""

    program: Program | None
    solved: bool
    candidates_tried: int
    """Candidates checked against the target, counting one-call candidates again when a later
    deepening pass re-checks them (their results then come from the cache, not a new run)."""
    seconds: float
    depth_completed: int = 0
    """Largest depth whose programs were all tried (set when the last, unbounded pass ends)."""
    cost_completed: float = 0.0
    """Every program cheaper than this was tried (one call costs about 1, see TIERS)."""
    timed_out: bool = False
    states: int = 0
    states_dropped: int = 0
    """New intermediates not kept because ``max_states`` were kept already (or they would pass
    ``max_state_cells``): programs through them were never tried, so no depth or cost is
    claimed complete."""
    limits_reached: set = field(default_factory=set)
    """Which of ``max_states`` and ``max_state_cells`` dropped them."""
    functions: int = 0
    sandbox: dict = field(default_factory=dict)
    rendered: str | None = None

    @property
    def outcome(self) -> str:
        """How the search ended: ``"solved"``, ``"time limit"`` or ``"exhausted"``."""
        if self.solved:
            return "solved"
        return "time limit" if self.timed_out else "exhausted"

    def summary(self) -> str:
        """One line on how the search ended and what it searched."""
        tried = (f"{_plural(self.candidates_tried, 'candidate')} over {self.functions} functions, "
                 f"{_plural(self.states, 'intermediate')} kept")
        if self.solved:
            calls = len(self.program) if self.program is not None else 0
            found = "an input itself" if calls == 0 else f"a program of {_plural(calls, 'call')}"
            return f"solved after {self.seconds:.1f}s: {found}, found after {tried}"
        how = "time limit reached" if self.timed_out else "search space exhausted"
        if self.states_dropped:
            which = " and ".join(sorted(self.limits_reached)) or "max_states"
            tried += f", {self.states_dropped} more not kept ({which} reached)"
        done = (f"all programs of depth <= {self.depth_completed} tried" if self.depth_completed
                else f"all programs of cost < {self.cost_completed:g} tried" if self.cost_completed
                else "not even all one-call programs tried")
        return f"{how} after {self.seconds:.1f}s: {tried}, {done}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


Matcher = Callable[[Any], bool]


def exact_matcher(target: Any, bool_is_number: bool = True) -> Matcher:
    """Match by AutoPandas equality (Python objects, the benchmark's targets); Parquet / JSON
    targets pass ``bool_is_number=False``: their dtypes are real, so a boolean never matches a
    number (see ``equality``)."""
    def match(result: Any) -> bool:
        return equal(target, result, bool_is_number=bool_is_number)
    match.shape_rule = "exact"  # type: ignore[attr-defined]
    return match


def csv_matcher(target: pd.DataFrame) -> Matcher:
    """Match a target read from CSV: as written with ``index=False`` or after ``reset_index()``."""
    def match(result: Any) -> bool:
        return csv_matches(target, result)
    match.shape_rule = "csv"  # type: ignore[attr-defined]
    return match


def state_key(obj: Any) -> Any:
    """A content key of an intermediate value (None when it can't be keyed: then never deduped).

    Built from plain Python tuples and raw bytes rather than ``pd.util.hash_pandas_object``,
    which costs about 10 ms a frame under pandas 3 and would dominate the search. Two values
    key equally when they have the same kind and shape, the same axes (values, dtypes and typed
    names, level by level) and the same columns in the same order (dtype and cells), and only
    then; cells of object dtype compare as Python values (``1 == 1.0``), except that missing
    cells equal each other and a boolean never equals a number.
    """
    try:
        if isinstance(obj, pd.DataFrame):
            index, columns = obj.index, obj.columns
            cols = tuple(_array_key(v) for v in _column_arrays(obj, len(columns)))
            return ("F", (len(index), len(columns)), _axis_key(index), _axis_key(columns), cols)
        if isinstance(obj, pd.Series):
            return ("S", _axis_key(obj.index), _name_key(obj.name), _array_key(obj.array))
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                return ("A", obj.shape, _cells_key(obj.ravel(), obj.ravel()))
            return ("A", obj.shape, str(obj.dtype), obj.tobytes())
    except (TypeError, ValueError):
        return None
    return None


def _column_arrays(frame: pd.DataFrame, width: int) -> list:
    """Each column's values as pandas stores them (a numpy array or an extension array), in
    order. Read from the block manager: ``frame.iloc[:, i]`` makes a Series per column, about
    30 us each, which was most of a small frame's key. A pandas without ``iget_values`` gets
    the public way (the same arrays)."""
    iget = getattr(getattr(frame, "_mgr", None), "iget_values", None)
    if iget is None:
        return [frame.iloc[:, i].array for i in range(width)]
    return [iget(i) for i in range(width)]


def _hashable(v: Any) -> bool:
    try:
        hash(v)
        return True
    except TypeError:
        return False


_BOOL = object()
"""Tags a boolean cell in a key: ``True == 1`` would make a boolean cell a duplicate of a number."""


def _cell(v: Any) -> Any:
    v = py(v)
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA or v is pd.NaT:
        return None          # NaN != NaN would defeat deduplication
    if isinstance(v, bool):
        return (_BOOL, v)
    hash(v)                  # unhashable cells (lists) raise TypeError: no key
    return v


#: The extension array pandas wraps numpy values in (``Series.array``); renamed in pandas 2.1.
_NUMPY_BACKED = getattr(pd.arrays, "NumpyExtensionArray", None) or pd.arrays.PandasArray


def _array_key(values: Any, *, index_level: bool = False) -> tuple:
    """The key of a column's or an index level's values (a numpy or pandas extension array):
    its dtype, then its cells as UTF-8 through Arrow (text), as bytes (numbers, dates), or as
    :func:`_cells_key`'s tuple (anything else).

    A column's bytes are its raw numbers (complex ones and numeric extension arrays too), so
    -0.0 is not 0.0 there: that only keeps a state more. An index level (``index_level``) takes
    bytes of numpy dtypes only, floats with -0.0 as 0.0 and one NaN, and keys complex numbers
    cell by cell: levels were keyed by cell tuples first, which equate those, and their
    partition is kept (4add51f)."""
    values = _unwrapped(values)             # a Series' .array of numpy values: the numpy dtype
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype):
        text = _text_key(values)
        if text is not None:
            return (str(dtype), "utf-8") + text
    arr = values if isinstance(values, np.ndarray) else values.to_numpy()
    if not index_level:
        if arr.dtype.kind in "biufcmM":
            return (_dtype_key(dtype), arr.tobytes())
        return (_dtype_key(dtype),) + _cells_key(arr, arr)
    if isinstance(dtype, np.dtype) and dtype.kind in "biumMf":
        if dtype.kind == "f":
            arr = np.where(np.isnan(arr), np.nan, arr + 0.0)    # -0.0 + 0.0 is 0.0
        return (_dtype_key(dtype), arr.tobytes())
    return (_dtype_key(dtype),) + _cells_key(values, arr)


#: ``str`` of the numpy dtypes seen so far (``str(dtype)`` runs Python code in numpy, and the
#: search keys the same few dtypes over and over).
_NP_DTYPE_TEXT: dict[np.dtype, str] = {}


def _dtype_key(dtype: Any) -> Any:
    """``str(dtype)``, but a categorical's categories and order too: two categoricals of the
    same cells with other categories are other states (``value_counts``, ``groupby`` with
    ``observed=False``, ``sort_values`` on an ordered one tell them apart)."""
    if isinstance(dtype, np.dtype):
        text = _NP_DTYPE_TEXT.get(dtype)
        if text is None:
            text = _NP_DTYPE_TEXT[dtype] = str(dtype)
        return text
    if isinstance(dtype, pd.CategoricalDtype) and dtype.categories is not None:
        cats = dtype.categories
        return ("category", bool(dtype.ordered), str(cats.dtype), _cells_key(cats, cats.to_numpy()))
    return str(dtype)


def _text_key(values: Any) -> tuple[bytes, bytes, bytes] | None:
    """Text cells (a pandas string array) as bytes through Arrow (pandas 3's ``str``
    dtype is Arrow text, so no Python string is made): where the missing cells are, then every
    cell's UTF-8 length and the UTF-8 text, missing cells as empty. Equal for two columns
    exactly when their cells are (``_cells_key`` of the same column, 40 times slower at 300,000
    rows); None without pyarrow."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        arr = values.__arrow_array__()
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if arr.type != pa.large_string():
            arr = arr.cast(pa.large_string())           # one width of offsets for every column
    except (ImportError, TypeError, ValueError, AttributeError) as e:
        log.debug("text column keyed cell by cell: %s", e)
        return None
    missing = b""
    if arr.null_count:
        missing = arr.is_null().to_numpy(zero_copy_only=False).tobytes()
        arr = pc.fill_null(arr, "")
    _, offsets_buf, data_buf = arr.buffers()
    # the array may be a slice of its buffers: take its own offsets, counted from its first cell
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    lo, hi = int(offsets[0]), int(offsets[-1])
    data = data_buf.slice(lo, hi - lo).to_pybytes() if data_buf is not None and hi > lo else b""
    return (missing, (offsets - lo).tobytes(), data)


_NO_NAME = (type(None), None)


def _name_key(name: Any) -> Any:
    """An axis or Series name with its type: ``reset_index``, ``stack`` and ``to_frame`` turn
    names into labels, so a name ``True`` is no duplicate of a name ``1`` (``True == 1``), which
    Parquet/JSON targets tell apart, nor ``None`` of ``NaN`` (``reset_index`` calls the first
    ``index``). Tuples (a MultiIndex's level names flattened) are keyed item by item."""
    if name is None:
        return _NO_NAME
    name = py(name)
    if type(name) in _PLAIN_CELLS:
        return (type(name), name)
    if isinstance(name, tuple):
        return (tuple, tuple(_name_key(n) for n in name))
    if isinstance(name, float) and name != name:
        return (float, "nan")        # NaN != NaN would defeat deduplication
    return (type(name), name if _hashable(name) else repr(name))


def _axis_key(ax: pd.Index) -> tuple:
    names = tuple(_name_key(n) for n in ax.names)
    # each level's dtype too: a boolean index is not an integer one of equal values (True == 1)
    if not isinstance(ax, pd.MultiIndex):
        return (names, (_level_key(ax),))
    return (names, tuple(_multi_level_key(ax, i) for i in range(ax.nlevels)))


def _multi_level_key(ax: pd.MultiIndex, i: int) -> tuple:
    """The key of level ``i``'s values (by position: ``ax.get_level_values(i)`` takes ``i`` for a
    level's name first, so with levels named ``[1, None]`` it keyed the first level twice and the
    second never). Where no code is missing the values are taken from the level's array, without
    making an Index (pandas' ``get_level_values`` cost about 50 us a level)."""
    level, codes = ax.levels[i], ax.codes[i]
    if (codes < 0).any():                           # missing labels: pandas fills them
        return _level_key(ax.set_names([None] * ax.nlevels).get_level_values(i))
    values = _unwrapped(level.array)
    return _array_key(values[codes] if isinstance(values, np.ndarray) else values.take(codes), index_level=True)


#: Longest RangeIndex whose key is cached (most intermediates have a short one, often the same).
_RANGE_CACHED = 1000


@functools.lru_cache(maxsize=256)
def _range_key(start: int, stop: int, step: int) -> tuple:
    """``_level_key`` of ``RangeIndex(start, stop, step)``: the key of its int64 values."""
    return (_dtype_key(np.dtype(np.int64)), np.arange(start, stop, step, dtype=np.int64).tobytes())


def _level_key(level: pd.Index) -> tuple:
    """An index level's key (see :func:`_array_key`)."""
    if isinstance(level, pd.RangeIndex) and len(level) <= _RANGE_CACHED:
        return _range_key(level.start, level.stop, level.step)
    return _array_key(level.array, index_level=True)


def _unwrapped(values: Any) -> Any:
    """A pandas array of numpy values as its numpy array (``Series.array``, ``Index.array``).
    Not a pandas text array (``string[python]`` is one of them too): its numpy array is of
    object dtype, which keyed it as a duplicate of an object column of the same text, though
    ``select_dtypes`` tells them apart."""
    if isinstance(values, _NUMPY_BACKED) and not isinstance(values.dtype, pd.StringDtype):
        return values.to_numpy()
    return values


#: Types of the missing values that ``_cell`` writes as None.
_NONE_CELLS = frozenset({type(None), float, np.float16, np.float32, np.float64, type(pd.NA),
                         type(pd.NaT), np.datetime64, np.timedelta64})


#: Types of the cells that ``_cell`` keeps as they are (not bool: ``type(True) is bool``).
_PLAIN_CELLS = frozenset({str, int})


def _cells_key(values: Any, arr: np.ndarray) -> tuple:
    """``tuple(_cell(v) for v in values)`` (``arr``: ``values`` as a numpy array), built without
    a Python call per cell where ``arr`` holds numbers or text: 300,000 text cells took about
    0.2 s one by one, which made deduplicating large text intermediates slow. The same tuple
    either way, so deduplication keeps and drops the same states."""
    kind = arr.dtype.kind
    if kind == "b":
        return tuple((_BOOL, b) for b in arr.tolist())
    if kind in "iu":
        return tuple(arr.tolist())
    if kind == "f":
        cells = arr.tolist()
        if np.isnan(arr).any():
            cells = [None if c != c else c for c in cells]
        return tuple(cells)
    if kind == "O":
        cells = arr.tolist()
        if set(map(type, cells)) <= _PLAIN_CELLS:
            return tuple(cells)
    if kind == "O" and len(arr) and pd.api.types.infer_dtype(arr, skipna=True) in ("string", "empty"):
        missing = pd.isna(arr)
        if not missing.any():
            return tuple(arr.tolist())
        if set(map(type, arr[missing])) <= _NONE_CELLS:
            cells = arr.copy()
            cells[missing] = None
            return tuple(cells.tolist())
    return tuple(_cell(v) for v in values)


def _universe(obj: Any) -> set:
    """Every label, axis name and (up to 5000) cell value of an intermediate."""
    out: set = set()
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        axes = [obj.index] + ([obj.columns] if isinstance(obj, pd.DataFrame) else [obj.name])
        for ax in axes:
            if isinstance(ax, pd.Index):
                out.update(py(n) for n in ax.names)
                for lev in range(ax.nlevels):
                    out.update(_hashables(ax.get_level_values(lev)))
            else:
                out.update(_hashables([ax]))
        out.update(_hashables(np.ravel(obj.to_numpy())[:5000]))
    elif isinstance(obj, np.ndarray):
        out.update(_hashables(obj.ravel()[:5000]))
    return out


def _hashables(vals: Any) -> list:
    out = []
    for v in vals:
        v = py(v)
        try:
            hash(v)
        except TypeError:
            continue
        out.append(v)
    return out


def _text(v: Any) -> bool:
    """Text that no numeric cast could have produced."""
    if not isinstance(v, str) or v in ("True", "False"):
        return False
    try:
        float(v)
        return False
    except ValueError:
        return True


class _Reach:
    """The reachability test for states one call before the end (see the module docstring)."""

    def __init__(self, target: Any, inputs: Sequence[Any]) -> None:
        base = set()
        for v in inputs:
            base |= _universe(v)
        tgt_cells, tgt_labels = set(), set()
        if isinstance(target, (pd.DataFrame, pd.Series, np.ndarray)):
            tgt_cells = {v for v in _hashables(np.ravel(np.asarray(target))[:5000]) if _text(v)}
        if isinstance(target, (pd.DataFrame, pd.Series)):
            axes = [target.index] + ([target.columns] if isinstance(target, pd.DataFrame) else [])
            for ax in axes:
                for lev in range(ax.nlevels):
                    tgt_labels.update(v for v in _hashables(ax.get_level_values(lev)) if _text(v))
        # Values and labels of every input are reachable by a final merge/concat/join.
        self.cells = tgt_cells - base
        self.labels = tgt_labels - base - _CREATED_LABELS

    def final_step_possible(self, state: Any) -> bool:
        """Whether one more call on ``state`` could produce the target's text values and labels."""
        if not self.cells and not self.labels:
            return True
        uni = _universe(state)
        missing_cells = {v for v in self.cells if v not in uni}
        if missing_cells:
            has_nan = isinstance(state, (pd.DataFrame, pd.Series)) and bool(state.isna().to_numpy().any())
            if not has_nan:
                return False
        missing = [v for v in self.labels if v not in uni]
        if len(missing) > 2 and not _affix_explains(missing, uni):
            return False
        return True


def _affix_explains(labels: list, uni: set) -> bool:
    have = [u for u in uni if isinstance(u, str)]
    for lab in labels[:1]:
        for h in have:
            if lab.endswith(h) and lab != h:
                p = lab[: len(lab) - len(h)]
                if all(any(m == p + u for u in have) for m in labels):
                    return True
            if lab.startswith(h) and lab != h:
                s = lab[len(h):]
                if all(any(m == u + s for u in have) for m in labels):
                    return True
    return False


def _heuristic(state: Any, target: Any, target_labels: set, target_nan: bool = True) -> float:
    """In [0, 0.5): how far a state looks from the target (orders states of equal depth; kept
    under 0.5 so that, with call costs in [0.95, 1.2], no depth-d program costs more than depth
    d+1).

    Missing target labels weigh most; a different row or column count adds a little, and so do
    missing values when the target has none (``target_nan`` False): merges on keys that do not
    match and concatenations of unlike frames leave them. Least of all, a column whose kind of
    number (integer or float) is not that of the target's column of the same label: equality
    ignores dtypes, but of two states that tie otherwise (a group-by sum and mean of one-row
    groups) the one that keeps the target's integers is likelier its program."""
    if not target_labels or not isinstance(state, (pd.DataFrame, pd.Series)):
        return 0.3
    uni = _universe(state)
    miss = sum(1 for v in target_labels if v not in uni) / len(target_labels)
    tshape = getattr(target, "shape", ())
    rows = 0.0 if tshape[:1] == state.shape[:1] else 0.1
    cols = 0.0 if tshape[1:] == state.shape[1:] else 0.05
    nan = 0.04 if not target_nan and bool(state.isna().to_numpy().any()) else 0.0
    return 0.3 * miss + rows + cols + nan + 0.009 * _kind_mismatch(state, target)


def _kind_mismatch(state: Any, target: Any) -> float:
    """The share of the target's numeric columns (of unique labels; a Series is one) whose
    label the state has with a numeric column of the other kind, integer or float."""
    def kinds(obj: Any) -> dict:
        if isinstance(obj, pd.Series):
            return {None: obj.dtype.kind}
        if not isinstance(obj, pd.DataFrame) or not obj.columns.is_unique:
            return {}
        return {c: d.kind for c, d in obj.dtypes.items()}
    if isinstance(state, pd.Series) != isinstance(target, pd.Series):
        return 0.0
    want = {c: k for c, k in kinds(target).items() if k in "iuf"}
    have = kinds(state)
    off = sum(1 for c, k in want.items() if c in have and have[c] in "iuf"
              and (have[c] == "f") != (k == "f"))
    return off / len(want) if want else 0.0


def hint_constants(objs: Sequence[Any]) -> tuple:
    """Literal constants in auxiliary hints: numbers and quoted strings in text, list elements.

    Text is tokenized, never evaluated: ``'d > 0'`` gives ``0``, ``'Group == "A"'`` gives ``"A"``.
    """
    out: list = []
    for o in objs:
        if isinstance(o, (list, tuple)):
            out.extend(hint_constants(list(o)))
        elif isinstance(o, (int, float)) and not isinstance(o, bool):
            out.append(o)
        elif isinstance(o, str):
            try:
                for tok in tokenize.generate_tokens(io.StringIO(o).readline):
                    if tok.type == tokenize.NUMBER:
                        out.append(float(tok.string) if any(ch in tok.string for ch in ".eE")
                                   else int(tok.string, 0))
                    elif tok.type == tokenize.STRING and tok.string[:1] in "'\"":
                        out.append(tok.string[1:-1])
            except (tokenize.TokenError, IndentationError, SyntaxError, ValueError):
                continue
    return tuple(out)


def synthesize(inputs: Sequence[Any], target: Any, config: SearchConfig = SearchConfig(),
               matcher: Matcher | None = None, constants: Sequence[Any] = (),
               scorer: Scorer | None = None) -> SearchResult:
    """Find a chain of DSL calls over ``inputs`` whose result matches ``target``.

    Iterative deepening: best-first passes with depth limit 1, 2, ... ``max_depth``; pass L
    only pops entries costing less than L + 1 (the last pass is unbounded). In each pass the
    deepest level is final, so the final-level pruning (row rules, reachability) applies to it;
    the repeated cheap levels cost little next to the newest one.

    Runs in the calling process with the sandbox's soft bounds only (an alarm between bytecodes,
    on the main thread; cell estimates): one C loop can overrun ``timeout_s`` and one allocation
    can exhaust memory. The command line and ``benchmarks/autopandas_bench.py`` add hard bounds
    by calling this inside :func:`autopandas.isolation.run_isolated`, which a caller on Linux may
    do too: ``run_isolated(lambda: synthesize(...), time.monotonic() + timeout_s + KILL_GRACE_S)``.
    """
    if config.search == "ranked" and scorer is None:
        raise ValueError("search='ranked' needs a scorer")
    inputs = list(inputs)
    match = matcher or exact_matcher(target)
    start = time.monotonic()
    result = SearchResult(None, False, 0, 0.0, functions=len(dsl.functions()))
    for i, v in enumerate(inputs):
        if _safe_match(match, v):
            return _done(result, Program(i), start, True, len(inputs))
    p = _Pass(inputs, target, match, constants, scorer, config, start + config.timeout_s, result)
    with Sandbox(config.call_timeout_s, config.max_cells) as box:
        for limit in range(1, config.max_depth + 1):
            bound = float("inf") if limit == config.max_depth else limit + 1.0
            found = p.run(limit, bound, box)
            result.sandbox = dict(box.counts)
            if found is not None:
                return _done(result, found, start, True, len(inputs))
            if result.timed_out:
                return _done(result, None, start, False, len(inputs))
            if result.states_dropped:
                pass        # programs through the dropped states were not tried
            elif bound == float("inf"):
                result.depth_completed = limit
            else:
                result.cost_completed = bound
    return _done(result, None, start, False, len(inputs))


class _Pass:
    """One best-first pass up to a depth limit (state shared across passes: the counters)."""

    def __init__(self, inputs: list, target: Any, match: Matcher, constants: Sequence[Any],
                 scorer: Scorer | None, config: SearchConfig, deadline: float,
                 result: SearchResult) -> None:
        self.inputs, self.target, self.match = inputs, target, match
        self.constants, self.scorer, self.config = constants, scorer, config
        self.deadline, self.result = deadline, result
        self.funcs = dsl.functions()
        self.shape_rule = getattr(match, "shape_rule", None)   # unknown matchers: no column rule
        self.cache: dict = {}
        self.cached_cells = 0
        self.reach = _Reach(target, inputs)
        self.frames = frozenset(i for i, v in enumerate(inputs) if dsl.receiver_kind(v) is not None)
        self.orders: dict[tuple[bool, bool], tuple[tuple[int, float], ...]] = {}
        # Whether a call reading another input (dsl.Function.input_args) can be the last one: with
        # a frame, its result is a frame at least as wide as that input (merge, join, concat and
        # combine_first keep its columns: dsl.MORE_COLUMNS; add, sub, mul and div align on their
        # union); with a Series, also a Series (concat, arithmetic of two Series). Unknown
        # matchers: assume it can.
        self.final_reads = self.shape_rule is None or any(
            (isinstance(target, pd.DataFrame) and dsl.column_count(inputs[i]) <= target.shape[1])
            or (isinstance(target, pd.Series) and isinstance(inputs[i], pd.Series))
            for i in self.frames)
        self.target_forms = dsl.target_label_forms(target)
        self.hints = frozenset(_typed(v) for v in constants if not isinstance(v, (list, tuple))
                               and _hashable(v))
        self.held: tuple[float, Program] | None = None     # (when it is returned, a held match)
        self.target_rows = len(target) if isinstance(target, (pd.DataFrame, pd.Series, np.ndarray)) \
            and getattr(target, "ndim", 1) >= 1 else None
        self.tlabels: set = set()
        # The forms of the target's row and column labels (last levels) a final pivot must make
        # from its keys' values (exact matching only: a CSV target may hold the index as a
        # column; none for an axis with fractional floats, which compare with a tolerance).
        self.pivot_want: tuple = ()
        if self.shape_rule == "exact" and isinstance(target, pd.DataFrame):
            self.pivot_want = tuple(_label_forms_exact(ax.get_level_values(-1).unique())
                                    for ax in (target.index, target.columns))
        self.target_nan = not isinstance(target, (pd.DataFrame, pd.Series)) or bool(
            target.isna().to_numpy().any())
        if isinstance(target, (pd.DataFrame, pd.Series)):
            for ax in [target.index] + ([target.columns] if isinstance(target, pd.DataFrame) else []):
                for lev in range(ax.nlevels):
                    self.tlabels.update(_hashables(ax.get_level_values(lev)[:200]))

    def _hold_cost(self, program: Program) -> float:
        """How much later than found a match is returned (module docstring)."""
        later = ROW_LABEL_COST if _uses_row_labels(program) else 0.0
        if _rereads_input(program):
            later += REREAD_INPUT_COST
        if self.hints and not _uses_hint(program, self.hints):
            later += UNUSED_HINT_COST
        return later

    def _unread_cost(self, fn: dsl.Function, fcost: float, now_used: frozenset) -> float:
        """UNUSED_INPUT_COST for a match that leaves a frame input unread, unless its call's
        place in the order (``fcost``) counted it already: a call that could read another input
        but did not (an operand computed from the receiver), or a match shorter than the depth
        limit, whose later calls could have read it."""
        if self.frames <= now_used or fcost > fn.cost:
            return 0.0
        return UNUSED_INPUT_COST

    def _keep_preferred(self, states: list, sid: int, prog: Program, step: Step, cost: float,
                        used: frozenset) -> None:
        """A call gave state ``sid`` again: the state takes this program instead when, counting
        how much later a match through it would be returned (``_hold_cost``), it is cheaper
        (``df0.query('g == "A"')`` for the ``df0.head(3)`` found first, where the task gives
        "A"). Its cost and queue entries stay as they were; only later calls on it see the
        new program."""
        if sid < 0:
            return
        value, old, old_cost, old_used = states[sid]
        if used != old_used or not old.steps:
            return
        new = prog.then(step)
        if cost + self._hold_cost(new) < old_cost + self._hold_cost(old):
            states[sid] = (value, new, old_cost, old_used)

    def _pivot_possible(self, name: str, value: pd.DataFrame, args: dict, forms: dict) -> bool:
        """Whether a final pivot can give the target's row and column labels (last levels):
        they are values of its index and columns keys (``dsl.pivot_keys``). ``forms`` caches
        each key column's ``dsl.value_forms`` for this receiver."""
        for key, want in zip(dsl.pivot_keys(name, args), self.pivot_want):
            if key is None or not want:
                continue
            if key not in forms:
                col = value[key]
                forms[key] = dsl.value_forms(col) if isinstance(col, pd.Series) else None
            have = forms[key]
            if have is not None and any(f.isdisjoint(have) for f in want):
                return False
        return True

    def _held(self) -> Program | None:
        return self.held[1] if self.held is not None else None

    def _run_cached(self, box: Sandbox, depth: int, sid: int, fi: int, pos: int,
                    fn: dsl.Function, value: Any, args: dict) -> Any:
        """Run a candidate; one-call candidates are remembered across passes (deterministic
        enumeration makes (input, function, position) a key), up to CACHE_CELLS cells in all."""
        if depth != 1:
            return box.run(dsl.call, fn, value, args, self.inputs)
        key = (sid, fi, pos)
        out = self.cache.get(key)
        if out is None:
            out = box.run(dsl.call, fn, value, args, self.inputs)
            size = _cells(out.value) if out.ok else 0
            if self.cached_cells + size <= CACHE_CELLS:
                self.cache[key] = out
                self.cached_cells += size
        return out

    def _order(self, left: int, used: frozenset) -> tuple[tuple[int, float], ...]:
        """(function index, call cost) in the order a state tries its next call, cheapest first;
        ``left`` calls may follow that one within the pass's depth limit.

        A call after which the program can no longer read every frame input costs
        UNUSED_INPUT_COST more: a call that can read another input (``dsl.Function.input_args``:
        merge, concat... and add, sub, mul, div) may read one more, and so may each later call,
        but the last one only when such a call can end the program at all (``final_reads``).
        So with several inputs, the programs reading all of them go first: tasks that give
        several tables use them all. (A call of those that reads none, say ``div`` by the
        receiver's own row totals, is counted when it matches: ``_unread_cost``.)
        """
        unused = len(self.frames - used)
        readable = left if self.final_reads else max(left - 1, 0)
        key = (unused > readable, unused - 1 > readable)    # (other calls, input-reading calls) late
        if key not in self.orders:
            costs = [(i, f.cost + (UNUSED_INPUT_COST if key[bool(f.input_args)] else 0.0))
                     for i, f in enumerate(self.funcs)]
            self.orders[key] = tuple(sorted(costs, key=lambda ic: ic[1]))
        return self.orders[key]

    def run(self, limit: int, bound: float, box: Sandbox) -> Program | None:
        """One pass: the first matching program, or None (``result.timed_out`` says whether the
        deadline stopped it). The sandbox's alarm holds the deadline for the whole pass, so time
        spent outside candidate calls (argument generation, hashing, comparing) is bounded too;
        off the main thread the explicit checks below are all there is."""
        # (value, program, path cost, frame inputs the program reads)
        states: list[tuple[Any, Program, float, frozenset]] = []
        try:
            with box.until(self.deadline):
                found = self._expand(limit, bound, box, states)
                # a bounded pass leaves a held match to the next, which may find a cheaper one,
                # unless the deadline ended it (the explicit checks: off the main thread there
                # is no alarm to raise CallTimeout)
                if found is None and (bound == float("inf") or self.result.timed_out):
                    return self._held()
                return found
        except CallTimeout:
            self.result.timed_out = True
            return self._held()
        finally:
            self.result.states += len(states)

    def _past_deadline(self) -> bool:
        if time.monotonic() > self.deadline:
            self.result.timed_out = True
            return True
        return False

    def _expand(self, limit: int, bound: float, box: Sandbox,
                states: list[tuple[Any, Program, float, frozenset]]) -> Program | None:
        funcs, config, inputs, result = self.funcs, self.config, self.inputs, self.result
        # Hashes of the content keys, not the keys: a key holds every cell of its value, so a
        # set of keys held a copy of every intermediate ever produced (a hash collision, odds
        # about n**2 / 2**64, would only skip one state).
        seen: dict[int, int] = {}      # content hash -> its state id (-1: not kept)
        state_cells = 0
        texts: dict[int, frozenset] = {}   # state id -> its label texts (the label rule)
        heap: list = []
        seq = 0
        if self.held is not None:
            heap.append((self.held[0], seq, _HELD, 0, 0))
            seq += 1
        for i, v in enumerate(inputs):
            k = state_key(v)
            if k is not None:
                seen[hash(k)] = len(states) if dsl.receiver_kind(v) is not None else -1
            if dsl.receiver_kind(v) is not None:
                states.append((v, Program(i), 0.0, frozenset({i})))
                order = self._order(limit - 1, states[-1][3])
                heapq.heappush(heap, (order[0][1], seq, len(states) - 1, 0, 0))
                seq += 1
        while heap:
            if self._past_deadline():
                return None
            prio, _, sid, pos, tier = heapq.heappop(heap)
            if prio >= bound:
                break
            if sid == _HELD:
                return self._held()     # nothing cheaper matched
            value, prog, cost, used = states[sid]
            depth = len(prog) + 1
            order = self._order(limit - depth, used)
            fi, fcost = order[pos]
            if tier == 0 and pos + 1 < len(order):
                heapq.heappush(heap, (prio - fcost + order[pos + 1][1], seq, sid, pos + 1, 0))
                seq += 1
            fn = funcs[fi]
            if not fn.accepts(value):
                continue
            final = depth == limit
            if final and self.target_rows is not None and not dsl.rows_possible(
                    fn.name, len(value), self.target_rows):
                continue
            if final and self.shape_rule and not dsl.columns_possible(
                    fn.name, value, self.target, self.shape_rule == "csv", inputs):
                continue
            if final and self.target_forms and fn.name in dsl.KEEPS_LABELS:
                if sid not in texts:
                    texts[sid] = dsl.receiver_label_texts(value)
                if not dsl.labels_possible(fn.name, texts[sid], self.target_forms):
                    continue
            keep = not final
            final_next = depth + 1 == limit
            pivot_forms = {} if final and self.pivot_want and fn.name in PIVOTS else None
            ctx = GenContext(value, inputs, self.target, self.constants)
            lo = TIERS[tier - 1] if tier else 0
            hi = min(TIERS[tier], config.max_args_per_call) if tier < len(TIERS) else config.max_args_per_call
            produced = 0
            cands = _contained(enumerate_choices(generator(fn.name), ctx, scorer=self.scorer, limit=hi,
                                                 deadline=self.deadline), fn.name)
            for args, trace in cands:
                produced += 1
                if self._past_deadline():
                    return None
                if produced <= lo:
                    continue
                if pivot_forms is not None and not self._pivot_possible(fn.name, value, args,
                                                                         pivot_forms):
                    continue
                out = self._run_cached(box, depth, sid, fi, produced, fn, value, args)
                result.candidates_tried += 1
                if not out.ok:
                    continue
                now_used = used | dsl.inputs_read(fn, args) if fn.input_args else used
                if _safe_match(self.match, out.value):
                    found = prog.then(Step(fn.name, args, tuple(trace)))
                    if _renders(found, len(inputs)):
                        later = self._hold_cost(found) + self._unread_cost(fn, fcost, now_used)
                        if not later:
                            return found
                        if self.held is None or prio + later < self.held[0]:
                            self.held = (prio + later, found)
                            heapq.heappush(heap, (prio + later, seq, _HELD, 0, 0))
                            seq += 1
                if self._past_deadline():
                    return None
                if not keep or dsl.receiver_kind(out.value) is None:
                    continue
                k = state_key(out.value)
                key = None
                if k is not None:
                    key = hash(k)
                    del k
                    if key in seen:
                        self._keep_preferred(states, seen[key], prog,
                                             Step(fn.name, args, tuple(trace)),
                                             cost + fn.cost, now_used)
                        continue
                    seen[key] = -1
                if final_next and not self.reach.final_step_possible(out.value):
                    continue
                cells = _cells(out.value)
                if len(states) >= config.max_states or state_cells + cells > config.max_state_cells:
                    result.states_dropped += 1
                    result.limits_reached.add("max_states" if len(states) >= config.max_states
                                              else "max_state_cells")
                    continue
                state_cells += cells
                ccost = cost + fn.cost
                if key is not None:
                    seen[key] = len(states)
                states.append((out.value, prog.then(Step(fn.name, args, tuple(trace))), ccost, now_used))
                h = _heuristic(out.value, self.target, self.tlabels, self.target_nan)
                first = self._order(limit - depth - 1, now_used)[0][1]
                heapq.heappush(heap, (ccost + h + first, seq, len(states) - 1, 0, 0))
                seq += 1
            if self._past_deadline():
                return None         # the enumeration may have stopped early: not a finished tier
            if produced >= hi and hi < config.max_args_per_call:
                # More arguments remain: try them later, after the cheaper options of other calls.
                heapq.heappush(heap, (prio + TIER_COST, seq, sid, pos, tier + 1))
                seq += 1
        return None


def _label_forms_exact(labels: pd.Index) -> tuple:
    """``dsl.label_forms`` of each label (those that have forms), or () when one is a
    fractional float: equality compares those with a tolerance, not as text."""
    out = []
    for v in labels:
        v = py(v)
        if isinstance(v, float) and v == v and not v.is_integer():
            return ()
        forms = dsl.label_forms(v)
        if forms:
            out.append(forms)
    return tuple(out)


#: The calls whose result labels are values of their key columns (``dsl.pivot_keys``).
PIVOTS = frozenset({"pivot", "pivot_table"})
#: The state id of the queue entry that returns the held match.
_HELD = -1


def _typed(v: Any) -> tuple:
    """A constant with its type (``True == 1``, but a boolean argument is no use of a 1)."""
    v = py(v)
    return (type(v), v)


#: The arguments that compare cells with a value or fill cells with one: where a constant the
#: task gives is used as given (a row label or a count that equals it is not such a use).
CELL_VALUE_ARGS = frozenset({("query", "rhs"), ("isin", "values"), ("fillna", "value"),
                             ("where", "value"), ("mask", "value"), ("clip", "lower"),
                             ("clip", "upper")})


def _uses_hint(program: Program, hints: frozenset) -> bool:
    """Whether a cell value argument of ``program`` (CELL_VALUE_ARGS), or an item of one, or the
    number an arithmetic call (``df0.mul(100)``) takes as its operand, is one of the task's
    constants."""
    for step in program.steps:
        derived = step.args.get("derived") if step.function in ARITH_OPS else None
        if derived is not None and derived[0] == "scalar" and _typed(derived[1]) in hints:
            return True
        for name, v in step.args.items():
            if (step.function, name) not in CELL_VALUE_ARGS:
                continue
            for item in (v if isinstance(v, (list, tuple)) else (v,)):
                if _hashable(item) and _typed(item) in hints:
                    return True
    return False


#: The arguments that pick rows by label or position (``take`` on axis 0 only).
ROW_ARGS = frozenset({("loc", "rows"), ("loc_rows_columns", "rows"), ("drop_rows", "index"),
                      ("take", "indices")})


def _uses_row_labels(program: Program) -> bool:
    return any((step.function, name) in ROW_ARGS and not (step.function == "take" and step.args.get("axis"))
               for step in program.steps for name in step.args)


def _rereads_input(program: Program) -> bool:
    """Whether a call of ``program`` combines its receiver with an input the chain has read
    already (``df0.dropna().merge(df0)``)."""
    read = {program.source}
    for step in program.steps:
        fn = dsl.get(step.function)
        if not fn.input_args:
            continue
        now = dsl.inputs_read(fn, step.args)
        if now & read:
            return True
        read |= now
    return False


def _cells(value: Any) -> int:
    shape = getattr(value, "shape", ())
    return int(np.prod(shape)) if shape else 1


def _contained(it: Any, name: str) -> Any:
    """Iterate a generator's enumeration; a generator that fails on odd data ends quietly."""
    try:
        yield from it
    except Exception as e:  # noqa: BLE001 - a domain computation failing must not end the search
        log.debug("generator %s failed: %s", name, e)


def _renders(program: Program, n_inputs: int) -> bool:
    """Whether ``program`` prints as Python (a constant of a type ``dsl.lit`` cannot write, say a
    complex number, would make a match the user cannot run: the search goes on instead)."""
    try:
        program.render(n_inputs)
        return True
    except ValueError as e:
        log.debug("match not renderable, search goes on: %s", e)
        return False


def _safe_match(match: Matcher, value: Any) -> bool:
    try:
        return bool(match(value))
    except Exception as e:  # noqa: BLE001 - a comparison that can't be made is a mismatch
        log.debug("matcher failed: %s", e)
        return False


def _done(result: SearchResult, program: Program | None, start: float, solved: bool,
          n_inputs: int) -> SearchResult:
    result.program = program
    result.solved = solved
    result.seconds = time.monotonic() - start
    result.rendered = program.render(n_inputs) if program is not None else None
    return result
