"""ClassBench rules and packets: parsing, formatting and the linear-scan oracle.

A rule set is five inclusive integer ranges per rule, one row per rule, in priority order (row 0
is the highest priority: the first matching rule wins). The five dimensions are source IP, destination
IP, source port, destination port and protocol (`DIMS`). Prefixes become ranges; a protocol with mask
0xFF is one value and mask 0x00 is any protocol. The flags field is parsed and checked but not used,
as in NeuroCuts.
Fields are tab-separated as ClassBench writes them (a line without tabs may separate them by spaces);
blank lines and lines starting with `#` are skipped; a UTF-8 byte-order mark and CRLF endings are accepted.

A malformed line raises `RuleFormatError`, whose message is `file:line: what is wrong`; nothing is
returned half-built. Packets are text lines of whitespace-separated integers `src dst sport dport
proto` (extra columns, such as a ClassBench trace's rule id, are ignored; blank and `#` lines are
skipped, as in rule files).
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

DIMS = ("src_ip", "dst_ip", "src_port", "dst_port", "proto")
DIM_BITS = (32, 32, 16, 16, 8)
#: Inclusive upper end of each dimension's domain.
DIM_MAX = np.array([(1 << b) - 1 for b in DIM_BITS], dtype=np.int64)

# [0-9], not \d: \d and int() also take other scripts' digits ('١.٢.٣.٤' read as 1.2.3.4)
_IP = r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})/([0-9]{1,2})"
_RANGE = r"([0-9]+)\s*:\s*([0-9]+)"
_HEX = r"0x([0-9a-fA-F]{1,4})/0x([0-9a-fA-F]{1,4})"
_FIELDS = (("source prefix", _IP), ("destination prefix", _IP), ("source port range", _RANGE),
           ("destination port range", _RANGE), ("protocol", _HEX))


_HUGE = re.compile(r"[+-]?0*[1-9][0-9]{18,}")
"""An integer of 19 digits or more (leading zeros aside): past every field's range, and past
int64, where numpy overflows."""
_NEWLINE = re.compile(r"\r\n|\r|\n")
# A rule written with spaces instead of tabs between its fields (ports keep their inner spaces).
_SPACED = re.compile(r"(\S+)\s+(\S+)\s+([0-9]+\s*:\s*[0-9]+)\s+([0-9]+\s*:\s*[0-9]+)\s+(\S+)(?:\s+(\S+))?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
"""A packet field: ASCII digits (int() and numpy also take '1_000' and other scripts' digits)."""
_NOT_PACKET_TEXT = re.compile(r"[^0-9+\-\s]")


def _lines(text: str) -> list[str]:
    """Lines split on \\n, \\r\\n or \\r only, so line numbers are an editor's (str.splitlines also
    breaks at form feeds, \\x1c-\\x1e, \\x85 and U+2028, shifting every later line's number)."""
    return _NEWLINE.split(text)


class RuleFormatError(ValueError):
    """A rule or packet file line that cannot be parsed; str() is `file:line: what is wrong`, or
    `file: what is wrong` where no line is to blame (`line` None: a missing or unreadable file)."""

    def __init__(self, source: str, line: int | None, problem: str) -> None:
        super().__init__(f"{source}: {problem}" if line is None else f"{source}:{line}: {problem}")
        self.source, self.line, self.problem = source, line, problem


@dataclass(frozen=True)
class RuleSet:
    """Rules as inclusive ranges; row i is rule i, and a lower index means a higher priority."""

    lo: np.ndarray  # (rules, 5) int64
    hi: np.ndarray  # (rules, 5) int64, inclusive

    def __post_init__(self) -> None:
        if self.lo.shape != self.hi.shape or self.lo.ndim != 2 or self.lo.shape[1] != 5:
            raise ValueError(f"lo and hi must both be (rules, 5), got {self.lo.shape}, {self.hi.shape}")
        if len(self.lo) and ((self.lo > self.hi).any() or (self.lo < 0).any() or (self.hi > DIM_MAX).any()):
            raise ValueError("every range must satisfy 0 <= lo <= hi <= the dimension's maximum")

    def __len__(self) -> int:
        return len(self.lo)

    @classmethod
    def from_ranges(cls, ranges: list[list[int]] | np.ndarray) -> "RuleSet":
        """From rows `[lo0, hi0, lo1, hi1, ..., lo4, hi4]` (inclusive)."""
        arr = np.asarray(ranges, dtype=np.int64).reshape(-1, 10)
        return cls(np.ascontiguousarray(arr[:, 0::2]), np.ascontiguousarray(arr[:, 1::2]))

    def to_ranges(self) -> list[list[int]]:
        """Rows `[lo0, hi0, ..., lo4, hi4]`, the inverse of `from_ranges`."""
        out = np.empty((len(self), 10), dtype=np.int64)
        out[:, 0::2], out[:, 1::2] = self.lo, self.hi
        return out.tolist()


def _prefix(groups: tuple[str, ...], what: str, src: str, lineno: int) -> tuple[int, int]:
    octets = [int(g) for g in groups[:4]]
    length = int(groups[4])
    if any(o > 255 for o in octets):
        raise RuleFormatError(src, lineno, f"{what}: octet above 255")
    if length > 32:
        raise RuleFormatError(src, lineno, f"{what}: prefix length {length} above 32")
    addr = (octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]
    host = (1 << (32 - length)) - 1
    lo = addr & ~host & 0xFFFFFFFF  # host bits beyond the prefix are masked off
    return lo, lo | host


def parse_rule_line(line: str, src: str = "<rules>", lineno: int = 1) -> list[int]:
    """One ClassBench line to `[lo0, hi0, ..., lo4, hi4]`; raises RuleFormatError."""
    if not line.startswith("@"):
        raise RuleFormatError(src, lineno, "a rule line must start with '@'")
    body = line[1:].strip()
    parts = [p.strip() for p in body.split("\t")]
    while parts and parts[-1] == "":
        parts.pop()
    spaced = _SPACED.fullmatch(body) if "\t" not in body else None
    if spaced:
        parts = [g for g in spaced.groups() if g is not None]
    if len(parts) not in (5, 6):
        raise RuleFormatError(src, lineno, f"expected 5 or 6 tab-separated fields, found {len(parts)}")
    row: list[int] = []
    for (what, pattern), text in zip(_FIELDS, parts):
        m = re.fullmatch(pattern, text)
        if m is None:
            raise RuleFormatError(src, lineno, f"{what} {_quoted(text)} is malformed")
        g = m.groups()
        if what.endswith("prefix"):
            row += _prefix(g, what, src, lineno)
        elif what.endswith("range"):
            if _HUGE.fullmatch(g[0]) or _HUGE.fullmatch(g[1]):  # int() refuses past 4300 digits
                raise RuleFormatError(src, lineno, f"{what} {_shown(g[0])} : {_shown(g[1])} is not "
                                                   "within 0..65535 with lo <= hi")
            lo, hi = int(g[0]), int(g[1])
            if hi > 65535 or lo > hi:
                raise RuleFormatError(src, lineno, f"{what} {lo} : {hi} is not within 0..65535 with lo <= hi")
            row += [lo, hi]
        else:
            value, mask = int(g[0], 16), int(g[1], 16)
            if mask == 0xFF and value <= 0xFF:
                row += [value, value]
            elif mask == 0:
                row += [0, 255]
            else:
                raise RuleFormatError(src, lineno, f"protocol {_quoted(text)}: mask must be 0xFF "
                                                   "or 0x00, value <= 0xFF")
    if len(parts) == 6 and re.fullmatch(_HEX, parts[5]) is None:
        raise RuleFormatError(src, lineno, f"flags {_quoted(parts[5])} is malformed")
    return row


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Parse ClassBench text (blank lines and `#` comment lines skipped); all or nothing."""
    if text.startswith("\ufeff"):
        text = text[1:]
    rows = [parse_rule_line(line.strip(), source, i) for i, line in enumerate(_lines(text), 1)
            if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        raise RuleFormatError(source, 1, "no rules found")
    return RuleSet.from_ranges(rows)


def read_text(path: str | Path) -> str:
    """A text file's contents; RuleFormatError naming the file (and line, for bad UTF-8) otherwise."""
    if isinstance(path, str) and not path:  # Path("") is the working folder
        raise RuleFormatError("file", None, "empty path")
    try:
        with open(path, "rb") as f:
            data = _read_until_binary(f)
        text = data.decode("utf-8-sig")
    except FileNotFoundError:
        raise RuleFormatError(str(path), None, "no such file") from None
    except IsADirectoryError:
        raise RuleFormatError(str(path), None, "is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise RuleFormatError(str(path), exc.object[:exc.start].count(b"\n") + 1, "not UTF-8 text") from None
    except OSError as exc:
        raise RuleFormatError(str(path), None, f"cannot read: {exc.strerror or exc}") from None
    nul = text.find("\0")
    if nul >= 0:
        raise RuleFormatError(str(path), len(_lines(text[:nul])), "NUL byte: not a text file")
    # universal newlines, as read_text() read it (parsers split on \n, \r\n and \r alike)
    return text.replace("\r\n", "\n").replace("\r", "\n")


_CHUNK = 1 << 20


def _read_until_binary(f: BinaryIO) -> bytes:
    """All of ``f``, or its bytes up to the first chunk that holds a NUL or is not UTF-8: no rule,
    packet or tree file holds one, and a device or pipe that never ends (``/dev/zero``,
    ``/dev/urandom``) was read until memory ran out (an internal error, or the kernel's kill)."""
    chunks, decoder = [], codecs.getincrementaldecoder("utf-8")()
    while chunk := f.read(_CHUNK):
        nul = chunk.find(b"\0")
        if nul >= 0:  # up to the NUL: a character cut at the chunk's end is not the problem
            chunks.append(chunk[:nul + 1])
            break
        chunks.append(chunk)
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError:
            break
    return b"".join(chunks)


def load_rules(path: str | Path) -> RuleSet:
    """Read and parse a ClassBench rule file."""
    return parse_rules(read_text(path), str(path))


def _ip(value: int) -> str:
    return ".".join(str((value >> s) & 255) for s in (24, 16, 8, 0))


def _prefix_len(lo: int, hi: int) -> int:
    span = hi - lo + 1
    length = 32 - (span.bit_length() - 1)
    if span & (span - 1) or lo & (span - 1):
        raise ValueError(f"IP range {lo}..{hi} is not a prefix")
    return length


def format_rules(rules: RuleSet) -> str:
    """ClassBench text for a rule set whose IP ranges are prefixes (flags written as any)."""
    lines = []
    for lo, hi in zip(rules.lo.tolist(), rules.hi.tolist()):
        if lo[4] == hi[4]:
            proto = f"0x{lo[4]:02x}/0xFF"
        elif lo[4] == 0 and hi[4] == 255:
            proto = "0x00/0x00"
        else:
            raise ValueError(f"protocol range {lo[4]}..{hi[4]} has no ClassBench form")
        lines.append(f"@{_ip(lo[0])}/{_prefix_len(lo[0], hi[0])}\t{_ip(lo[1])}/{_prefix_len(lo[1], hi[1])}\t"
                     f"{lo[2]} : {hi[2]}\t{lo[3]} : {hi[3]}\t{proto}\t0x0000/0x0000\t")
    return "\n".join(lines) + "\n"


def parse_packets(text: str, source: str = "<packets>") -> np.ndarray:
    """Packets `(n, 5)` int64 from whitespace-separated integer lines (blank and `#` comment lines
    skipped, as in rule files); raises RuleFormatError, also for text with no packet (an empty or
    blank file is a mistake, as a rule file with no rule is)."""
    commented = "#" in text  # most files hold none: their lines need only the blank test
    lines = [ln for ln in _lines(text) if (_is_packet_line(ln) if commented else ln.strip())]
    if not lines:
        raise RuleFormatError(source, 1, "no packets found")
    width = len(lines[0].split())
    body = " ".join(lines) if commented else text
    tokens = body.split()
    try:
        # The token count alone is not enough: lines of 5, 6 and 7 fields are 3 x 6 tokens, which
        # reshaped made line 3 start one token late (and 6, 4, 8 hid a short line 2).
        if width >= 5 and len(tokens) == width * len(lines) and _NOT_PACKET_TEXT.search(body) is None \
                and all(len(ln.split()) == width for ln in lines):
            arr = np.array(tokens, dtype=np.int64).reshape(len(lines), width)[:, :5]
        else:
            raise ValueError
    except (ValueError, OverflowError):
        arr = np.zeros((len(lines), 5), dtype=np.int64)
        for i, line in enumerate(lines):
            fields = line.split()
            if len(fields) < 5:
                raise RuleFormatError(source, _lineno(text, i), f"expected 5 integers, found {len(fields)}")
            for j, f in enumerate(fields[:5]):
                if _HUGE.fullmatch(f):  # past int64 (int() refuses past 4300 digits)
                    raise _out_of_range(source, _lineno(text, i), j, f)
                if not _INTEGER.fullmatch(f):
                    shown = ", ".join(_quoted(f) for f in fields[:5])
                    raise RuleFormatError(source, _lineno(text, i), f"not an integer among [{shown}]")
                value = int(f)
                if not 0 <= value <= DIM_MAX[j]:
                    raise _out_of_range(source, _lineno(text, i), j, f)
                arr[i, j] = value
    bad = ((arr < 0) | (arr > DIM_MAX)).any(axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        j = int(np.argmax((arr[i] < 0) | (arr[i] > DIM_MAX)))
        raise _out_of_range(source, _lineno(text, i), j, str(arr[i, j]))
    return arr


def _out_of_range(source: str, lineno: int, field: int, value: str) -> RuleFormatError:
    return RuleFormatError(source, lineno, f"field {field + 1} ({DIMS[field]}) {_shown(value)} is "
                                           f"out of range 0..{DIM_MAX[field]}")


def _shown(number: str) -> str:
    """A number as the user wrote it, cut in the middle when it is too long for one line."""
    return number if len(number) <= 24 else f"{number[:10]}...{number[-4:]} ({len(number)} digits)"


def _quoted(field: str) -> str:
    """A field as the user wrote it, quoted, cut in the middle when it is too long for one line (a
    5 MB field was a 5 MB error line)."""
    if len(field) <= 40:
        return repr(field)
    return f"{field[:16]!r}...{field[-8:]!r} ({len(field)} characters)"


def _is_packet_line(line: str) -> bool:
    """Not blank and not a `#` comment: skipped in packet files as in rule files."""
    stripped = line.lstrip()
    return bool(stripped) and not stripped.startswith("#")


def _lineno(text: str, nonblank_index: int) -> int:
    """The file line number of the packet line ``nonblank_index`` (0-based, blank and comment
    lines not counted)."""
    seen = -1
    for n, line in enumerate(_lines(text), 1):
        if _is_packet_line(line):
            seen += 1
            if seen == nonblank_index:
                return n
    return nonblank_index + 1


def load_packets(path: str | Path) -> np.ndarray:
    """Read a packet file (see `parse_packets`)."""
    return parse_packets(read_text(path), str(path))


def linear_scan(rules: RuleSet, packets: np.ndarray, block: int = 256, chunk: int = 8192) -> np.ndarray:
    """Index of the first rule matching each packet, or -1: the vectorised oracle.

    Packets go in chunks; each chunk is tested against `block` rules at a time, and packets leave
    as soon as a block holds their first match, so the work is packets x rules-until-match.
    """
    packets = np.asarray(packets, dtype=np.int64)
    out = np.full(len(packets), -1, dtype=np.int64)
    for start in range(0, len(packets), chunk):
        pk = packets[start:start + chunk]
        idx = np.arange(len(pk))
        for r0 in range(0, len(rules), block):
            if len(idx) == 0:
                break
            lo, hi = rules.lo[r0:r0 + block], rules.hi[r0:r0 + block]
            p = pk[idx]
            hit = np.ones((len(idx), len(lo)), dtype=bool)  # (packets, rules)
            for d in range(5):
                col = p[:, d:d + 1]
                hit &= (col >= lo[:, d]) & (col <= hi[:, d])
            found = hit.any(axis=1)
            out[start + idx[found]] = r0 + hit[found].argmax(axis=1)
            idx = idx[~found]
    return out


def random_packets(rules: RuleSet, n: int, seed: int = 0, corner_fraction: float = 0.5) -> np.ndarray:
    """Packets for testing: half uniform over the domain, half at or inside rules (corners included).

    Corner packets sit on a random rule's range ends and one past them, where prefix boundaries and
    off-by-one errors show.
    """
    rng = np.random.default_rng(seed)
    out = rng.integers(0, DIM_MAX + 1, size=(n, 5), dtype=np.int64)
    m = int(n * corner_fraction) if len(rules) else 0
    if m:
        pick = rng.integers(0, len(rules), size=m)
        lo, hi = rules.lo[pick], rules.hi[pick]  # (m, 5) each
        which = rng.integers(0, 5, size=(m, 5))
        inside = lo + (rng.random((m, 5)) * (hi - lo + 1)).astype(np.int64)
        vals = np.select([which == 0, which == 1, which == 2, which == 3], [lo, hi, lo - 1, hi + 1], inside)
        out[:m] = np.clip(vals, 0, DIM_MAX)
    return out
