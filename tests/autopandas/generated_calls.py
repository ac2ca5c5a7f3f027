"""Test helpers shared by the DSL and render-safety tests: run generated calls, evaluate
rendered source."""
from __future__ import annotations

import warnings
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from autopandas import dsl
from autopandas.choices import enumerate_choices
from autopandas.generators import GenContext, generator


def evaluate(src: str, inputs: Sequence[Any]) -> object:
    """Evaluate rendered DSL source over ``df0, df1, ...`` as the user would (warnings hidden)."""
    env = {"pd": pd, "np": np, **{f"df{i}": v for i, v in enumerate(inputs)}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return eval(src, env)  # our own rendered DSL source, never user text


def runnable_calls(fn: dsl.Function, recv: Any, ctx: GenContext, inputs: Sequence[Any],
                   limit: int) -> Iterator[tuple[dict, Any]]:
    """``(args, result)`` of each of the first ``limit`` generated calls of ``fn`` on ``recv``
    that runs on this data (warnings hidden; a call that raises is skipped)."""
    for args, _ in enumerate_choices(generator(fn.name), ctx, limit=limit):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                got = dsl.call(fn, recv, args, inputs)
            except Exception:  # noqa: BLE001 - generated calls may be invalid on this data
                continue
        yield args, got
