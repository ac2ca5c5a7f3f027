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
    with pytest.raises(RuleFormatError, match=r"^p.txt:1: no packets found$"):
        parse_packets("\n \n", "p.txt")


@pytest.mark.parametrize("text, want", [
    # every line a packet, its extra columns ignored: 5 + 6 + 7 fields are 3 x 6 tokens
    ("1 2 3 4 5 99\n6 7 8 9 10\n11 12 13 14 15 98 97\n", [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12, 13, 14, 15]]),
    # 7 + 5 + 9 fields (a trace's rule id and more), as many tokens as 3 lines of 7
    ("1 2 3 4 5 0 1\n6 7 8 9 10\n11 12 13 14 15 0 1 2 3\n", [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12, 13, 14, 15]]),
])
def test_packet_lines_of_different_widths_are_each_one_packet(text, want):
    assert parse_packets(text).tolist() == want


def test_a_short_packet_line_is_refused_even_where_a_longer_one_makes_up_the_count():
    # 6 + 4 + 8 fields are 3 x 6 tokens: line 2 is short, not the start of a packet the next ends
    with pytest.raises(RuleFormatError, match=r"^p.txt:2: expected 5 integers, found 4$"):
        parse_packets("1 2 3 4 5 6\n7 8 9 10\n11 12 13 14 15 16 17 18\n", "p.txt")


def test_linear_scan_returns_first_match_or_minus_one():
    rules = RuleSet.from_ranges([[0, 10, 0, 10, 0, 5, 0, 5, 6, 6], [0, 100, 0, 100, 0, 65535, 0, 65535, 0, 255]])
    pk = np.array([[5, 5, 5, 5, 6], [5, 5, 5, 5, 17], [101, 0, 0, 0, 0], [10, 10, 5, 5, 6]])
    assert linear_scan(rules, pk, block=1, chunk=2).tolist() == [0, 1, -1, 0]


def test_shared_classbench_files_parse(shared_dir):
    rules = load_rules(shared_dir / "classbench" / "acl1_1k")
    assert len(rules) == 942


# ---------------------------------------------------------------- format variants a user's file may have

RULE_A = "@0.0.0.0/0\t10.0.0.1/32\t0 : 65535\t80 : 80\t0x00/0x00\t0x0000/0x0000\t"
RULE_B = "@1.2.3.4/32\t0.0.0.0/0\t53 : 53\t0 : 65535\t0x06/0xFF"  # no flags field
RANGES_AB = [[0, 2**32 - 1, 10 << 24 | 1, 10 << 24 | 1, 0, 65535, 80, 80, 0, 255],
             [0x01020304, 0x01020304, 0, 2**32 - 1, 53, 53, 0, 65535, 6, 6]]


@pytest.mark.parametrize("text", [
    f"{RULE_A}\n{RULE_B}\n",
    f"{RULE_A}\r\n{RULE_B}\r\n",  # CRLF
    f"{RULE_A}   \n{RULE_B} \t \n",  # trailing whitespace
    f"\n\n{RULE_A}\n\n\n{RULE_B}",  # blank lines, no final newline
    f"# exported from the edge router\n{RULE_A}\n  # a comment\n{RULE_B}\n",  # comment lines
    "\ufeff" + f"{RULE_A}\n{RULE_B}\n",  # a UTF-8 byte-order mark (files saved by Windows editors)
    f"{RULE_A.replace(chr(9), ' ')}\n{RULE_B.replace(chr(9), ' ')}\n",  # spaces instead of tabs
    f"{RULE_A}\n{RULE_B.replace(' : ', ':')}\n",  # ports without spaces around the colon
], ids=["plain", "crlf", "trailing-space", "blank-lines", "comments", "bom", "spaces", "tight-ports"])
def test_format_variants_parse_to_the_same_ranges(text):
    assert parse_rules(text).to_ranges() == RANGES_AB


def test_bom_and_crlf_file_loads(tmp_path):
    path = tmp_path / "r.txt"
    path.write_bytes(b"\xef\xbb\xbf" + f"{RULE_A}\r\n{RULE_B}\r\n".encode())
    assert load_rules(path).to_ranges() == RANGES_AB


def test_line_numbers_count_only_real_line_breaks():
    # str.splitlines() would also break at the form feed and \x85 and name line 5 or 6.
    text = f"{RULE_A}\n\x0c\n{RULE_B} \x85\n@bad\n"
    with pytest.raises(RuleFormatError, match=r"^r.txt:4: "):
        parse_rules(text, "r.txt")


def test_one_rule_duplicates_and_extreme_prefixes():
    one = parse_rules("@255.255.255.255/32\t0.0.0.0/0\t65535 : 65535\t0 : 0\t0xff/0xFF\t\n")
    assert one.to_ranges() == [[2**32 - 1, 2**32 - 1, 0, 2**32 - 1, 65535, 65535, 0, 0, 255, 255]]
    dup = parse_rules(f"{RULE_A}\n{RULE_A}\n{RULE_B}\n")  # duplicates keep their places (priority)
    assert dup.to_ranges() == [RANGES_AB[0], RANGES_AB[0], RANGES_AB[1]]


@pytest.mark.parametrize("text, where", [("", "r.txt:1: no rules found"), ("# nothing\n\n", "r.txt:1: no rules found"),
                                         ("\x00\x01@\n", "r.txt:1: a rule line must start with '@'")])
def test_files_without_rules_are_one_clear_error(text, where):
    with pytest.raises(RuleFormatError) as info:
        parse_rules(text, "r.txt")
    assert str(info.value) == where
