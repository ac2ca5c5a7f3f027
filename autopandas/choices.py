"""Choice operators: every decision an argument generator makes goes through one of these.

AutoPandas (Bavishi et al., OOPSLA 2019, section 3) writes argument generators as ordinary code
whose nondeterminism is confined to four operators:

- ``select(label, domain)``: one element of ``domain``;
- ``subset(label, domain, min_len, max_len)``: an unordered subset (kept in domain order);
- ``ordered_subset(label, domain, min_len, max_len)``: a permutation of a subset;
- ``sequence(label, domain, length)``: ``length`` elements drawn with repetition.

A generator is a plain function ``gen(chooser, ctx) -> value``. The chooser decides; which chooser
runs it is the *mode*:

- exhaustive (:func:`enumerate_choices`): every combination of decisions, depth-first, options in
  domain order (generators put the likeliest options first);
- random (:class:`RandomChooser`): uniform choices, used to make random programs (training data);
- ranked (:func:`enumerate_choices` with a ``scorer``): every combination, each choice point's
  options visited in the order of the scores a model gives (the neural model plugs in here);
- replay (:class:`ReplayChooser`): a recorded trace of decisions, replayed exactly.

Every run records a trace: one :class:`Decision` per choice point (operator, label, the options'
count, the chosen index and value), so any generated argument tuple can be stored and replayed.
An operator with no options raises :class:`Infeasible`; exhaustive enumeration treats that branch
as dead, the other modes pass it on.
"""
from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterator, Sequence

OPERATORS = ("select", "subset", "ordered_subset", "sequence")

#: A model's scorer: (operator, label, options) -> one score per option, higher first.
Scorer = Callable[[str, str, Sequence[Any]], Sequence[float]]


class Infeasible(Exception):
    """A choice point has no options (an empty domain): this branch of the generator is dead."""


@dataclass(frozen=True)
class Decision:
    """One decision at one choice point."""

    op: str
    """Which operator: one of OPERATORS."""
    label: str
    """The choice point's name, e.g. ``"sort_values.by"``."""
    n_options: int
    """How many options the point offered."""
    index: int
    """The chosen option's position in the options list."""
    value: Any
    """The chosen value (for reading traces and for training data)."""


def _options(op: str, domain: tuple, lo: int, hi: int) -> tuple:
    """All options of one operator over a domain, smallest first (cached: generators rerun often)."""
    # The cache key carries the element types: (0, 1) == (False, True) in Python.
    return _options_cached(op, domain, lo, hi, _sig(domain))


def _sig(v: Any) -> Any:
    if isinstance(v, tuple):
        return tuple(_sig(x) for x in v)
    return type(v).__name__


#: Most options one subset / ordered_subset / sequence point offers: the first ones, smallest
#: first, in domain order. Without a cap a frame of 3000 columns asks for 3000**3 orderings of
#: sort keys (hours and gigabytes before the first candidate runs); an exhaustive search never
#: tries more than ``SearchConfig.max_args_per_call`` argument tuples of one call anyway.
MAX_OPTIONS = 20_000


@lru_cache(maxsize=4096)
def _options_cached(op: str, domain: tuple, lo: int, hi: int, sig: Any) -> tuple:
    if op == "select":
        return domain
    if op == "subset":
        each = itertools.combinations
    elif op == "ordered_subset":
        each = itertools.permutations
    elif op == "sequence":
        def each(dom: tuple, k: int) -> Iterator[tuple]:
            return itertools.product(dom, repeat=k)
    else:
        raise ValueError(f"unknown operator {op!r}")
    lazy = itertools.chain.from_iterable(each(domain, k) for k in range(lo, hi + 1))
    return tuple(itertools.islice(lazy, MAX_OPTIONS))


class Chooser:
    """Base chooser: the four operators reduce to :meth:`_choose` over a materialised options list."""

    def __init__(self) -> None:
        self.trace: list[Decision] = []

    def select(self, label: str, domain: Sequence[Any]) -> Any:
        """Pick one element of ``domain``."""
        return self._pick("select", label, _hashable(domain), 1, 1)

    def subset(self, label: str, domain: Sequence[Any], min_len: int = 1,
               max_len: int | None = None) -> tuple:
        """Pick an unordered subset of ``domain`` (returned in domain order)."""
        dom = _hashable(domain)
        return self._pick("subset", label, dom, min_len, _cap(max_len, len(dom)))

    def ordered_subset(self, label: str, domain: Sequence[Any], min_len: int = 1,
                       max_len: int | None = None) -> tuple:
        """Pick an ordered subset (a permutation of a subset) of ``domain``."""
        dom = _hashable(domain)
        return self._pick("ordered_subset", label, dom, min_len, _cap(max_len, len(dom)))

    def sequence(self, label: str, domain: Sequence[Any], length: int | tuple[int, int]) -> tuple:
        """Pick ``length`` elements of ``domain`` with repetition (``length`` may be a range)."""
        lo, hi = (length, length) if isinstance(length, int) else length
        return self._pick("sequence", label, _hashable(domain), lo, hi)

    def _pick(self, op: str, label: str, domain: tuple, lo: int, hi: int) -> Any:
        options = _options(op, domain, lo, hi)
        if not options:
            raise Infeasible(label)
        index = self._choose(op, label, options)
        value = options[index]
        self.trace.append(Decision(op, label, len(options), index, value))
        return value

    def _choose(self, op: str, label: str, options: tuple) -> int:
        raise NotImplementedError


def _cap(max_len: int | None, n: int) -> int:
    return n if max_len is None else min(max_len, n)


def _hashable(domain: Sequence[Any]) -> tuple:
    out = []
    for x in domain:
        try:
            hash(x)
        except TypeError:
            x = tuple(x) if isinstance(x, list) else repr(x)
        out.append(x)
    return tuple(out)


class RandomChooser(Chooser):
    """Uniform random choices from a seeded generator (random mode)."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng

    def _choose(self, op: str, label: str, options: tuple) -> int:
        return self.rng.randrange(len(options))


class ReplayChooser(Chooser):
    """Replays recorded decisions; fails loudly when the generator asks something else."""

    def __init__(self, decisions: Sequence[Decision]) -> None:
        super().__init__()
        self._queue = list(decisions)

    def _choose(self, op: str, label: str, options: tuple) -> int:
        if not self._queue:
            raise ValueError(f"replay trace exhausted at choice point {label!r}")
        d = self._queue.pop(0)
        if d.op != op or d.label != label or d.n_options != len(options):
            raise ValueError(f"replay mismatch at {label!r}: recorded {d.op} {d.label} "
                             f"({d.n_options} options), generator asked {op} ({len(options)})")
        return d.index


class _PrefixChooser(Chooser):
    """Follows a prefix of option *ranks*, then takes rank 0; records each point's option count.

    ``order`` maps a point to the visiting order of its options (identity when exhaustive, sorted
    by score when ranked), so rank r means "the r-th option in visiting order".
    """

    def __init__(self, prefix: list[int], scorer: Scorer | None) -> None:
        super().__init__()
        self.prefix = prefix
        self.scorer = scorer
        self.ranks: list[int] = []
        self.counts: list[int] = []

    def _choose(self, op: str, label: str, options: tuple) -> int:
        i = len(self.ranks)
        rank = self.prefix[i] if i < len(self.prefix) else 0
        self.ranks.append(rank)
        self.counts.append(len(options))
        if self.scorer is None:
            return rank
        scores = list(self.scorer(op, label, options))
        if len(scores) != len(options):
            raise ValueError(f"scorer returned {len(scores)} scores for {len(options)} options at {label!r}")
        order = sorted(range(len(options)), key=lambda j: -scores[j])
        return order[rank]


def enumerate_choices(gen: Callable[[Chooser, Any], Any], ctx: Any,
                      scorer: Scorer | None = None,
                      limit: int | None = None,
                      deadline: float | None = None) -> Iterator[tuple[Any, list[Decision]]]:
    """Every value ``gen`` can produce, with its trace, depth-first (exhaustive or ranked mode).

    The generator is rerun once per value with a growing/backtracked prefix of decisions, so it
    must be deterministic given its decisions. ``limit`` stops after that many values;
    ``deadline`` (a ``time.monotonic()`` time) stops before any rerun that would start after it,
    dead branches included (the caller tells a finished enumeration from a stopped one by the clock).
    """
    prefix: list[int] = []
    produced = 0
    while True:
        if deadline is not None and time.monotonic() > deadline:
            return
        chooser = _PrefixChooser(prefix, scorer)
        try:
            value = gen(chooser, ctx)
            ok = True
        except Infeasible:
            ok = False
        if ok:
            yield value, chooser.trace
            produced += 1
            if limit is not None and produced >= limit:
                return
        # Backtrack: bump the deepest decision that still has options left.
        ranks, counts = chooser.ranks, chooser.counts
        j = len(ranks) - 1
        while j >= 0 and ranks[j] + 1 >= counts[j]:
            j -= 1
        if j < 0:
            return
        prefix = ranks[:j] + [ranks[j] + 1]


def run_recorded(gen: Callable[[Chooser, Any], Any], ctx: Any,
                 chooser: Chooser) -> tuple[Any, list[Decision]]:
    """Run ``gen`` once with ``chooser`` (random or replay mode); return its value and trace."""
    value = gen(chooser, ctx)
    return value, chooser.trace
