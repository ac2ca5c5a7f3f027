"""Does a synthesized program generalise beyond its one example? Compare it with a reference.

A program that reproduces the single given output may still overfit it (a row reorder by literal
labels reproduces a merge's row order on these rows only). This module makes ``k`` seeded,
schema-keeping perturbed copies of the task's frames (:func:`perturb`: rows shuffled, a row
dropped or duplicated, values resampled within each column from that column's own values,
numeric columns scaled or shifted; a RangeIndex stays a RangeIndex), runs the reference program
and the candidate on each copy and compares them with AutoPandas equality (:func:`generalizes`).

Both programs run only as DSL :class:`~autopandas.program.Program` s, step by step through the
project's :class:`~autopandas.sandbox.Sandbox` (whitelisted DSL calls only). A reference given as
Python text (the benchmark's ``reference_program``) is never evaluated: :func:`parse_reference`
parses it with :mod:`ast` and finds the DSL program whose rendering (``Program.render``) is the
same expression, matching each receiver prefix of the reference against the rendered candidates
of the generators (argument values written positionally or by keyword, defaults omitted or
spelled out, a single label or a one-element list compare alike). Text the DSL cannot express
gives None, and the verdict is ``n/a``.

Verdicts: ``yes`` (agrees on every usable copy), ``no`` (disagrees on at least one; a candidate
that fails where the reference runs disagrees), ``n/a`` (no reference program, or no usable copy:
a copy where the reference itself fails is skipped). A run that cannot be checked (its result
cannot be pickled back from an isolated worker, an exception escaped the sandbox there, its
result's comparison raises) counts as a failed run, with the reason: never a crash.

The sandbox's bounds are soft (a C loop runs to its end; its memory guard is an estimate), so a
caller that must survive any program passes :func:`isolated_runner` as ``run``: each program run
then happens in a forked worker with a time and memory limit (``isolation.run_isolated``), and a
run killed at its limit, or whose worker died, is a failed run: a disagreement for the candidate
(counted in ``Generalization.killed``), a skipped copy for the reference.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from pandas.core.groupby import DataFrameGroupBy

from . import dsl
from .choices import enumerate_choices
from .equality import equal
from .generators import GenContext, generator
from .isolation import HEADROOM_BYTES, KILL_GRACE_S, WorkerDied, WorkerTimeout, run_isolated
from .program import Program, Step
from .sandbox import Outcome, Sandbox

log = logging.getLogger(__name__)

VERDICTS = ("yes", "no", "n/a")
#: Seconds :func:`parse_reference` may spend matching a reference by default (the benchmark
#: gives the reference's worker this much besides the run's own limit).
PARSE_S = 30.0
#: The error of an :func:`isolated_runner` run killed at its time limit.
TIME_LIMIT = "time limit"

#: How a program runs on one copy of the inputs: ``run(program, inputs) -> Outcome``.
Runner = Callable[[Program, Sequence[Any]], Outcome]


@dataclass(frozen=True)
class Generalization:
    """The outcome of comparing a candidate with a reference on perturbed copies."""

    verdict: str
    """``yes``, ``no`` or ``n/a`` (see the module docstring)."""
    copies: int
    """Perturbed copies made."""
    usable: int
    """Copies where the reference program ran (the others are skipped)."""
    disagreements: int
    """Usable copies where the candidate failed or gave a different result."""
    reason: str = ""
    """Why the verdict is ``n/a``, when it is; for ``no``, why the first killed run failed, or
    why the first run that could not be checked could not (its result could not come back from
    its worker or be compared)."""
    killed: int = 0
    """Disagreements where the candidate's run was killed at its time limit or its worker died
    (``Outcome.killed``: with :func:`isolated_runner` only)."""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def label(self) -> str:
        """Short text for a table: ``yes``, ``no (2/5)`` or ``n/a``."""
        if self.verdict == "no":
            return f"no ({self.disagreements}/{self.usable})"
        return self.verdict


# ----------------------------------------------------------------------------- perturbation

def _new_index(old: pd.Index, rows: np.ndarray) -> pd.Index:
    if isinstance(old, pd.RangeIndex):
        return pd.RangeIndex(len(rows), name=old.name)
    return old.take(rows)


def _scaled(col: pd.Series, rng: np.random.Generator) -> pd.Series:
    if pd.api.types.is_bool_dtype(col.dtype):
        return col
    if pd.api.types.is_integer_dtype(col.dtype):
        return col + int(rng.integers(1, 10))
    if pd.api.types.is_float_dtype(col.dtype):
        return col * float(rng.choice([0.5, 2.0, 3.0])) + float(rng.integers(1, 10))
    return col


def perturb(obj: Any, rng: np.random.Generator) -> Any:
    """One schema-keeping random variant of a frame or Series (anything else is returned as is).

    Row operations (shuffle; drop or duplicate one row) move labels with their rows, except a
    RangeIndex, which is renumbered. Then, each with probability 1/2, every column's values are
    resampled from that column and numeric columns (not bool) are scaled and shifted.
    """
    if not isinstance(obj, (pd.DataFrame, pd.Series)):
        return obj
    n = len(obj)
    rows = np.arange(n)
    if n > 1 and rng.random() < 0.7:
        rows = rng.permutation(n)
    change = rng.integers(3)
    if change == 1 and n > 2:
        rows = np.delete(rows, rng.integers(len(rows)))
    elif change == 2 and n > 0:
        at = int(rng.integers(len(rows)))
        rows = np.insert(rows, at, rows[at])
    out = obj.iloc[rows]
    out = out.set_axis(_new_index(obj.index, rows), axis=0)
    resample, scale = rng.random() < 0.5, rng.random() < 0.5
    if not (resample or scale) or len(out) == 0:
        return out
    cols = [out] if isinstance(out, pd.Series) else [out.iloc[:, j] for j in range(out.shape[1])]
    new = []
    for col in cols:
        if resample:
            col = col.iloc[rng.integers(len(col), size=len(col))].set_axis(col.index)
        if scale:
            col = _scaled(col, rng)
        new.append(col)
    if isinstance(out, pd.Series):
        return new[0].rename(obj.name)
    if not new:
        return out
    frame = pd.concat(new, axis=1, ignore_index=True)
    frame.columns = out.columns
    return frame


def perturbed_copies(inputs: Sequence[Any], k: int, seed: int = 0) -> list[list[Any]]:
    """``k`` perturbed copies of ``inputs``; copy ``c`` depends only on ``(seed, c)``."""
    out = []
    for c in range(k):
        rng = np.random.default_rng([seed, c])
        out.append([perturb(x, rng) for x in inputs])
    return out


# ----------------------------------------------------------------------------- running

def generalizes(candidate: Program, reference: Program | None, inputs: Sequence[Any],
                k: int = 5, seed: int = 0, box: Sandbox | None = None,
                run: Runner | None = None) -> Generalization:
    """Compare ``candidate`` with ``reference`` on ``k`` perturbed copies of ``inputs``. Each
    program runs through ``run`` (such as :func:`isolated_runner`), else step by step in ``box``
    (a new :class:`Sandbox` when None)."""
    if reference is None:
        return Generalization("n/a", 0, 0, 0, "no reference program in the DSL")
    usable = disagree = killed = 0
    reason = ""
    with contextlib.ExitStack() as stack:
        if run is None:
            run = functools.partial(_run_in, box if box is not None else stack.enter_context(Sandbox()))
        ref_unchecked = ""
        for copy in perturbed_copies(inputs, k, seed):
            ref, why = _attempt(run, reference, copy)
            if not ref.ok:
                ref_unchecked = ref_unchecked or why
                continue
            usable += 1
            got, why = _attempt(run, candidate, copy)
            same = False
            if got.ok:
                try:
                    same = equal(ref.value, got.value)
                except Exception as e:  # noqa: BLE001 - a cell whose own comparison raises
                    why = f"its result could not be compared with the reference's: {_one_line(e)}"
            if not same:
                disagree += 1
                if not got.ok and got.killed:
                    killed += 1
                    reason = reason or f"the candidate's run: {got.error}"
                elif why:
                    reason = reason or f"the candidate's run: {why}"
    if usable == 0:
        detail = f" (the first: {ref_unchecked})" if ref_unchecked else ""
        return Generalization("n/a", k, 0, 0, f"the reference failed on every copy{detail}")
    return Generalization("no" if disagree else "yes", k, usable, disagree, reason, killed)


def _attempt(run: Runner, program: Program, copy: Sequence[Any]) -> tuple[Outcome, str]:
    """``run(program, copy)``, and why it could not be checked when the runner raised: a result
    that cannot be pickled back from :func:`isolated_runner`'s worker, or an exception that
    escaped the sandbox there, is re-raised by ``run_isolated``; it is a failed run of this one
    program on this one copy, not the end of the whole comparison. Ctrl-C still propagates."""
    try:
        return run(program, copy), ""
    except Exception as e:  # see above: Ctrl-C and SystemExit still propagate
        why = f"could not be checked: {_one_line(e)}"
        log.debug("%s: %s", program, why, exc_info=e)
        return Outcome(False, error=why), why


def _one_line(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def isolated_runner(time_limit_s: float, headroom: int | None = HEADROOM_BYTES) -> Runner:
    """A ``run`` for :func:`generalizes`: each program run in a forked worker whose address space
    may grow by ``headroom`` bytes (None: no cap), killed ``time_limit_s`` + ``KILL_GRACE_S``
    after it starts; each call keeps the sandbox's own soft limits, as without a runner. A
    killed run fails with error :data:`TIME_LIMIT`, one whose worker died with ``worker died: ...``;
    both have ``Outcome.killed`` set."""
    def run(program: Program, inputs: Sequence[Any]) -> Outcome:
        def work() -> Outcome:
            with Sandbox() as box:
                return program.run(inputs, box)
        try:
            return run_isolated(work, time.monotonic() + time_limit_s + KILL_GRACE_S, headroom)
        except WorkerTimeout:
            return Outcome(False, error=TIME_LIMIT, killed=True)
        except WorkerDied as e:
            return Outcome(False, error=f"worker died: {e}", killed=True)
    return run


def _run_in(box: Sandbox, program: Program, inputs: Sequence[Any]) -> Outcome:
    return program.run(inputs, box)


# ----------------------------------------------------------------------------- reference parsing

_SIGNATURE_OWNERS = (pd.DataFrame, pd.Series)
#: Axis spellings of ``drop(labels, axis=...)``, which pandas documents as ``drop(columns=labels)``
#: (axis 1) or ``drop(index=labels)`` (axis 0).
_DROP_AXES = {(1,): "columns", ("columns",): "columns", (0,): "index", ("index",): "index"}


def _literal(node: ast.AST) -> Any:
    """A hashable normal form of an argument: literals by value (a lone scalar as a one-element
    tuple, lists as tuples), anything else by its AST dump."""
    try:
        v = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return ("expr", _canon(node))
    return _norm(v)


def _norm(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_norm(x) for x in v) if len(v) != 1 else _norm(v[0])
    if isinstance(v, dict):
        return ("dict", tuple(sorted((repr(a), _norm(b)) for a, b in v.items())))
    return (v,)


def _signature(method: str, on_groupby: bool) -> inspect.Signature | None:
    owners = (DataFrameGroupBy,) if on_groupby else _SIGNATURE_OWNERS
    for owner in owners:
        fn = getattr(owner, method, None)
        if callable(fn):
            try:
                return inspect.signature(fn)
            except (TypeError, ValueError):
                return None
    return None


def _canon(node: ast.AST) -> Any:
    """A comparable form of an expression: calls by receiver, method and bound arguments."""
    if isinstance(node, ast.Name):
        return ("name", node.id)
    if isinstance(node, ast.Attribute):
        if not any(hasattr(owner, node.attr) for owner in (*_SIGNATURE_OWNERS, DataFrameGroupBy)):
            return ("sub", _canon(node.value), _norm(node.attr))  # ``d.col`` is ``d['col']``
        return ("attr", _canon(node.value), node.attr)
    if isinstance(node, ast.Subscript):
        return ("sub", _canon(node.value), _literal(node.slice))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        recv, method = node.func.value, node.func.attr
        on_groupby = (isinstance(recv, ast.Call) and isinstance(recv.func, ast.Attribute)
                      and recv.func.attr == "groupby")
        sig = _signature(method, on_groupby)
        args: dict[Any, Any] = {}
        params = [p for p in sig.parameters.values()][1:] if sig else []
        for i, a in enumerate(node.args):
            ok = i < len(params) and params[i].kind in (params[i].POSITIONAL_ONLY,
                                                         params[i].POSITIONAL_OR_KEYWORD)
            args[params[i].name if ok else i] = _literal(a)
        for kw in node.keywords:
            args[kw.arg] = _literal(kw.value)
        if method == "drop" and "labels" in args and _DROP_AXES.get(args.get("axis", (0,))):
            args[_DROP_AXES[args.pop("axis", (0,))]] = args.pop("labels")
        if sig:
            for p in params:
                if p.name in args and p.default is not inspect.Parameter.empty:
                    try:
                        if args[p.name] == _norm(p.default):
                            del args[p.name]
                    except (TypeError, ValueError):
                        pass
        return ("call", _canon(recv), method, tuple(sorted(args.items(), key=repr)))
    return ("ast", ast.dump(node))


def _spine(node: ast.AST) -> list[ast.AST] | None:
    """The receiver chain from the base name to ``node`` (None if it does not start at a name)."""
    chain = [node]
    while not isinstance(node, ast.Name):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            node = node.func.value
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        else:
            return None
        chain.append(node)
    return chain[::-1]


def _head(node: ast.AST) -> str:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):
        return "[]"
    return ""


class _InputsToNames(ast.NodeTransformer):
    """``inputs[k]`` -> ``df{j}`` where input ``k`` is the ``j``-th frame; other inputs fail."""

    def __init__(self, frame_of: dict[int, int]) -> None:
        self.frame_of = frame_of
        self.bad = False

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        if isinstance(node.value, ast.Name) and node.value.id == "inputs":
            k = node.slice.value if isinstance(node.slice, ast.Constant) else None
            if isinstance(k, int) and k in self.frame_of:
                return ast.copy_location(ast.Name(f"df{self.frame_of[k]}", ast.Load()), node)
            self.bad = True
            return node
        self.generic_visit(node)
        return node


def parse_reference(text: str, inputs: Sequence[Any], target: Any = None,
                    constants: Sequence[Any] = (), max_args: int = 3000,
                    timeout_s: float = PARSE_S) -> Program | None:
    """The DSL program whose rendering is the expression ``text``, or None.

    ``text`` is an expression over ``inputs[k]`` (the benchmark's convention) or ``df0, df1,
    ...``; ``inputs`` are all of the task's inputs (frames become ``df0, df1, ...`` in order; a
    reference to any other input makes the text inexpressible). ``target`` and ``constants``
    widen the generators' argument domains as in the search. Nothing in ``text`` is evaluated.
    """
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    frames_at = [k for k, x in enumerate(inputs) if isinstance(x, (pd.DataFrame, pd.Series))]
    fix = _InputsToNames({k: j for j, k in enumerate(frames_at)})
    tree = fix.visit(tree)
    frames = [inputs[k] for k in frames_at]
    spine = _spine(tree) if not fix.bad else None
    if not spine or not spine[0].id.startswith("df") or not spine[0].id[2:].isdigit():
        return None
    source = int(spine[0].id[2:])
    if source >= len(frames):
        return None
    canon = {}
    for m, node in enumerate(spine):
        canon.setdefault(_canon(node), m)
    heads = {_head(n) for n in spine[1:]}
    names = [f"df{i}" for i in range(len(frames))]
    deadline = time.monotonic() + timeout_s

    def search(j: int, value: Any, steps: tuple[Step, ...], box: Sandbox) -> tuple[Step, ...] | None:
        if j == len(spine) - 1:
            return steps
        src = ast.unparse(spine[j])
        for fn in dsl.functions():
            if not fn.accepts(value) or time.monotonic() > deadline:
                continue
            ctx = GenContext(value, frames, target, constants)
            try:
                for n_tried, (args, trace) in enumerate(enumerate_choices(generator(fn.name), ctx,
                                                                          limit=max_args)):
                    try:
                        node = ast.parse(fn.render(src, args, names), mode="eval").body
                    except (SyntaxError, ValueError):
                        continue
                    if n_tried == 0 and _head(node) not in heads:
                        break  # this function never renders as any call of the reference
                    m = canon.get(_canon(node), -1)
                    if m <= j:
                        continue
                    out = box.run(dsl.call, fn, value, args, frames)
                    if not out.ok:
                        continue
                    found = search(m, out.value, steps + (Step(fn.name, args, tuple(trace)),), box)
                    if found is not None:
                        return found
            except Exception as e:  # noqa: BLE001 - a generator failing on odd data rules the function out
                log.debug("generator %s failed while parsing a reference: %s", fn.name, e)
        return None

    with Sandbox() as box:
        steps = search(0, frames[source], (), box)
    return Program(source, steps) if steps is not None else None
