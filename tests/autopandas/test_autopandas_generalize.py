"""The generalisation check flags programs that only reproduce their one example."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pandas as pd
import pytest

from autopandas.equality import equal
from autopandas.isolation import available
from autopandas.generalize import (TIME_LIMIT, Generalization, generalizes, isolated_runner,
                                   parse_reference, perturb, perturbed_copies)
from autopandas.program import Program, Step
from autopandas.sandbox import Outcome, Sandbox


@pytest.fixture
def sort_task():
    df = pd.DataFrame({"x": [3, 1, 2, 5, 4], "name": ["c", "a", "b", "e", "d"]})
    return [df], df.sort_values("x")


def _runs_to(program: Program, inputs: list, target) -> bool:
    with Sandbox() as box:
        out = program.run(inputs, box)
    return out.ok and equal(target, out.value)


def test_literal_label_reorder_is_flagged_no_and_the_intended_sort_yes(sort_task):
    inputs, target = sort_task
    ref = parse_reference("inputs[0].sort_values('x')", inputs, target)
    overfit = Program(0, (Step("loc", {"rows": (1, 2, 0, 4, 3)}),))
    intended = Program(0, (Step("sort_values", {"by": ("x",), "ascending": True}),))
    # both reproduce the one example, so "solved" cannot tell them apart
    assert _runs_to(overfit, inputs, target) and _runs_to(intended, inputs, target)
    bad = generalizes(overfit, ref, inputs, k=5, seed=0)
    good = generalizes(intended, ref, inputs, k=5, seed=0)
    assert bad.verdict == "no" and 0 < bad.disagreements <= bad.usable
    assert bad.label() == f"no ({bad.disagreements}/{bad.usable})"
    assert good.verdict == "yes" and good.usable > 0 and good.disagreements == 0


def test_merge_reordered_by_literal_labels_is_flagged_no():
    left = pd.DataFrame({"key": ["b", "b", "a", "c", "a", "a", "b"], "data1": range(7)})
    right = pd.DataFrame({"key": ["a", "b", "d"], "data2": range(3)})
    inputs = [left, right]
    ref = parse_reference("inputs[0].merge(inputs[1])", inputs)
    assert ref is not None and ref.render(2) == "df0.merge(df1)"
    target = left.merge(right)
    order = [int(i) for i in left.reset_index().merge(right).sort_values("key", kind="stable")["index"]]
    overfit = Program(0, (Step("loc", {"rows": tuple(order)}),
                          Step("merge", {"other": 1, "how": "inner", "on": None, "left_on": None,
                                         "right_on": None})))
    sorted_target = left.loc[order].merge(right)
    assert _runs_to(overfit, inputs, sorted_target) and not equal(target, sorted_target)
    assert generalizes(overfit, ref, inputs, k=5, seed=1).verdict == "no"
    assert generalizes(ref, ref, inputs, k=5, seed=1).verdict == "yes"


def test_parse_reference_maps_pandas_text_to_dsl_programs(sort_task):
    inputs, target = sort_task
    prog = parse_reference("inputs[0].sort_values(by=['x'], ascending=True)", inputs, target)
    assert prog is not None and prog.functions() == ("sort_values",)
    assert _runs_to(prog, inputs, target)
    two = parse_reference("inputs[0].groupby('name').sum().reset_index()", inputs)
    assert two is not None and two.functions() == ("groupby.sum", "reset_index")
    drop = parse_reference("inputs[0].drop(['name'], axis=1)", inputs)  # pandas' other spelling
    assert drop is not None and drop.render(1) == "df0.drop(columns=['name'])"


@pytest.mark.parametrize("text", ["inputs[0].loc[lambda d: d.x > 1]",       # lambda: not in the DSL
                                  "__import__('os').system('echo hi')",    # never evaluated
                                  "inputs[0].sort_values(",                 # not Python
                                  "inputs[1].head(2)"])                      # no such frame
def test_parse_reference_gives_none_for_what_the_dsl_cannot_express(sort_task, text):
    inputs, target = sort_task
    assert parse_reference(text, inputs, target) is None


def test_no_reference_or_no_usable_copy_is_not_applicable(sort_task):
    inputs, _ = sort_task
    prog = Program(0, (Step("head", {"n": 2}),))
    assert generalizes(prog, None, inputs).verdict == "n/a"
    failing = Program(0, (Step("getitem", {"columns": ("missing",)}),))
    g = generalizes(prog, failing, inputs, k=3)
    assert g == Generalization("n/a", 3, 0, 0, "the reference failed on every copy")


def test_perturbed_copies_are_seeded_and_keep_the_schema():
    df = pd.DataFrame({"k": ["a", "b", "c", "d"], "v": [1.5, 2.0, 3.0, 4.0], "n": [1, 2, 3, 4],
                       "flag": [True, False, True, True]}, index=pd.Index([10, 20, 30, 40], name="id"))
    s = pd.Series([1, 2, 3], name="s")
    first, again = perturbed_copies([df, s, "text"], 6, seed=3), perturbed_copies([df, s, "text"], 6, seed=3)
    for a, b in zip(first, again):
        pd.testing.assert_frame_equal(a[0], b[0])
        pd.testing.assert_series_equal(a[1], b[1])
        assert a[2] == "text"
        assert list(a[0].columns) == list(df.columns) and list(a[0].dtypes) == list(df.dtypes)
        assert a[0].index.name == "id" and set(a[0].index) <= set(df.index)
        assert set(a[0]["k"]) <= set(df["k"]) and a[0]["flag"].isin([True, False]).all()
        assert isinstance(a[1].index, pd.RangeIndex) and a[1].name == "s"
    assert any(not c[0].equals(df) for c in first)
    assert not all(x[0].equals(y[0]) for x, y in zip(first, perturbed_copies([df, s, "text"], 6, seed=4)))


def test_perturb_leaves_other_inputs_alone():
    rng = np.random.default_rng(0)
    assert perturb([1, 2], rng) == [1, 2]


@pytest.mark.skipif(not available(), reason="needs fork and RLIMIT_AS")
def test_isolated_runner_makes_a_candidate_that_kills_its_process_a_disagreement(sort_task, monkeypatch):
    # In-process, a candidate that dies (an abort in C code, the kernel's OOM killer) takes the
    # caller with it; in a worker it is one failed run, counted as killed.
    inputs, target = sort_task
    ref = parse_reference("inputs[0].sort_values('x')", inputs, target)
    deadly = Program(0, (Step("sort_values", {"by": ("name",), "ascending": True}),))
    real_run = Program.run

    def run(self, copy, sandbox=None):
        if self is deadly:           # Step equality ignores arguments: compare identity
            os.kill(os.getpid(), signal.SIGKILL)
        return real_run(self, copy, sandbox)
    monkeypatch.setattr(Program, "run", run)
    g = generalizes(deadly, ref, inputs, k=2, seed=0, run=isolated_runner(5.0))
    assert g.verdict == "no" and g.disagreements == g.usable == g.killed == 2, g
    assert "worker died" in g.reason and "SIGKILL" in g.reason
    assert isolated_runner(5.0)(deadly, inputs).killed
    intended = Program(0, (Step("sort_values", {"by": ("x",), "ascending": True}),))
    ok = generalizes(intended, ref, inputs, k=2, seed=0, run=isolated_runner(5.0))
    assert ok == Generalization("yes", 2, 2, 0)


class _Touchy:
    """A cell whose comparison raises, as a program's own failure may."""

    def __init__(self, v: int) -> None:
        self.v = v

    def __lt__(self, other: object) -> bool:
        raise RuntimeError("worker died of a comparison")

    __gt__ = __lt__


def test_a_program_whose_own_error_says_worker_died_is_not_counted_as_killed(sort_task):
    # Whether a run was killed was read from its error text (TIME_LIMIT, or "worker died..."
    # at the start), so a runner reporting a program's exception by its message counted this
    # program's failure as a kill: killed 5 and its text as the reason.
    inputs, _ = sort_task
    df = inputs[0].assign(touchy=[_Touchy(i) for i in range(len(inputs[0]))])
    ref = Program(0, (Step("sort_values", {"by": ("x",), "ascending": True}),))
    touchy = Program(0, (Step("sort_values", {"by": ("touchy",), "ascending": True}),))

    def in_words(program: Program, copy: list) -> Outcome:
        try:
            return Outcome(True, program.run(copy))        # no sandbox: the program raises here
        except RuntimeError as e:
            return Outcome(False, error=str(e))
    assert in_words(touchy, [df]).error == "worker died of a comparison"
    g = generalizes(touchy, ref, [df], k=5, seed=0, run=in_words)
    assert g.verdict == "no" and g.disagreements == g.usable == 5 and g.killed == 0 and g.reason == "", g
    with Sandbox() as box:
        out = touchy.run([df], box)
    assert not out.ok and not out.killed and "worker died of a comparison" in out.error


@pytest.mark.skipif(not available(), reason="needs fork and RLIMIT_AS")
def test_isolated_runner_kills_a_run_past_its_time_limit(sort_task, monkeypatch):
    inputs, _ = sort_task
    spin = Program(0, (Step("sort_values", {"by": ("x",), "ascending": True}),))
    monkeypatch.setattr(Program, "run", lambda self, copy, sandbox=None: time.sleep(60))
    t0 = time.monotonic()
    out = isolated_runner(0.2)(spin, inputs)
    assert time.monotonic() - t0 < 10
    assert not out.ok and out.error == TIME_LIMIT and out.killed


@pytest.mark.skipif(not available(), reason="needs fork and RLIMIT_AS")
def test_a_result_that_cannot_be_pickled_back_is_a_failed_run_not_a_crash(sort_task):
    # A lambda in an object column: the worker's result cannot be pickled back, run_isolated
    # raised RuntimeError('Outcome (unpicklable: ...)') and generalizes let it through.
    inputs, _ = sort_task
    df = inputs[0].assign(fn=[lambda v=i: v for i in range(len(inputs[0]))])
    ref = Program(0, (Step("getitem", {"columns": ("x",)}),))
    keeps_fn = Program(0, (Step("sort_values", {"by": ("x",), "ascending": True}),))
    g = generalizes(keeps_fn, ref, [df], k=2, seed=0, run=isolated_runner(5.0))
    assert g.verdict == "no" and g.disagreements == g.usable == 2 and g.killed == 0, g
    assert g.reason.startswith("the candidate's run: could not be checked: RuntimeError: ") and "unpicklable" in g.reason, g
    # the reference's own result unpicklable: every copy skipped, and the reason says why
    g = generalizes(ref, keeps_fn, [df], k=2, seed=0, run=isolated_runner(5.0))
    assert g.verdict == "n/a" and (g.copies, g.usable) == (2, 0), g
    assert g.reason.startswith("the reference failed on every copy (the first: could not be checked: RuntimeError: "), g


def test_an_exception_escaping_the_runner_is_a_failed_run_with_its_reason(sort_task):
    # what run_isolated re-raises from its worker (an error outside the sandbox) ended the
    # whole comparison; the stub raises at the same boundary, without a worker
    inputs, _ = sort_task
    ref = Program(0, (Step("sort_values", {"by": ("x",), "ascending": True}),))
    cand = Program(0, (Step("sort_values", {"by": ("name",), "ascending": True}),))

    def escapes_for(who: Program):
        def run(program: Program, copy: list) -> Outcome:
            if program is who:
                raise OSError("no space left for the worker's pipe")
            with Sandbox() as box:
                return program.run(copy, box)
        return run
    g = generalizes(cand, ref, inputs, k=3, seed=0, run=escapes_for(cand))
    assert g == Generalization("no", 3, 3, 3, "the candidate's run: could not be checked: OSError: no space "
                                              "left for the worker's pipe"), g
    g = generalizes(cand, ref, inputs, k=3, seed=0, run=escapes_for(ref))
    assert g == Generalization("n/a", 3, 0, 0, "the reference failed on every copy (the first: could not "
                                               "be checked: OSError: no space left for the worker's pipe)"), g


class _NoEq:
    """A cell whose equality test raises."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("cannot compare")

    __hash__ = object.__hash__


def test_a_result_whose_comparison_raises_is_a_disagreement_with_its_reason(sort_task):
    # equal() raised out of generalizes
    inputs, _ = sort_task
    df = inputs[0].assign(cell=[_NoEq() for _ in range(len(inputs[0]))])
    ref = Program(0, (Step("sort_values", {"by": ("x",), "ascending": True}),))
    g = generalizes(ref, ref, [df], k=2, seed=0)
    assert g == Generalization("no", 2, 2, 2, "the candidate's run: its result could not be compared with "
                                              "the reference's: RuntimeError: cannot compare"), g
