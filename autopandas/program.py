"""Programs: chains of DSL calls over the inputs ``df0, df1, ...``; running, rendering, sampling.

A :class:`Program` starts from one input (``source``) and applies :class:`Step` s in order; each
step records its function, its arguments and the choice trace that generated them, so programs
can be replayed through the generators and stored as training data for a model.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Sequence

from . import dsl
from .choices import Decision, Infeasible, RandomChooser, ReplayChooser, run_recorded
from .generators import GenContext, generator
from .sandbox import Outcome, Sandbox


@dataclass(frozen=True)
class Step:
    """One DSL call in a chain."""

    function: str
    """The DSL function's name."""
    args: dict = field(hash=False, compare=False)
    """Its arguments, as the generator produced them."""
    trace: tuple[Decision, ...] = field(default=(), hash=False, compare=False)
    """The decisions that produced ``args`` (replayable)."""


@dataclass(frozen=True)
class Program:
    """``inputs[source]`` followed by ``steps``."""

    source: int
    """Which input the chain starts from."""
    steps: tuple[Step, ...] = ()
    """The calls, in order."""

    def __len__(self) -> int:
        return len(self.steps)

    def then(self, step: Step) -> Program:
        """This program with one more call."""
        return Program(self.source, self.steps + (step,))

    def run(self, inputs: Sequence[Any], sandbox: Sandbox | None = None) -> Any:
        """Run the chain one whitelisted DSL call at a time.

        Without ``sandbox`` the value is returned and exceptions propagate. With one, each call
        runs in it and the :class:`~autopandas.sandbox.Outcome` is returned: the first failing
        call's, or the final value's (an input that does not exist fails too)."""
        if sandbox is not None and not 0 <= self.source < len(inputs):
            return Outcome(False, error=f"no input df{self.source}")
        value = inputs[self.source]
        for s in self.steps:
            if sandbox is None:
                value = dsl.call(dsl.get(s.function), value, s.args, inputs)
                continue
            out = sandbox.run(dsl.call, dsl.get(s.function), value, s.args, inputs)
            if not out.ok:
                return out
            value = out.value
        return value if sandbox is None else Outcome(True, value)

    def render(self, n_inputs: int | None = None) -> str:
        """One Python expression over ``df0, df1, ...`` with pandas as ``pd`` and numpy as ``np``."""
        n = max(n_inputs or 0, self.source + 1, 1,
                *[i + 1 for s in self.steps for i in dsl.inputs_read(dsl.get(s.function), s.args)])
        names = [f"df{i}" for i in range(n)]
        src = names[self.source]
        for s in self.steps:
            src = dsl.get(s.function).render(src, s.args, names)
        return src

    def functions(self) -> tuple[str, ...]:
        """The function names of the chain."""
        return tuple(s.function for s in self.steps)


def replay(program: Program, inputs: Sequence[Any]) -> Program:
    """Regenerate every step's arguments from its recorded trace (checks traces are replayable)."""
    value, steps = inputs[program.source], []
    for s in program.steps:
        ctx = GenContext(value, inputs)
        args, trace = run_recorded(generator(s.function), ctx, ReplayChooser(s.trace))
        steps.append(Step(s.function, args, tuple(trace)))
        value = dsl.call(dsl.get(s.function), value, args, inputs)
    return Program(program.source, tuple(steps))


def sample_program(inputs: Sequence[Any], depth: int, rng: random.Random,
                   functions: Sequence[str] | None = None, tries: int = 200,
                   sandbox: Sandbox | None = None) -> tuple[Program, Any] | None:
    """A random program of exactly ``depth`` calls that runs, and its output (random mode).

    Functions and arguments are drawn uniformly through :class:`RandomChooser` (no target, so
    generic domains only). An attempt fails where a call fails or a generator cannot handle the
    value (a column label that repeats, after ``pd.concat(axis=1)``). Returns None when ``tries``
    attempts all failed.
    """
    names = list(functions) if functions is not None else [f.name for f in dsl.functions()]
    sources = [i for i, v in enumerate(inputs) if dsl.receiver_kind(v) is not None]
    own = sandbox is None
    box = sandbox or Sandbox()
    if own:
        box.__enter__()
    try:
        for _ in range(tries):
            prog = Program(rng.choice(sources))
            value = inputs[prog.source]
            for _ in range(depth):
                cands = [n for n in names if dsl.get(n).accepts(value)]
                if not cands:
                    break
                name = rng.choice(cands)
                try:
                    args, trace = run_recorded(generator(name), GenContext(value, inputs), RandomChooser(rng))
                except Infeasible:
                    break
                except Exception:  # noqa: BLE001 - a generator failing on odd data (a repeated
                    break          # column label) fails this try, as the search skips it
                out = box.run(dsl.call, dsl.get(name), value, args, inputs)
                if not out.ok:
                    break
                prog, value = prog.then(Step(name, args, tuple(trace))), out.value
            if len(prog) == depth:
                return prog, value
        return None
    finally:
        if own:
            box.__exit__(None, None, None)
