"""The ClassBench-style generator: sizes, seeds, families' mixes, parseable output."""
from __future__ import annotations

import numpy as np
import pytest

from neurocuts.rules import parse_rules
from sysml_datasets.classbench import GeneratorConfig, generate_ranges, generate_text


@pytest.mark.parametrize("kind", ["acl", "fw", "ipc"])
def test_generated_text_parses_to_the_same_distinct_rules(kind):
    cfg = GeneratorConfig(kind, 500, 4)
    rules = parse_rules(generate_text(cfg))
    assert len(rules) == 500
    assert rules.to_ranges() == generate_ranges(cfg).tolist()
    assert len({tuple(r) for r in rules.to_ranges()}) == 500


def test_same_seed_same_rules_other_seed_other_rules():
    a = generate_text(GeneratorConfig("acl", 200, 1))
    assert a == generate_text(GeneratorConfig("acl", 200, 1))
    assert a != generate_text(GeneratorConfig("acl", 200, 2))


def test_families_differ_as_classbench_does():
    def wildcard_src_share(kind):
        r = generate_ranges(GeneratorConfig(kind, 2000, 1))
        return float(np.mean(r[:, 1] - r[:, 0] == 2**32 - 1))
    # fw sets have far more wildcard sources than acl sets (seed files: about 54% against 6%)
    assert wildcard_src_share("fw") > 0.3 > 0.15 > wildcard_src_share("acl")


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="kind"):
        GeneratorConfig("xyz")
    with pytest.raises(ValueError, match="size"):
        GeneratorConfig("acl", 0)
