"""Instructions a piece of work costs, counted under ``valgrind --tool=callgrind``.

Throughput and CPU time on a shared 2-core VM move by half from one day to the next; an
instruction count does not move with whatever else the machine does.  A script is run twice
under callgrind, doing ``units`` and ``units + more`` units of work; the difference of the two
totals, divided by the extra work, leaves start-up out.  It counts that process only (not
PostgreSQL, not the kernel).  Used by ``feed_cost.py`` and ``register_cost.py``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable


def per_unit(
    script: str, args: Callable[[int], list[str]], units: int, more: int, each: int
) -> int:
    """Instructions per item: ``script`` run with ``args(units)`` then ``args(units + more)``,
    each unit being ``each`` items (a group of feeds, a round of registrations)."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    totals = []
    for n in (units, units + more):
        with tempfile.NamedTemporaryFile(suffix=".callgrind") as out:
            command = [
                "valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}",
                sys.executable, script, *args(n),
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=True)
        found = re.search(r"Collected : (\d+)", done.stderr)
        if found is None:
            raise SystemExit(f"no instruction count from callgrind:\n{done.stderr[-2000:]}")
        totals.append(int(found.group(1)))
    return (totals[1] - totals[0]) // (more * each)
