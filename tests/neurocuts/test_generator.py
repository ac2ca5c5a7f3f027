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


@pytest.mark.parametrize("field, value", [("size", 10.5), ("size", True), ("seed", 1.5), ("smoothness", 1.5),
                                          ("address_scope", "0.5"), ("port_scope", None)])
def test_a_config_field_of_the_wrong_type_is_refused_by_name(field, value):
    # A float size, seed or smoothness got through and failed inside numpy or math.comb (TypeError).
    with pytest.raises(ValueError, match=rf"^{field} must be an? (integer|number), got "):
        GeneratorConfig(**{field: value})
    assert GeneratorConfig(size=np.int64(5), seed=np.int64(2), port_scope=np.float64(0.5)).size == 5


# ---------------------------------------------------------------- against ClassBench's parameter files

def _shares(values: list) -> dict:
    keys, counts = np.unique(np.array(values, dtype=object).astype(str), return_counts=True)
    return dict(zip(keys.tolist(), (counts / counts.sum()).tolist()))


def _port_class(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.select([(lo == 0) & (hi == 65535), (lo == 1024) & (hi == 65535), (lo == 0) & (hi == 1023), lo == hi],
                     ["WC", "HI", "LO", "EM"], "AR")


def _stats(r: np.ndarray) -> tuple[dict, dict, float, float]:
    """Protocol shares (0 = any), TCP/UDP port class pair shares, mean source and destination prefix length."""
    proto = np.where(r[:, 8] == r[:, 9], r[:, 8], 0)
    tu = (proto == 6) | (proto == 17)
    pairs = [f"{a}-{b}" for a, b in zip(_port_class(r[tu, 4], r[tu, 5]), _port_class(r[tu, 6], r[tu, 7]))]
    length = lambda d: float(np.mean(32 - np.log2(r[:, 2 * d + 1] - r[:, 2 * d] + 1)))  # noqa: E731
    return _shares(proto.tolist()), _shares(pairs) if pairs else {}, length(0), length(1)


def _close(got: dict, want: dict, tol: float) -> list:
    return [(k, round(got.get(k, 0.0), 3), round(want.get(k, 0.0), 3)) for k in set(got) | set(want)
            if abs(got.get(k, 0.0) - want.get(k, 0.0)) > tol]


@pytest.mark.parametrize("family, seeds", [("acl", range(1, 6)), ("fw", range(1, 6)), ("ipc", range(1, 3))])
def test_family_mix_matches_the_seed_files_tcp_udp_port_classes(shared_dir, family, seeds):
    # The shipped pair shares were once taken over all protocols, so the wildcard ports of ICMP and
    # any-protocol rules inflated WC-WC among TCP/UDP rules (ipc: 0.51 generated against 0.02 in the seeds).
    from sysml_datasets.classbench import read_params
    want: dict = {}
    with_ports = [p for p in (read_params(shared_dir / "classbench" / "seeds" / f"{family}{i}_seed") for i in seeds)
                  if p.pair_shares()]
    for p in with_ports:
        for (a, b), v in p.pair_shares().items():
            want[f"{a}-{b}"] = want.get(f"{a}-{b}", 0.0) + v / len(with_ports)
    _, pairs, _, _ = _stats(generate_ranges(GeneratorConfig(family, 4000, 1)))
    assert not _close(pairs, want, 0.04)


@pytest.mark.parametrize("family, seeds", [("acl", range(1, 6)), ("fw", range(1, 6)), ("ipc", range(1, 3))])
def test_family_prefix_lengths_are_drawn_jointly_as_the_seed_files_give_them(shared_dir, family, seeds):
    # The seed files give each port class pair's (source, destination) prefix lengths jointly. The
    # family mixes drew the two from their marginals independently, so fw rules had both addresses
    # wildcards 22% of the time against the seeds' 10%, and a wildcard source with a host destination
    # 26% against 34% (HiCuts on `gen --kind fw` then blew up far past the published fw sets).
    from collections import defaultdict

    from sysml_datasets.classbench import read_params
    from sysml_datasets.classbench._generator import _model
    want: dict = defaultdict(float)
    for i in seeds:
        p = read_params(shared_dir / "classbench" / "seeds" / f"{family}{i}_seed")
        weight: dict = defaultdict(float)
        for proto, share in p.protocols.items():
            for pair, v in p.pairs.get(proto, {}).items():
                weight[pair] += share * v
        joint: dict = defaultdict(float)
        for pair, table in p.lengths.items():
            for sd, v in table.items():
                joint[sd] += weight[pair] * v / sum(table.values())
        for sd, v in joint.items():
            want[sd] += v / sum(joint.values()) / len(seeds)
    kept = {sd: v for sd, v in want.items() if v >= 0.002}  # the mix leaves out pairs under 0.2%
    kept = {sd: v / sum(kept.values()) for sd, v in kept.items()}
    src, dst = _model(GeneratorConfig(family)).fallback_lengths.draw(np.random.default_rng(0), 200_000, 0.0)
    got = {sd: float(np.mean((src == sd[0]) & (dst == sd[1]))) for sd in want}
    assert not [(sd, round(got[sd], 3), round(kept.get(sd, 0.0), 3)) for sd in want
                if abs(got[sd] - kept.get(sd, 0.0)) > 0.004]


@pytest.mark.parametrize("name", ["acl1", "fw2", "fw4", "ipc2"])
def test_params_file_reproduces_the_seeds_protocols_port_classes_and_prefix_lengths(shared_dir, name):
    from sysml_datasets.classbench import read_params
    path = shared_dir / "classbench" / "seeds" / f"{name}_seed"
    p = read_params(path)
    total = sum(p.protocols.values())
    src, dst = p.length_shares()
    mean = lambda m: sum(k * v for k, v in m.items()) / sum(m.values())  # noqa: E731
    rules = generate_ranges(GeneratorConfig(size=3000, seed=2, params=str(path)))
    protos, pairs, src_len, dst_len = _stats(rules)
    # Duplicates are dropped, and portless rules (ICMP, any protocol) collide more: their shares run a
    # little low (ipc2: ICMP 0.33 against 0.36), as in db_generator's own output (ipc2_10k: 0.36).
    assert not _close(protos, {str(k): v / total for k, v in p.protocols.items()}, 0.05)
    assert not _close(pairs, {f"{a}-{b}": v for (a, b), v in p.pair_shares().items()}, 0.04)
    # For the same reason lengths run a little long (short prefixes collide more).
    assert -1 <= src_len - mean(src) <= 3 and -1 <= dst_len - mean(dst) <= 3
    assert rules.tolist() == generate_ranges(GeneratorConfig(size=3000, seed=2, params=str(path))).tolist()
    assert parse_rules(generate_text(GeneratorConfig(size=300, seed=2, params=str(path)))).to_ranges() == \
        generate_ranges(GeneratorConfig(size=300, seed=2, params=str(path))).tolist()


def test_params_file_errors_name_the_file_and_line(tmp_path):
    from sysml_datasets.classbench import ParamsError, read_params
    bad = tmp_path / "p_seed"
    bad.write_text("-scale\n10\n#\n-prots\n6\t0.5\t1.0\n#\n")
    with pytest.raises(ParamsError, match=rf"^{bad}:5: -prots line has 3 fields, expected 27$"):
        read_params(bad)
    bad.write_text("-prots\n6\t1.0" + "\t0.0" * 24 + "\t1.0\n#\n-dpem\n0.5\t99999:99999\n#\n")
    with pytest.raises(ParamsError, match=rf"^{bad}:5: port range 99999:99999 is not within"):
        read_params(bad)
    bad.write_text("@1.2.3.4/32\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x06/0xFF\n")
    with pytest.raises(ParamsError, match="no -prots section"):
        read_params(bad)
    with pytest.raises(ParamsError, match="no such file"):
        read_params(tmp_path / "missing")


def test_gen_with_a_bad_params_file_is_one_line_exit_2(tmp_path, capsys):
    import neurocuts.__main__ as cli
    bad = tmp_path / "p_seed"
    bad.write_text("-prots\nsix\n#\n")
    assert cli.main(["gen", "--params", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == f"neurocuts: error: {bad}:2: -prots line has 1 fields, expected 27\n"


@pytest.mark.parametrize("kind", ["acl", "fw"])
def test_the_destination_tries_numpy_and_per_rule_sorts_give_the_same_rules(monkeypatch, kind):
    # The first pass sorts a node's rules with numpy from _address_trees._LARGE rules on, else rule by
    # rule; both must make the same draws and lists, so the whole set comes out the same either way.
    import sysml_datasets.classbench._address_trees as trees
    cfg = GeneratorConfig(kind, 3000, 5)
    monkeypatch.setattr(trees, "_LARGE", 1)  # numpy at every node
    all_numpy = generate_text(cfg)
    monkeypatch.setattr(trees, "_LARGE", 10**9)  # never
    assert generate_text(cfg) == all_numpy
