"""The generator's output as db_generator writes it (ClassBench's custom_db.cc, FlagList.cc,
redundant_filter_check's remove_redundant_filters and TupleBST.cc): the flags column drawn from the
parameter file's `-flags`, and the rules ordered by tuple scope; `-extra` and `-flags` checked as read."""
from __future__ import annotations

import math
import subprocess
import sys
from itertools import pairwise

import numpy as np
import pytest

from neurocuts.rules import parse_rules
from sysml_datasets.classbench import GeneratorConfig, ParamsError, generate_rules, generate_text, read_params
from sysml_datasets.classbench._db_output import db_order


def _fields(text: str) -> list[list[str]]:
    return [line[1:].split("\t") for line in text.splitlines()]


def _tuple(f: list[str]) -> tuple[int, tuple]:
    """db_generator's TupleBST key of a written rule: (scope, tuple)."""
    slen, dlen = int(f[0].split("/")[1]), int(f[1].split("/")[1])
    (a, b), (c, d) = ((int(x) for x in f[i].split(":")) for i in (2, 3))
    proto = int(f[4] != "0x00/0x00")
    flag = int(int(f[5].split("/")[1], 16) > 0)
    scope = (32 - slen) + (32 - dlen) + math.log(b - a + 1) / math.log(2) + math.log(d - c + 1) / math.log(2)
    return int(scope + 8 * (1 - proto) + (1 - flag)), (slen, dlen, b - a + 1, d - c + 1, proto, flag)


def _in_db_generator_order(text: str) -> bool:
    """Tuples by scope from the most specific, each tuple's rules together."""
    keys = [_tuple(f) for f in _fields(text)]
    seen, prev = set(), None
    for _, t in keys:
        if t != prev and t in seen:
            return False
        seen.add(t)
        prev = t
    return all(a[0] <= b[0] for a, b in pairwise(keys))


@pytest.mark.parametrize("name", ["acl1_1k", "fw1_1k", "ipc2_1k", "acl5_10k"])
def test_db_generators_own_sets_are_in_the_order_checked_here(shared_dir, name):
    # The oracle below on NeuroCuts' sets (db_generator -bc output): scope order, tuples contiguous.
    assert _in_db_generator_order((shared_dir / "classbench" / name).read_text())


_SHARED_SETS = [f"{f}{i}_{n}" for f, k in (("acl", 5), ("fw", 5), ("ipc", 2)) for i in range(1, k + 1)
                for n in ("1k", "10k")]


@pytest.mark.parametrize("name", _SHARED_SETS)
def test_db_order_leaves_each_of_db_generators_sets_as_written(shared_dir, name):
    # All 24 NeuroCuts sets: db_order, given a set's rules in the file's order as if drawn so, changes
    # nothing (scope order, tuples together, equal scopes by first appearance).
    rules, src_len, dst_len, flags = [], [], [], []
    for f in _fields((shared_dir / "classbench" / name).read_text()):
        (a, b), (c, d) = ((int(x) for x in f[i].split(":")) for i in (2, 3))
        value, mask = (int(x, 16) for x in f[4].split("/"))
        lo, hi = (value, value) if mask == 0xFF else (0, 255)
        rules.append([0, 0, 0, 0, a, b, c, d, lo, hi])
        src_len.append(int(f[0].split("/")[1]))
        dst_len.append(int(f[1].split("/")[1]))
        flags.append([int(x, 16) for x in f[5].split("/")])
    order = db_order(np.array(rules), np.array(src_len), np.array(dst_len), np.array(flags))
    assert order.tolist() == list(range(len(rules)))


@pytest.mark.parametrize("config", [{"kind": "acl", "size": 2000, "seed": 1}, {"kind": "fw", "size": 2000, "seed": 3},
                                    {"kind": "ipc", "size": 500, "seed": 2}])
def test_generated_sets_are_written_in_db_generators_order(config):
    # They were sorted by total wildcard bits plus up to 8 random bits: tuples interleaved.
    assert _in_db_generator_order(generate_text(GeneratorConfig(**config)))


@pytest.mark.parametrize("name", ["acl1", "fw1", "ipc1"])
def test_params_sets_are_in_db_generators_order_with_the_files_flags(shared_dir, name):
    path = shared_dir / "classbench" / "seeds" / f"{name}_seed"
    text = generate_text(GeneratorConfig(size=3000, seed=1, params=str(path)))
    assert _in_db_generator_order(text)
    flags = read_params(path).flags
    fields = _fields(text)
    for proto, specs in flags.items():  # each protocol's flags come from its -flags line, in its shares
        written = "0x00/0x00" if proto == 0 else f"0x{proto:02x}/0xFF"
        got = [f[5] for f in fields if f[4] == written]
        if len(got) < 200:
            continue
        total = sum(p for _, _, p in specs)
        for v, m, p in specs:
            share = got.count(f"0x{v:04x}/0x{m:04x}") / len(got)
            assert abs(share - p / total) <= 3 * math.sqrt(0.25 / len(got)) + 0.01, (name, proto, v, m, share, p)
        assert set(got) <= {f"0x{v:04x}/0x{m:04x}" for v, m, _ in specs}
    assert len({f[5] for f in fields}) > 1  # they were all 0x0000/0x0000


def test_family_sets_carry_their_seed_files_flags():
    fields = _fields(generate_text(GeneratorConfig("fw", 3000, 1)))
    tcp = [f[5] for f in fields if f[4] == "0x06/0xFF"]
    assert 0.6 <= tcp.count("0x0200/0x1200") / len(tcp) <= 0.8  # fw1/3/5 seeds: 0.90-0.96, fw2/4: none
    udp = {f[5] for f in fields if f[4] == "0x11/0xFF"}
    assert udp == {"0x0000/0x0000"}


def test_the_written_set_parses_to_the_same_rules_with_or_without_flags():
    text = generate_text(GeneratorConfig("ipc", 300, 5))
    no_flags = "".join("\t".join(line.split("\t")[:5]) + "\n" for line in text.splitlines())
    ranges, flags = generate_rules(GeneratorConfig("ipc", 300, 5))
    assert parse_rules(text).to_ranges() == parse_rules(no_flags).to_ranges() == ranges.tolist()
    assert flags.shape == (300, 2) and (flags[:, 0] & ~flags[:, 1] & 0xFFFF == 0).all()


def test_db_order_breaks_scope_ties_by_first_rule_drawn_and_keeps_drawn_order_in_a_tuple():
    wc, one = (0, 65535), (80, 80)
    def rule(sp, dp, proto):  # 10.0.0.0/8 -> 0.0.0.0/0
        return [10 << 24, (11 << 24) - 1, 0, 2**32 - 1, *sp, *dp, *((proto, proto) if proto else (0, 255))]
    # scope (32 - 8) + (32 - 0) + log2 widths + 8 (1 - proto) + (1 - flag): 97 for rules 0 and 2 (any protocol,
    # wildcard ports), 73 for 1 and 4 (TCP, one destination port) and for 3 (UDP, one source port) ...
    rules = np.array([rule(wc, wc, 0), rule(wc, one, 6), rule(wc, wc, 0), rule(one, wc, 17), rule(wc, one, 6)])
    flags = np.zeros((5, 2), dtype=np.int64)
    order = db_order(rules, np.full(5, 8), np.zeros(5, dtype=np.int64), flags)
    # ... and rules 1/4 and 3 tie at 73 in different tuples: rule 1's tuple was drawn first
    assert order.tolist() == [1, 4, 3, 0, 2]


def _file(*sections: str, protocols: tuple[int, ...] = (6,)) -> str:
    """A small parameter file: `protocols` in equal shares, all WC-WC, with `sections` after -prots."""
    prots = "".join(f"{p}\t{1 / len(protocols)}\t1.0" + "\t0.0" * 24 + "\n" for p in protocols)
    return "-prots\n" + prots + "#\n" + "".join(sections) + "-wc_wc\n48,1.0\t24,0.5\t16,0.5\n#\n"


@pytest.mark.parametrize("section, problem", [
    ("-flags\n6\t0x0000/0x0000,0.5\t0x1000/0x1000,1.5\n#\n", "5: share 1.5 is not within 0..1"),
    ("-flags\n300\t0x0000/0x0000,1.0\n#\n", "5: protocol 300 is not within 0..255"),
    ("-flags\n6\t0x10000/0x0000,1.0\n#\n", "5: malformed -flags line"),
    ("-flags\n6\n#\n", "5: malformed -flags line"),
    ("-flags\n6\t0x0000/0x0000;1.0\n#\n", "5: malformed -flags line"),
    ("-extra\n2\n6\t3,0.5\t4,0.5\n#\n", ("5: 2 extra fields per rule: not supported (the rules written here have "
                                        "the 5-tuple and flags only)")),
    ("-extra\n0\n6\t3,0.5\n#\n", "6: -extra gives 0 fields per rule, then values for them"),
    ("-extra\n#\n", "4: the -extra section is empty"),
    ("-extra\nnone\n#\n", "5: malformed -extra line"),
])
def test_bad_flags_and_extra_sections_name_the_file_and_line(tmp_path, capsys, section, problem):
    # Both sections were skipped unread, whatever they held.
    import neurocuts.__main__ as cli
    path = tmp_path / "p_seed"
    path.write_text(_file(section))
    with pytest.raises(ParamsError) as err:
        read_params(path)
    assert str(err.value) == f"{path}:{problem}"
    assert cli.main(["gen", "--params", str(path), "--size", "20"]) == 2
    assert capsys.readouterr().err == f"neurocuts: error: {err.value}\n"


def test_flags_are_read_in_the_files_order_and_a_protocol_without_a_line_has_none(tmp_path):
    path = tmp_path / "p_seed"
    path.write_text(_file("-flags\n6\t0x0200/0x1200,0.25\t0x0000/0x0000,0.75\n#\n-extra\n0\n#\n", protocols=(6, 17)))
    assert read_params(path).flags == {6: ((0x0200, 0x1200, 0.25), (0x0000, 0x0000, 0.75))}
    fields = _fields(generate_text(GeneratorConfig(size=400, seed=1, params=str(path))))
    assert {f[5] for f in fields if f[4] == "0x11/0xFF"} == {"0x0000/0x0000"}
    assert {f[5] for f in fields if f[4] == "0x06/0xFF"} == {"0x0200/0x1200", "0x0000/0x0000"}


def _flag_shares(path, size: int = 4000) -> dict[str, float]:
    got = [f[5] for f in _fields(generate_text(GeneratorConfig(size=size, seed=1, params=str(path))))]
    return {spec: got.count(spec) / len(got) for spec in set(got)}


def test_flags_past_the_tenth_on_a_line_are_ignored_as_db_generator_reads_them(tmp_path, caplog):
    # FlagList::read's sscanf takes 10 specifications a line; all 12 were drawn here.
    specs = [(0x0100 * i, 0xFF00, 0.05) for i in range(12)]
    path = tmp_path / "p_seed"
    path.write_text(_file("-flags\n6\t" + "\t".join(f"0x{v:04x}/0x{m:04x},{p}" for v, m, p in specs) + "\n#\n"))
    assert read_params(path).flags == {6: tuple(specs[:10])}
    assert f"{path}:5: -flags line for protocol 6 has 12 specifications: only the first 10 are used" in caplog.text
    shares = _flag_shares(path)
    assert set(shares) == {f"0x{v:04x}/0xff00" for v, _, _ in specs[:10]}
    assert abs(shares["0x0900/0xff00"] - 0.55) < 0.04  # the 10th's running total is set to 1, as FlagList does


def test_a_second_flags_line_is_appended_as_db_generator_appends_it(tmp_path, caplog):
    # It was refused ("protocol 6 is given twice"). FlagList::read appends the line and sums the stored
    # values again, the first line's running totals (.2, .5, 1) included: .2, .7, 1.7, then 1 (the last):
    # the first three are drawn .2, .5 and .3 of the time, and the appended spec never.
    path = tmp_path / "p_seed"
    path.write_text(_file("-flags\n6\t0x0000/0x0000,0.2\t0x0200/0x1200,0.3\t0x1000/0x1000,0.5\n"
                          "6\t0x0400/0x0400,0.4\n#\n"))
    flags = read_params(path).flags
    assert [(v, m) for v, m, _ in flags[6]] == [(0, 0), (0x0200, 0x1200), (0x1000, 0x1000)]
    assert [round(p, 12) for _, _, p in flags[6]] == [0.2, 0.5, 0.3]
    assert f"{path}:6: a second -flags line for protocol 6" in caplog.text
    shares = _flag_shares(path)
    assert set(shares) == {"0x0000/0x0000", "0x0200/0x1200", "0x1000/0x1000"}
    for spec, want in (("0x0000/0x0000", 0.2), ("0x0200/0x1200", 0.5), ("0x1000/0x1000", 0.3)):
        assert abs(shares[spec] - want) < 0.04, (spec, shares)


@pytest.mark.parametrize("flags", [
    "6\t0x0000/0x0000,1.0\n6\t0x0400/0x0400,1.0\n",  # a second line for protocol 6
    "6\t" + "\t".join(f"0x{0x100 * i:04x}/0xff00,0.05" for i in range(12)) + "\n",  # 12 specs
])
def test_a_refused_parameter_file_prints_its_error_alone_not_the_warnings_before_it(
        tmp_path, flags):
    # Old code logged the -flags warning as it read the line, then refused the file further on:
    # two lines on stderr for one bad file, the first about a line that is fine. A subprocess:
    # under pytest the warning goes to pytest's log handler, not to stderr as in a shell.
    path = tmp_path / "p_seed"
    path.write_text(_file("-flags\n" + flags + "#\n", "-scale\n0\n#\n"))
    r = subprocess.run([sys.executable, "-m", "neurocuts", "gen", "--params", str(path), "--size",
                        "10"], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2 and r.stdout == "", r.stderr
    assert r.stderr.startswith(f"neurocuts: error: {path}:") and r.stderr.count("\n") == 1, r.stderr
    assert "scale 0 is not within" in r.stderr
    path.write_text(_file("-flags\n" + flags + "#\n"))  # read: the warning is still said
    r = subprocess.run([sys.executable, "-m", "neurocuts", "gen", "--params", str(path), "--size",
                        "10"], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0 and f"{path}:" in r.stderr and "-flags line" in r.stderr, r.stderr
