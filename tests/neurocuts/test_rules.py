"""Parser golden fixtures, malformed lines, packets and the linear-scan oracle."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neurocuts.rules import (RuleFormatError, RuleSet, format_rules, linear_scan, load_rules, parse_packets,
                             parse_rules)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "neurocuts"


def test_parse_golden_fixture_masks_host_bits_and_maps_protocol_masks():
    # Expected ranges checked by hand: 192.168.1.77/24 starts at 192.168.1.0 = 3232235776, and so on.
    rules = load_rules(FIXTURES / "rules_small.txt")
    expected = json.loads((FIXTURES / "rules_small.expected.json").read_text())
    assert rules.to_ranges() == expected
    assert rules.lo[2, 0] == (192 << 24) + (168 << 16) + (1 << 8)
    assert (rules.lo[3, 4], rules.hi[3, 4]) == (0, 255)


def test_format_then_parse_round_trips():
    rules = load_rules(FIXTURES / "rules_small.txt")
    assert parse_rules(format_rules(rules)).to_ranges() == rules.to_ranges()


@pytest.mark.parametrize("line, problem", [
    ("176.19.181.33/32\t90.145.23.162/32\t0 : 65535\t1550 : 1550\t0x06/0xFF\t", "must start with '@'"),
    ("@176.19.181.33/33\t90.145.23.162/32\t0 : 65535\t1550 : 1550\t0x06/0xFF\t", "prefix length 33"),
    ("@176.19.300.33/32\t90.145.23.162/32\t0 : 65535\t1550 : 1550\t0x06/0xFF\t", "octet above 255"),
    ("@176.19.181.33/32\t90.145.23.162/32\t0 : 70000\t1550 : 1550\t0x06/0xFF\t", "source port range"),
    ("@176.19.181.33/32\t90.145.23.162/32\t0 : 65535\t1551 : 1550\t0x06/0xFF\t", "destination port range"),
    ("@176.19.181.33/32\t90.145.23.162/32\t0 : 65535\t1550 : 1550\t0x06/0x0F\t", "mask must be 0xFF or 0x00"),
    ("@176.19.181.33/32\t90.145.23.162/32\t0 : 65535\t1550 : 1550\t", "expected 5 or 6"),
    ("@176.19.181.33/32\t90.145.23.162/32\tx : 65535\t1550 : 1550\t0x06/0xFF\t", "malformed"),
])
def test_malformed_line_names_file_line_and_problem(line, problem):
    good = (FIXTURES / "rules_small.txt").read_text().splitlines()
    text = "\n".join(good[:2] + [line] + good[2:])
    with pytest.raises(RuleFormatError) as info:
        parse_rules(text, "rules.txt")
    assert str(info.value).startswith("rules.txt:3: ")
    assert problem in str(info.value)


def test_packets_ignore_extra_columns_and_reject_out_of_range():
    pk = parse_packets("1 2 3 4 5 99\n6 7 8 9 10 98\n")
    assert pk.tolist() == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]
    with pytest.raises(RuleFormatError, match=r"p.txt:2: "):
        parse_packets("1 2 3 4 5\n1 2 3 4 256\n", "p.txt")
    with pytest.raises(RuleFormatError, match=r"p.txt:1: "):
        parse_packets("1 2 3 4\n", "p.txt")


def test_linear_scan_returns_first_match_or_minus_one():
    rules = RuleSet.from_ranges([[0, 10, 0, 10, 0, 5, 0, 5, 6, 6], [0, 100, 0, 100, 0, 65535, 0, 65535, 0, 255]])
    pk = np.array([[5, 5, 5, 5, 6], [5, 5, 5, 5, 17], [101, 0, 0, 0, 0], [10, 10, 5, 5, 6]])
    assert linear_scan(rules, pk, block=1, chunk=2).tolist() == [0, 1, -1, 0]


def test_shared_classbench_files_parse(shared_dir):
    rules = load_rules(shared_dir / "classbench" / "acl1_1k")
    assert len(rules) == 942
