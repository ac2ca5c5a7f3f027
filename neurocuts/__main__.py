"""Command line: `python -m neurocuts {gen,packets,build,classify,compare}`.

Exit codes: 0 done, 2 bad input (one line on stderr: `neurocuts: error: file:line: what is wrong` for a
file's content, otherwise a message naming the option), 1 internal error (`neurocuts: internal error:
...`). Errors name the program as the other command lines do (`deepquery: ...`, `autopandas: error: ...`).
Every option's value and the --out path are checked before any work starts.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from sysml_cli import interrupt_line, is_output_failure, one_line, output_failed, run_main

from ._classify import classify_flat, flatten
from .argtypes import MAX_NODES, MAX_PACKETS, MAX_RULES, OneLineParser, float_in, int_in, positive_seconds
from .builders import BUILDERS, build
from .rules import RuleFormatError, RuleSet, load_packets, load_rules, parse_rules, random_packets
from .tree import BuildTimeout, NodeBudgetExceeded, Tree, load, save

COLUMNS = ("algo", "rules", "time", "bytes", "bytes_per_rule", "depth", "nodes", "build_s")


class InputError(Exception):
    """Bad user input: reported on one line, exit code 2."""


def _check_out(out: str, rules: str) -> None:
    """Refuse an --out path that cannot be written, or that would overwrite the input rules file."""
    if not out:
        raise InputError("--out: empty path")
    if os.path.isdir(out):
        raise InputError(f"--out {out}: is a folder")
    parent = os.path.dirname(out) or "."
    if not os.path.exists(parent):
        raise InputError(f"--out {out}: folder {parent} does not exist")
    if not os.path.isdir(parent):
        raise InputError(f"--out {out}: {parent} is not a folder")
    if os.path.exists(out) and os.path.exists(rules) and os.path.samefile(out, rules):
        raise InputError(f"--out {out}: is the input rules file")
    if os.path.exists(out) and not os.path.isfile(out):  # a device or pipe, written in place
        if not os.access(out, os.W_OK):
            raise InputError(f"--out {out}: not writable")
        return
    # Before a build that may take minutes: can a file be created beside the target (as save() does)?
    target = os.path.realpath(out)
    probe = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.{os.getpid()}.probe")
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None


_FILE_ARGS = (("rules", "rule file"), ("tree", "tree file"), ("packets", "packet file"), ("params", "--params"))


def _check_file_names(args: argparse.Namespace) -> None:
    """Refuse an empty file name, as deepquery, autopandas and rllib_lite do: Path("") is the
    working folder ('is a folder, not a file'), and '' is no file ('<empty>: no such file')."""
    for attr, label in _FILE_ARGS:
        if getattr(args, attr, None) == "":
            raise InputError(f"{label}: empty path")


def _rules(path: str | None) -> RuleSet:
    """The rule file every subcommand reads (RuleFormatError on bad input), or, where the file is
    optional and absent, the generated default set."""
    if path is None:
        from sysml_datasets.classbench import GeneratorConfig, generate_text
        print("no rules file given: using generated acl rules (1000 rules, seed 1)", file=sys.stderr)
        return parse_rules(generate_text(GeneratorConfig("acl", 1000, 1)), "<generated acl 1000 seed 1>")
    return load_rules(path)


def _build(rules: RuleSet, algo: str, args: argparse.Namespace) -> Tree:
    """Build with the subcommand's binth, time limit and node budget; passing either is the user's
    input error (the rules ask for a tree this algorithm cannot build within the limits given)."""
    source = args.rules or "<generated rules>"
    try:
        return build(rules, algo, args.binth, args.time_limit, args.max_nodes)
    except BuildTimeout as exc:
        raise InputError(f"{source}: {exc}") from None
    except NodeBudgetExceeded as exc:
        raise InputError(f"{source}: {exc}; raise --max-nodes or try another --algo") from None


def _table(rows: list[dict]) -> str:
    cols = [c for c in COLUMNS if any(c in r for r in rows)] + (["error"] if any("error" in r for r in rows) else [])
    cells = [[str(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def cmd_gen(args: argparse.Namespace) -> None:
    from sysml_datasets.classbench import GeneratorConfig, generate_text
    # --kind beside --params used to be accepted and silently ignored (the file's mix is drawn)
    if args.params is not None and args.kind is not None:
        raise InputError("--kind and --params exclude each other: --params FILE draws that file's own mix")
    try:  # a bad parameter file or a size it cannot fill: one line naming the file
        text = generate_text(GeneratorConfig(args.kind or "acl", args.size, args.seed, args.params, args.smoothness,
                                             args.address_scope, args.port_scope, not args.no_scale_branching))
    except ValueError as exc:
        raise InputError(str(exc)) from None
    sys.stdout.write(text)


def cmd_packets(args: argparse.Namespace) -> None:
    rules = _rules(args.rules)
    pk = random_packets(rules, args.count, seed=args.seed)
    np.savetxt(sys.stdout, pk, fmt="%d", delimiter="\t")


def cmd_build(args: argparse.Namespace) -> None:
    if args.out is not None:
        _check_out(args.out, args.rules)
    tree = _build(_rules(args.rules), args.algo, args)
    if args.out:
        try:
            save(tree, args.out)
        except OSError as exc:  # a full disk, say: the earlier file at --out is left as it was
            raise InputError(f"--out {args.out}: cannot write ({exc.strerror or exc}); nothing written") from None
    m = tree.metrics()
    print(json.dumps(m) if args.json else _table([m]))


def cmd_classify(args: argparse.Namespace) -> None:
    tree = load(args.tree)  # RuleFormatError (TreeFormatError included) for a bad or missing file
    packets = load_packets(args.packets)
    t0 = time.perf_counter()
    out = classify_flat(flatten(tree), packets)
    secs = time.perf_counter() - t0
    print(f"classified {len(packets)} packets in {secs:.3f} s", file=sys.stderr)
    if args.json:
        json.dump(out.tolist(), sys.stdout)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("\n".join(map(str, out.tolist())) + ("\n" if len(out) else ""))


def cmd_compare(args: argparse.Namespace) -> None:
    rules = _rules(args.rules)
    rows = []
    for algo in BUILDERS:
        try:
            rows.append(build(rules, algo, args.binth, args.time_limit, args.max_nodes).metrics())
        except BuildTimeout:  # the table says so and the other builders still run
            rows.append({"algo": algo, "rules": len(rules), "error": f"timeout after {args.time_limit:g} s"})
        except NodeBudgetExceeded:
            rows.append({"algo": algo, "rules": len(rules), "error": f"over {args.max_nodes} nodes"})
    print(json.dumps(rows) if args.json else _table(rows))


_EXIT_CODES = ("exit codes: 0 done; 1 internal error or interrupted (Ctrl-C, SIGTERM); 2 bad input (one "
               "line on stderr: file:line: what is wrong, or the option and its problem)")


def parser() -> argparse.ArgumentParser:
    from sysml_datasets.classbench import KINDS
    # Run as the console script, say so; run as `python -m neurocuts`, argv[0] is this file.
    prog = "neurocuts" if os.path.basename(sys.argv[0]) == "neurocuts" else "python -m neurocuts"
    p = OneLineParser(prog=prog, epilog=_EXIT_CODES, description="Generate ClassBench-style rule "
                      "sets and packets, build packet classification trees, classify, compare.")
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen", help="write a generated ClassBench-style rule set to stdout", epilog=_EXIT_CODES)
    g.add_argument("--kind", choices=KINDS, help="family: acl, fw or ipc (default acl; not with --params)")
    g.add_argument("--size", type=int_in(1, MAX_RULES), default=1000,
                   help=f"number of rules, 1..{MAX_RULES} (default 1000)")
    g.add_argument("--seed", type=int_in(0), default=1, help="random seed, >= 0 (default 1)")
    g.add_argument("--params", metavar="FILE",
                   help="a ClassBench parameter (seed) file, e.g. acl1_seed: draw its protocol, port class, "
                        "prefix-length and address-tree statistics instead of --kind's (default none)")
    g.add_argument("--smoothness", type=int_in(0, 64), default=0,
                   help="db_generator's smoothing r, 0..64: spread each prefix-length pair binomially over "
                        "the pairs within distance r (default 0: as given)")
    g.add_argument("--address-scope", type=float_in(-1, 1), default=0.0,
                   help="-1..1: > 0 favours shorter (wider) prefix pairs, < 0 longer ones (default 0)")
    g.add_argument("--port-scope", type=float_in(-1, 1), default=0.0,
                   help="-1..1: > 0 favours wider port class pairs, < 0 narrower ones (default 0)")
    g.add_argument("--no-scale-branching", action="store_true",
                   help="keep the address trees' branching as given past the parameter file's -scale "
                        "(default: flatten their top levels in proportion, db_generator's -b)")
    g.add_argument("--json", action="store_true", help="accepted for uniformity; the output is rule text")
    g.set_defaults(fn=cmd_gen)
    k = sub.add_parser("packets", help="write test packets for a rule file (half near rules, corners included)", epilog=_EXIT_CODES)
    k.add_argument("rules", help="ClassBench rule file")
    k.add_argument("--count", type=int_in(1, MAX_PACKETS), default=100000,
                   help=f"number of packets, 1..{MAX_PACKETS} (default 100000)")
    k.add_argument("--seed", type=int_in(0), default=1, help="random seed, >= 0 (default 1)")
    k.add_argument("--json", action="store_true", help="accepted for uniformity; the output is packet text")
    k.set_defaults(fn=cmd_packets)
    b = sub.add_parser("build", help="build a tree, print its metrics and optionally save it", epilog=_EXIT_CODES)
    b.add_argument("rules", help="ClassBench rule file")
    b.add_argument("--algo", default="cutsplit", choices=sorted(BUILDERS), help="builder (default cutsplit)")
    b.add_argument("--binth", type=int_in(1), default=16, help="leaf threshold, >= 1 (default 16)")
    b.add_argument("--out", help="write the tree as JSON here (not over the rules file)")
    b.add_argument("--time-limit", type=positive_seconds, default=None,
                   help="give up when the build runs longer than this many seconds (reading the rules "
                        "not counted), > 0; exit 2, an earlier --out file kept (default none)")
    b.add_argument("--max-nodes", type=int_in(1), default=MAX_NODES,
                   help="give up when the tree needs more nodes than this, >= 1 (about 1 KB of memory each "
                        f"while building); exit 2, an earlier --out file kept (default {MAX_NODES})")
    b.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    b.set_defaults(fn=cmd_build)
    c = sub.add_parser("classify", help="print the matching rule index (or -1) of each packet", epilog=_EXIT_CODES)
    c.add_argument("tree", help="tree JSON written by build --out")
    c.add_argument("packets", help="packet file: src dst sport dport proto per line")
    c.add_argument("--json", action="store_true", help="print one JSON array instead of one index per line")
    c.set_defaults(fn=cmd_classify)
    m = sub.add_parser("compare", help="build with every classic algorithm and print the table", epilog=_EXIT_CODES)
    m.add_argument("rules", nargs="?", help="ClassBench rule file (default: generated acl, 1000 rules, seed 1)")
    m.add_argument("--binth", type=int_in(1), default=16, help="leaf threshold, >= 1 (default 16)")
    m.add_argument("--time-limit", type=positive_seconds, default=600.0,
                   help="per-builder build limit in seconds, > 0; a builder past it shows as a timeout (default 600)")
    m.add_argument("--max-nodes", type=int_in(1), default=MAX_NODES,
                   help=f"per-builder node budget, >= 1; a builder past it shows as an error (default {MAX_NODES})")
    m.add_argument("--json", action="store_true", help="print a JSON list of metric objects")
    m.set_defaults(fn=cmd_compare)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code. SIGTERM (``kill``, ``timeout``) ends a command as Ctrl-C
    does (exit 1, ``neurocuts: terminated``; an ``--out`` file is written whole or not at all)."""
    return run_main("neurocuts", lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    try:
        _check_file_names(args)
        args.fn(args)
        sys.stdout.flush()  # a write error of buffered output is reported here, not at exit
    except (RuleFormatError, InputError) as exc:
        print(f"neurocuts: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:
        if not is_output_failure(exc):
            print(f"neurocuts: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        # The files neurocuts writes itself (--out) report their errors as bad input: this is
        # stdout, whose reader went away (``| head``: quiet) or which is full (one line).
        return output_failed("neurocuts", exc)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: one line, as the other CLIs say it
        print(interrupt_line("neurocuts", exc), file=sys.stderr)
        return 1
    except MemoryError:
        print("neurocuts: internal error: out of memory", file=sys.stderr)
        return 1
    except Exception as exc:  # an internal error: one line, exit 1
        print(f"neurocuts: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
