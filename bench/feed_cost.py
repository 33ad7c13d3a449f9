"""What one ``ADT^A04`` feed costs the server's Python, in process: CPU time or instructions.

The HL7 dispatcher of ``ehcmpi serve`` (``hl7v2.app.dispatcher``: message audit, grouped
ITI-8 feed handler, registration, linking, PostgreSQL through ``storage.wire``) answers the
benchmark's feeds (``mllp_bench.feed_message``) in groups of ``--group`` messages, as a
worker's request thread does; no MLLP, no event loop.  A new PostgreSQL database is created
and dropped, as in ``mllp_bench.py``.

Throughput on a shared 2-core VM moves by ±10 % from one minute to the next, which hides a
change worth 2-5 %.  ``--instructions`` runs this script twice under
``valgrind --tool=callgrind`` (``--groups`` and ``--groups`` + 100 groups) and prints the
difference per message: start-up cancels out, and the count repeats within ~0.5 % whatever
else the machine does.  It counts this process only (not PostgreSQL, not the kernel).

    .venv/bin/python bench/feed_cost.py                    # CPU ms per feed, groups of 2
    .venv/bin/python bench/feed_cost.py --instructions     # instructions per feed (~2 min)
"""

from __future__ import annotations

import argparse
import time

import callgrind
import mllp_bench
import stack

from ehcmpi.bootstrap import build
from ehcmpi.hl7v2 import iti8
from ehcmpi.hl7v2.app import dispatcher
from ehcmpi.hl7v2.codec import decode
from ehcmpi.settings import load_settings

FIRST = 1000  # patient index of the first feed


def measure(group: int, groups: int, pg: str) -> float:
    """CPU seconds of this process per feed, ``groups`` groups of ``group`` new patients."""
    with stack.scratch_dir() as root, stack.backend("postgresql", root, pg) as backend:
        config = backend.config(stack.free_port(), extra=mllp_bench.DOMAINS)
        container = build(load_settings(str(config)))
        container.start()
        try:
            answer = dispatcher(container)
            each = iti8.together(container.pix, container.domains)[("ADT", "A04")]
            count = group * groups
            raws = [mllp_bench.feed_message(i)[1:-2] for i in range(FIRST, FIRST + count)]
            began = time.process_time()
            for g in range(groups):
                replies = answer.answer_each(
                    each, [decode(r) for r in raws[g * group : (g + 1) * group]]
                )
                if not all(b"MSA|AA|" in reply for reply in replies):
                    raise SystemExit(f"a feed was not accepted: {replies}")
            return (time.process_time() - began) / count
        finally:
            container.close()


def instructions(args: argparse.Namespace) -> int:
    """Instructions per feed: two runs under callgrind, differenced."""
    return callgrind.per_unit(
        __file__,
        lambda groups: ["--group", str(args.group), "--groups", str(groups), "--pg", args.pg],
        args.groups, 100, args.group,
    )  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--group", type=int, default=2, help="feeds answered together (2)")
    p.add_argument(
        "--groups", type=int, default=0,
        help="groups measured (1,000 for CPU time; with --instructions 25, then 125)",
    )  # fmt: skip
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--instructions", action="store_true", help="count instructions (valgrind)")
    args = p.parse_args()
    args.groups = args.groups or (25 if args.instructions else 1000)
    if args.instructions:
        print(f"{instructions(args):,} instructions per feed (groups of {args.group})")
    else:
        cpu = measure(args.group, args.groups, args.pg)
        print(f"{cpu * 1000:.3f} ms CPU per feed (groups of {args.group}, {args.groups} groups)")


if __name__ == "__main__":
    main()
