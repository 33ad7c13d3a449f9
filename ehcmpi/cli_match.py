"""``ehcmpi match | review`` and ``ehcmpi patient merge | split | links`` (guideline §4.1.1).

Matching, the review queue, merge and split from the command line: what a data-quality
officer or a cron job on the server does without the console.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import pathlib
from collections.abc import Callable
from typing import Any

from ehcmpi.bootstrap import Container
from ehcmpi.core.jobs import AUTO_MERGE, load_active
from ehcmpi.core.links import LinkState, MatchDecision
from ehcmpi.core.matching.convert import golden_match_record
from ehcmpi.core.matching.rules import dump_rules
from ehcmpi.core.matching.scoring import MatchResult
from ehcmpi.core.matching.training import train
from ehcmpi.core.model import Actor, SourceIdentifier
from ehcmpi.settings import ConfigError

Add = Callable[..., Any]
Wrap = Callable[[Callable[[Container, argparse.Namespace], None]], Callable[..., None]]


def cmd_match_run(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    run = container.jobs.run(
        AUTO_MERGE, actor, reevaluate=not args.no_reevaluate, workers=os.cpu_count() or 1
    )
    if run is None:
        raise ConfigError("任务正在其他进程运行 (the job is running in another process)")
    print(
        f"{run.status}: examined {run.examined}, merged {run.merged}, queued {run.queued}"
        + (f" ({run.error})" if run.error else "")
    )


MIN_TRAINING_RECORDS = 1000


def cmd_match_train(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    records = [golden_match_record(p) for p in load_active(container.uow)]
    if len(records) < MIN_TRAINING_RECORDS:
        raise ConfigError(
            f"训练至少需要 {MIN_TRAINING_RECORDS} 条患者记录，当前 {len(records)} 条 "
            f"(training needs at least {MIN_TRAINING_RECORDS} patients; "
            f"there are {len(records)})"
        )
    template = container.linker.matcher.rules
    rules, report = train(records, template, version=args.version)
    rules = dataclasses.replace(
        rules,
        description=f"Trained by `ehcmpi match train` on {len(records):,} records at "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, from rules {template.version}",
    )
    pathlib.Path(args.output).write_text(dump_rules(rules), encoding="utf-8")
    print(
        f"已写入规则 (rules written) {args.output}: {report.records} records, "
        f"{report.candidate_pairs} candidate pairs, prior {report.prior:.4f}, "
        f"{report.iterations} EM iterations"
    )


def _show_result(title: str, result: MatchResult) -> None:
    print(
        f"{title}: {result.outcome} weight {result.weight:.2f} "
        f"(p={result.probability:.4f}, rules {result.rules_version})"
    )
    for f in result.fields:
        print(f"  {f.name:<12} {f.level or '(missing)':<12} {f.weight:+.2f}")


def _show_decision(decision: MatchDecision) -> None:
    print(
        f"{decision.at.isoformat()} {decision.origin} {decision.outcome} by {decision.actor} "
        f"weight {decision.weight:.2f} rules {decision.rules_version}: {decision.reason}"
    )


def cmd_match_explain(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    decisions, now = container.review.explain(args.first, args.second, actor)
    for decision in decisions:
        _show_decision(decision)
    if not decisions:
        print("没有记录的决定 (no stored decision about these two)")
    _show_result("当前规则下 (under the current rules)", now)


def cmd_match_schedule(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    schedule = container.jobs.schedule(AUTO_MERGE)
    if args.every is not None or args.enable or args.disable:
        enabled = schedule.enabled if not (args.enable or args.disable) else bool(args.enable)
        every = args.every if args.every is not None else schedule.interval_seconds
        schedule = container.jobs.set_schedule(AUTO_MERGE, every, enabled, actor)
    nxt = schedule.next_run_at.isoformat() if schedule.next_run_at else "-"
    state = "enabled" if schedule.enabled else "disabled"
    print(f"{schedule.name}: every {schedule.interval_seconds}s, {state}, next {nxt}")
    for run in container.jobs.runs(AUTO_MERGE, args.runs):
        print(
            f"  {run.started_at.isoformat()} {run.status} examined {run.examined} "
            f"merged {run.merged} queued {run.queued} on {run.holder}"
        )


def cmd_review_list(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    total, items = container.review.queue(actor, args.limit, args.offset)
    print(f"待审核 (open tasks): {total}")
    for item in items:
        a, b = item.record.demographics, item.candidate.demographics
        print(
            f"{item.task.id} weight {item.task.weight:.2f}  {item.record.mpi_id} {a.name} "
            f"{a.birth_date}  <->  {item.candidate.mpi_id} {b.name} {b.birth_date}"
        )


def cmd_review_show(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    item = container.review.get(args.task, actor)
    print(f"task {item.task.id} {item.task.status} weight {item.task.weight:.2f}")
    for label, patient in (("record", item.record), ("candidate", item.candidate)):
        d = patient.demographics
        docs = ", ".join(f"{x.doc_type}:{x.number}" for x in patient.documents) or "-"
        print(
            f"  {label:<9} {patient.mpi_id} {d.name} {d.gender} {d.birth_date} "
            f"phones {','.join(d.phones) or '-'} docs {docs}"
        )
    if item.decision is not None:
        _show_decision(item.decision)
        for f in item.decision.fields:
            print(f"  {f.name:<12} {f.level or '(missing)':<12} {f.weight:+.2f}")


def cmd_review_decide(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    resolution = LinkState.MATCH if args.decision == "match" else LinkState.NO_MATCH
    kept = container.review.decide(args.task, resolution, actor, reason=args.reason or "")
    print(f"已处理 (decided) {args.task}: {resolution} → {kept.mpi_id}")


def cmd_patient_merge(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    survivor = container.merges.merge(args.survivor, args.retired, actor, reason=args.reason)
    print(f"已合并 (merged) {args.retired} → {survivor.mpi_id}, version {survivor.version}")


def cmd_patient_split(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    system, sep, value = args.source.partition("|")
    if not sep or not system or not value:
        raise ConfigError("来源标识须为 system|value 格式 (source must be system|value)")
    split = container.merges.split(
        args.mpi_id, SourceIdentifier(system, value), actor, reason=args.reason
    )
    print(f"已拆分 (split) {args.source} → {split.mpi_id}")


def cmd_patient_links(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    with container.uow() as uow:
        for s in uow.links.sources_of(args.mpi_id.upper()):
            print(
                f"{s.identifier.system}|{s.identifier.value} {s.state} {s.origin} "
                f"{s.demographics.name or ''}".rstrip()
            )
            decision = uow.links.get_decision(s.decision_id) if s.decision_id else None
            if decision is not None:
                print(f"    why: {decision.reason} (rules {decision.rules_version})")
        for e in uow.links.events(mpi_id=args.mpi_id.upper()):
            print(
                f"  {e.at.isoformat()} {e.kind} {e.source.system}|{e.source.value} "
                f"{e.from_mpi_id or '-'} → {e.to_mpi_id} {e.origin} by {e.actor} {e.reason}"
            )


def add_commands(commands: Any, add: Add, wrap: Wrap, patient: Any, actor: Actor) -> None:
    def bound(func: Callable[[Container, argparse.Namespace, Actor], None]) -> Callable[..., None]:
        return wrap(lambda container, args: func(container, args, actor))

    match = commands.add_parser("match", help="record matching (匹配)").add_subparsers(
        dest="match", required=True
    )
    run = add("run", bound(cmd_match_run), "run the auto-merge job now", match)
    run.add_argument("--no-reevaluate", action="store_true", help="skip re-scoring AUTO links")
    tr = add("train", bound(cmd_match_train), "estimate m/u from the stored records", match)
    tr.add_argument("--output", required=True, help="rule file to write (TOML)")
    tr.add_argument("--version", default="site-trained", help="version label of the rules")
    ex = add("explain", bound(cmd_match_explain), "why were two records (not) linked", match)
    ex.add_argument("first")
    ex.add_argument("second")
    sc = add("schedule", bound(cmd_match_schedule), "show or edit the job schedule", match)
    sc.add_argument("--every", type=int, help="interval in seconds")
    sc.add_argument("--enable", action="store_true")
    sc.add_argument("--disable", action="store_true")
    sc.add_argument("--runs", type=int, default=5, help="recent runs to show")

    review = commands.add_parser("review", help="review queue (人工审核)").add_subparsers(
        dest="review", required=True
    )
    ls = add("list", bound(cmd_review_list), "open tasks, highest weight first", review)
    ls.add_argument("--limit", type=int, default=20)
    ls.add_argument("--offset", type=int, default=0)
    add("show", bound(cmd_review_show), "one task side by side", review).add_argument("task")
    de = add("decide", bound(cmd_review_decide), "decide a task", review)
    de.add_argument("task")
    de.add_argument("decision", choices=["match", "no-match"])
    de.add_argument("--reason")

    mg = add("merge", bound(cmd_patient_merge), "merge RETIRED into SURVIVOR", patient)
    mg.add_argument("survivor")
    mg.add_argument("retired")
    mg.add_argument("--reason", default="")
    sp = add("split", bound(cmd_patient_split), "split a source record out", patient)
    sp.add_argument("mpi_id")
    sp.add_argument("source", help="system|value of the source record")
    sp.add_argument("--reason", default="")
    add("links", bound(cmd_patient_links), "source records and link history", patient).add_argument(
        "mpi_id"
    )
