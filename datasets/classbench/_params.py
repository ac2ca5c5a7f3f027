"""ClassBench parameter ("seed") files, as db_generator reads them (acl1_seed, fw3_seed, ...).

A file is a list of sections, each opened by `-name` and closed by `#`. The ones read here:

- `-prots`: `protocol share p1 .. p25` per line: the protocol's share of the rules (0 = any protocol)
  and the probability of each of the 25 source/destination port class pairs (`PAIR_CLASSES`) for it;
- `-flags`: `protocol 0xVVVV/0xMMMM,p ...` per line: that protocol's flag specifications (value/mask)
  with their probabilities (db_generator's FlagList; a protocol without a line has none, 0x0000/0x0000).
  As FlagList::read, a line's specifications past the 10th are ignored (its sscanf reads 10), and a
  second line for a protocol is appended to its list, which then sums the first line's running totals
  again: the appended specifications are never drawn and the first line's are re-weighted (`_flag_chances`).
  Both are logged as warnings naming the line; no published parameter file has either;
- `-extra`: the number of extra fields per rule, then their values per protocol (db_generator's
  ExtraList). Every published parameter file has 0; more is refused, since the rule format read here
  has no column for them;
- `-spar`, `-dpar`: `share lo:hi` arbitrary source / destination port ranges; `-spem`, `-dpem`:
  `share p:p` exact ports;
- one section per port class pair (`-wc_wc` .. `-em_em`): `total,share src,cond ...` per line, the
  joint prefix lengths of that pair's rules (source plus destination length `total`, then each
  source length with its probability given the total);
- `-scale`: the size of the rule set the file was measured from;
- `-snest`, `-dnest`: the deepest prefix nesting (prefixes on one root-to-leaf path) of the source and
  destination address trees;
- `-sskew`, `-dskew`: `level p1 p2 skew` per line: at that depth of the address trie, the share of
  nodes with one child and with two children, and the mean skew `1 - light/heavy` of the two-child
  nodes (heavy and light: the child subtrees' rule counts);
- `-pcorr`: `level correlation` per line: the probability that a rule's destination address follows
  its source address's bit at that level, given it did above.

Every value is checked where it is read, and a bad one is a `ParamsError` naming the file and line:
shares and probabilities within 0..1 (NaN and inf refused), levels 0..32 given once each, `p1 + p2 <= 1`,
the fields a line needs. A section header is `-name`, so a line such as `-5` is a negative value, not a
section to skip. db_generator closes every section with `#`, so a file that ends inside one is refused as
cut short; an opened -scale, address-tree or -pcorr section must hold values, and the four address-tree
sections come all or none (without them, the family's trees are used).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

#: The 25 port class pairs in the order `-prots` lists their probabilities (WC any, HI 1024:65535,
#: LO 0:1023, AR an arbitrary range, EM one port).
PAIR_CLASSES = tuple(tuple(p.upper().split("_")) for p in (
    "wc_wc wc_hi hi_wc hi_hi wc_lo lo_wc hi_lo lo_hi lo_lo wc_ar ar_wc hi_ar ar_hi wc_em em_wc hi_em em_hi "
    "lo_ar ar_lo lo_em em_lo ar_ar ar_em em_ar em_em").split())


@dataclass(frozen=True)
class AddressTree:
    """One address trie's shape, per level 0..32 (db_generator's sbintree / dbintree input)."""

    nest: int
    """Deepest prefix nesting: at most this many of the rules' prefixes lie on one root-to-leaf path."""
    p1: tuple[float, ...]
    """Level -> probability that a node there has one child."""
    p2: tuple[float, ...]
    """Level -> probability that a node there has two children."""
    skew: tuple[float, ...]
    """Level -> mean skew `1 - light/heavy` of the two-child nodes there."""

    def __post_init__(self) -> None:
        if self.nest < 1:
            raise ValueError(f"nest must be >= 1, got {self.nest}")
        for name in ("p1", "p2", "skew"):
            values = getattr(self, name)
            if len(values) != 33 or not all(0.0 <= v <= 1.0 for v in values):
                raise ValueError(f"{name} must hold 33 values within 0..1")


@dataclass(frozen=True)
class SeedParams:
    """The distributions of one parameter file (shares as written, not renormalised)."""

    protocols: dict[int, float]
    """Protocol -> share of the rules (0: any protocol)."""
    pairs: dict[int, dict[tuple[str, str], float]]
    """Protocol -> (source class, destination class) -> probability."""
    sport_ranges: dict[tuple[int, int], float]
    """Arbitrary source port ranges (`-spar`) -> share."""
    sport_exact: dict[int, float]
    """Exact source ports (`-spem`) -> share."""
    dport_ranges: dict[tuple[int, int], float]
    """Arbitrary destination port ranges (`-dpar`) -> share."""
    dport_exact: dict[int, float]
    """Exact destination ports (`-dpem`) -> share."""
    lengths: dict[tuple[str, str], dict[tuple[int, int], float]]
    """Port class pair -> (source prefix length, destination prefix length) -> probability."""
    src_tree: AddressTree | None = None
    """The source address trie's statistics (`-snest`, `-sskew`), if the file has them."""
    dst_tree: AddressTree | None = None
    """The destination address trie's statistics (`-dnest`, `-dskew`), if the file has them."""
    corr: tuple[float, ...] = (0.0,) * 33
    """Level (0..32) -> source/destination address correlation (`-pcorr`; 0 where not given)."""
    scale: int | None = None
    """`-scale`: the size of the rule set the file was measured from, if given."""
    flags: dict[int, tuple[tuple[int, int, float], ...]] = field(default_factory=dict)
    """Protocol -> its flag specifications `(value, mask, probability)` in the file's order (`-flags`;
    for a protocol given on several lines, the specifications db_generator can draw, with the chance it
    draws each)."""

    def pair_shares(self, protocols: tuple[int, ...] = (6, 17)) -> dict[tuple[str, str], float]:
        """Each port class pair's share among the rules of `protocols` (TCP and UDP by default)."""
        total = sum(self.protocols.get(p, 0.0) for p in protocols)
        out: dict[tuple[str, str], float] = {}
        for p in protocols:
            for pair, v in self.pairs.get(p, {}).items():
                out[pair] = out.get(pair, 0.0) + self.protocols[p] * v / (total or 1.0)
        return out

    def length_shares(self) -> tuple[dict[int, float], dict[int, float]]:
        """Source and destination prefix-length marginals over all rules."""
        weight: dict[tuple[str, str], float] = {}
        for p, share in self.protocols.items():
            for pair, v in self.pairs.get(p, {}).items():
                weight[pair] = weight.get(pair, 0.0) + share * v
        src: dict[int, float] = {}
        dst: dict[int, float] = {}
        for pair, joint in self.lengths.items():
            for (s, d), v in joint.items():
                src[s] = src.get(s, 0.0) + weight.get(pair, 0.0) * v
                dst[d] = dst.get(d, 0.0) + weight.get(pair, 0.0) * v
        return src, dst


class ParamsError(ValueError):
    """A parameter file that cannot be read; str() is `file:line: what is wrong` (or `file: ...`)."""


class _Bad(ValueError):
    """A line's problem, worded for the user (other ValueErrors read `malformed -<section> line`)."""


# A section opens with `-name`; a line such as `-5` is a (negative) value, not a section.
_SECTION = re.compile(r"-([A-Za-z_][A-Za-z0-9_]*)")
# Shares and probabilities are written as float32 values, so a sum such as p1 + p2 may pass 1 by a few ulps.
_SLACK = 1e-6
_TREE_SECTIONS = ("snest", "sskew", "dnest", "dskew")
# A -flags item: a 16-bit value and mask in hex (db_generator reads `0x%04x/0x%04x,%f`), then its probability.
_FLAG = re.compile(r"0x([0-9A-Fa-f]{1,4})/0x([0-9A-Fa-f]{1,4}),(\S+)")
#: Flag specifications FlagList::read takes from one line (its sscanf format holds 10).
MAX_FLAG_SPECS = 10

log = logging.getLogger(__name__)
_TOO_MANY_FLAGS = ("%s:%d: -flags line for protocol %d has %d specifications: only the first %d "
                   "are used, as db_generator reads them")
_SECOND_FLAGS_LINE = ("%s:%d: a second -flags line for protocol %d: appended, as db_generator "
                      "does, but never drawn from (db_generator's running total reaches 1 "
                      "before it)")


def _share(text: str) -> float:
    """A probability or share: a number within 0..1 (NaN and inf are refused)."""
    value = float(text)
    if not 0.0 <= value <= 1.0 + _SLACK:
        raise _Bad(f"share {text} is not within 0..1")
    return value


def _fields(fields: list[str], n: int, section: str) -> list[str]:
    if len(fields) != n:
        raise _Bad(f"-{section} line has {len(fields)} fields, expected {n}")
    return fields


def _ports(text: str) -> tuple[int, int]:
    lo, hi = (int(x) for x in text.split(":"))
    if not 0 <= lo <= hi <= 65535:
        raise _Bad(f"port range {text} is not within 0..65535 with lo <= hi")
    return lo, hi


def _level(text: str, seen: dict[int, object]) -> int:
    level = int(text)
    if not 0 <= level <= 32:
        raise _Bad(f"level {level} is not within 0..32")
    if level in seen:
        raise _Bad(f"level {level} is given twice")
    return level


#: A parameter file is a few kB; reading stops past this.
MAX_PARAMS_BYTES = 16 << 20


def read_params(path: str | Path) -> SeedParams:
    """Read a ClassBench parameter file; raises ParamsError naming the file and line."""
    try:
        with open(path, "rb") as fh:  # bounded: a path such as /dev/zero never ends
            data = fh.read(MAX_PARAMS_BYTES + 1)
        if len(data) > MAX_PARAMS_BYTES:
            raise ParamsError(f"{path}: larger than {MAX_PARAMS_BYTES >> 20} MiB, not a ClassBench "
                              f"parameter file (those are a few kB)")
        text = data.decode("utf-8-sig")
    except FileNotFoundError:
        raise ParamsError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ParamsError(f"{path}: is a folder, not a file") from None
    except UnicodeDecodeError:
        raise ParamsError(f"{path}: not a text file") from None
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    protocols: dict[int, float] = {}
    pairs: dict[int, dict[tuple[str, str], float]] = {}
    ranges: dict[str, dict] = {"spar": {}, "spem": {}, "dpar": {}, "dpem": {}}
    lengths: dict[tuple[str, str], dict[tuple[int, int], float]] = {}
    pair_names = {"_".join(p).lower(): p for p in PAIR_CLASSES}
    single: dict[str, int] = {}  # -scale, -snest, -dnest: one value each
    skew: dict[str, dict[int, tuple[float, float, float]]] = {"sskew": {}, "dskew": {}}
    corr: dict[int, float] = {}
    flag_lines: dict[int, list[list[tuple[int, int, float]]]] = {}  # protocol -> its -flags lines
    extra: list[int] = []  # -extra's lines: the field count first
    warnings: list[tuple[str, tuple]] = []  # logged once the whole file has been read
    opened: dict[str, int] = {}  # section -> line of its (last) header
    filled: set[str] = set()  # sections with at least one value line
    section = None
    last = 0  # the last line that is not blank
    for lineno, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        line = raw.strip()
        if not line:
            continue
        last = lineno
        header = _SECTION.fullmatch(line)
        if header:
            section = header.group(1)
            opened[section] = lineno
            continue
        if line == "#":
            section = None
            continue
        if section is None:
            continue
        filled.add(section)
        try:
            fields = line.split()
            if section == "prots":
                _fields(fields, 2 + len(PAIR_CLASSES), section)
                proto = int(fields[0])
                if not 0 <= proto <= 255:
                    raise _Bad(f"protocol {proto} is not within 0..255")
                if proto in protocols:
                    raise _Bad(f"protocol {proto} is given twice")
                protocols[proto] = _share(fields[1])
                pairs[proto] = {c: v for c, v in zip(PAIR_CLASSES, map(_share, fields[2:])) if v > 0}
            elif section == "flags":
                proto = int(fields[0])
                if not 0 <= proto <= 255:
                    raise _Bad(f"protocol {proto} is not within 0..255")
                specs = [_FLAG.fullmatch(item) for item in fields[1:]]
                if not specs or None in specs:
                    raise ValueError  # malformed
                line_specs = [(int(m.group(1), 16), int(m.group(2), 16), _share(m.group(3)))
                              for m in specs if m is not None]
                if len(line_specs) > MAX_FLAG_SPECS:
                    warnings.append((_TOO_MANY_FLAGS,
                                     (path, lineno, proto, len(line_specs), MAX_FLAG_SPECS)))
                    line_specs = line_specs[:MAX_FLAG_SPECS]
                if proto in flag_lines:
                    warnings.append((_SECOND_FLAGS_LINE, (path, lineno, proto)))
                flag_lines.setdefault(proto, []).append(line_specs)
            elif section == "extra":  # the number of extra fields per rule, then (none) their values
                if extra:
                    raise _Bad("-extra gives 0 fields per rule, then values for them")
                count = int(_fields(fields, 1, section)[0])
                if count != 0:
                    raise _Bad(f"{count} extra fields per rule: not supported (the rules written here have "
                               "the 5-tuple and flags only)")
                extra.append(lineno)
            elif section in ranges:
                share, span = _share(fields[0]), _ports(fields[1])
                key = span if section.endswith("ar") else span[0]
                ranges[section][key] = ranges[section].get(key, 0.0) + share
            elif section in ("scale", "snest", "dnest"):
                if section in single:
                    raise _Bad(f"-{section} holds more than one value")
                value = int(_fields(fields, 1, section)[0])
                if section == "scale" and not 1 <= value <= 10**9:
                    raise _Bad(f"scale {value} is not within 1..1000000000")
                if section != "scale" and not 1 <= value <= 33:  # 33 prefixes (lengths 0..32) fit on a path
                    raise _Bad(f"nesting {value} is not within 1..33")
                single[section] = value
            elif section in skew:
                _fields(fields, 4, section)
                level = _level(fields[0], skew[section])
                p1, p2, sk = float(fields[1]), float(fields[2]), float(fields[3])
                if not all(0.0 <= v <= 1.0 for v in (p1, p2, sk)):
                    raise _Bad(f"level {level}: p1, p2 and skew are not within 0..1")
                if p1 + p2 > 1.0 + _SLACK:
                    raise _Bad(f"level {level}: p1 + p2 is {p1 + p2:g}, more than 1")
                skew[section][level] = (p1, p2, sk)
            elif section == "pcorr":
                _fields(fields, 2, section)
                level, c = _level(fields[0], corr), float(fields[1])
                if not 0.0 <= c <= 1.0:
                    raise _Bad(f"level {level}: correlation {c} is not within 0..1")
                corr[level] = c
            elif section in pair_names:
                total, share = fields[0].split(",")
                joint = lengths.setdefault(pair_names[section], {})
                for item in fields[1:]:
                    s, cond = item.split(",")
                    s_len, d_len = int(s), int(total) - int(s)
                    if not (0 <= s_len <= 32 and 0 <= d_len <= 32):
                        raise _Bad(f"prefix lengths {s_len} and {d_len} are not within 0..32")
                    joint[(s_len, d_len)] = joint.get((s_len, d_len), 0.0) + _share(share) * _share(cond)
        except _Bad as exc:
            raise ParamsError(f"{path}:{lineno}: {exc}") from None
        except (ValueError, IndexError):
            raise ParamsError(f"{path}:{lineno}: malformed -{section} line") from None
    if section is not None:  # db_generator's files close every section: the file was cut short
        raise ParamsError(f"{path}:{last}: the -{section} section opened at line {opened[section]} is not "
                          "closed by '#' (truncated file?)")
    for name in ("scale", *_TREE_SECTIONS, "pcorr", "extra"):
        if name in opened and name not in filled:
            raise ParamsError(f"{path}:{opened[name]}: the -{name} section is empty")
    trees = [name for name in _TREE_SECTIONS if name in opened]
    if trees and len(trees) < len(_TREE_SECTIONS):
        missing = ", ".join(f"-{name}" for name in _TREE_SECTIONS if name not in opened)
        raise ParamsError(f"{path}: the address tree sections are incomplete: no {missing}")
    if not protocols or sum(protocols.values()) <= 0:
        raise ParamsError(f"{path}: no -prots section with a positive share (not a ClassBench parameter file?)")
    params = SeedParams(protocols, pairs, ranges["spar"], ranges["spem"], ranges["dpar"],
                        ranges["dpem"], lengths, _tree(single.get("snest"), skew["sskew"]),
                        _tree(single.get("dnest"), skew["dskew"]),
                        tuple(corr.get(level, 0.0) for level in range(33)), single.get("scale"),
                        {proto: _flag_chances(lines) for proto, lines in flag_lines.items()})
    for message, args in warnings:  # only for a file that is read: a refused one is one error line
        log.warning(message, *args)
    return params


def _flag_chances(lines: list[list[tuple[int, int, float]]]) -> tuple[tuple[int, int, float], ...]:
    """One protocol's flag specifications from its -flags lines, as FlagList draws them.

    One line: the specifications as written (the draw takes the first whose running total of
    probabilities passes a uniform number, the last's total set to 1). Several lines: FlagList::read
    appends each line's items and then turns every item's stored value into the running total of the
    stored values, though the earlier lines' values are running totals already, and sets the last to 1;
    each specification then has the chance that it is the first whose total passes a uniform draw in
    [0, 1), and those never drawn (every item after the first line: the first line's last total is 1)
    are left out.
    """
    if len(lines) == 1:
        return tuple(lines[0])
    specs: list[tuple[int, int, float]] = []
    stored: list[float] = []
    for line in lines:
        specs += line
        stored += [p for _, _, p in line]
        total = 0.0
        for i, value in enumerate(stored):
            total += value
            stored[i] = total
        stored[-1] = 1.0
    out, reached = [], 0.0
    for (value, mask, _), top in zip(specs, stored):
        chance = max(0.0, min(1.0, top) - reached)
        reached = max(reached, min(1.0, top))
        if chance > 0:
            out.append((value, mask, chance))
    return tuple(out)


def _tree(nest: int | None, levels: dict[int, tuple[float, float, float]]) -> AddressTree | None:
    """The trie statistics, when the file gives both the nesting and the per-level skew (levels it
    leaves out have no nodes: zeros, as db_generator reads them)."""
    if nest is None or not levels:
        return None
    rows = [levels.get(lv, (0.0, 0.0, 0.0)) for lv in range(33)]
    return AddressTree(nest, *(tuple(r[i] for r in rows) for i in range(3)))
