"""``ehcmpi card | terminal | app | qr``: the electronic health card service from the command
line (guideline §4.2: §4.2.1 识读终端 / 客户端应用软件管理, §4.2.2 账户管理, §4.2.3 二维码管理).

What the card office and hospital IT do without the console: read, suspend, resume, cancel
and re-issue cards; register and disable terminals and client applications; make and verify
a code (PNG or SVG on request); query and summarise the QR records.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import pathlib
from collections.abc import Callable
from typing import Any

from ehcmpi.bootstrap import Container
from ehcmpi.core.card_types import AccountAction, DeviceStatus, QrEvent, RecordQuery, SummaryKey
from ehcmpi.core.errors import NotFoundError
from ehcmpi.core.model import Actor, EhcCardKind
from ehcmpi.core.qr import CARE_STEPS
from ehcmpi.settings import ConfigError

Add = Callable[..., Any]
Wrap = Callable[[Callable[[Container, argparse.Namespace], None]], Callable[..., None]]
Command = Callable[[Container, argparse.Namespace, Actor], None]
CST = dt.timezone(dt.timedelta(hours=8))


def _show(value: Any) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _when(text: str | None) -> dt.datetime | None:
    """A date (midnight China Standard Time) or a dateTime (no zone: China Standard Time)."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"时间格式应为 2026-11-27 或 2026-11-27T08:00 (bad time): {text}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=CST)


# --- card ----------------------------------------------------------------------------------


def cmd_card_show(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    cards = container.cards
    try:
        accounts = [cards.account(args.id)]
    except NotFoundError:
        accounts = cards.accounts_of(args.id)  # then it names a patient, or nothing (404)
    _show(
        [
            {
                **dataclasses.asdict(a),
                "history": [dataclasses.asdict(e) for e in cards.history(a.ehc_id)],
            }
            for a in accounts
        ]
    )


def cmd_card_change(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    kind = EhcCardKind(args.kind) if getattr(args, "kind", None) else None
    account = container.cards.change(
        args.ehc_id, AccountAction(args.action), args.reason, actor, kind=kind
    )
    print(f"{account.ehc_id}: {account.status.value} ({account.kind.value})")


def cmd_card_temporary(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    account = container.cards.issue_temporary(args.mpi_id, args.reason, actor)
    print(f"{account.ehc_id}: {account.status.value} ({account.kind.value})")


# --- terminal and app ----------------------------------------------------------------------


def cmd_terminal_add(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    terminal = container.terminals.register_terminal(
        org_code=args.org, dept_code=args.dept, serial=args.serial, name=args.name,
        type=args.type, location=args.location, actor=actor,
    )  # fmt: skip
    print(f"{terminal.code}: 已登记 (registered) {terminal.name}")


def cmd_terminal_list(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    status = DeviceStatus(args.status) if args.status else None
    for t in container.terminals.terminals(status, args.org):
        print(f"{t.code}\t{t.status.value}\t{t.type.value}\t{t.name}\t{t.location or '-'}")


def cmd_terminal_set(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    status = {"enable": DeviceStatus.ACTIVE, "disable": DeviceStatus.DISABLED}.get(args.action)
    terminal = container.terminals.update_terminal(
        args.code, actor=actor, status=status, name=getattr(args, "name", None),
        type=getattr(args, "type", None), location=getattr(args, "location", None),
    )  # fmt: skip
    print(f"{terminal.code}: {terminal.status.value} {terminal.name}")


def cmd_app_add(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    app, secret = container.terminals.register_app(args.app_id, args.name, actor)
    print(f"{app.app_id}: 已登记 (registered); 密钥仅显示一次 (secret, shown once): {secret}")


def cmd_app_list(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    for app in container.terminals.apps():
        print(f"{app.app_id}\t{app.status.value}\t{app.name}")


def cmd_app_set(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    status = {"enable": DeviceStatus.ACTIVE, "disable": DeviceStatus.DISABLED}.get(args.action)
    app, secret = container.terminals.update_app(
        args.app_id, actor=actor, status=status, new_secret=args.action == "rotate-secret"
    )
    print(
        f"{app.app_id}: {app.status.value}" + (f"; 新密钥 (new secret): {secret}" if secret else "")
    )


# --- qr ------------------------------------------------------------------------------------


def cmd_qr_generate(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    image = pathlib.Path(args.image) if args.image else None
    kind = image.suffix.lower().lstrip(".") if image else None
    if image is not None and kind not in ("png", "svg"):
        raise ConfigError(f"图片文件须以 .png 或 .svg 结尾 (must end in .png or .svg): {image}")
    ehc = args.id if args.ehc else None
    code = container.qr.generate(
        mpi_id=None if ehc else args.id, ehc_id=ehc, dynamic=not args.static,
        care_step=args.care_step, channel=args.channel, actor=actor,
    )  # fmt: skip
    print(code.text)
    if image is not None and kind is not None:
        from ehcmpi.fhir.ehc_qr import render  # segno, only when an image is asked for

        image.write_bytes(render(code.text, kind))


def cmd_qr_verify(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    result = container.qr.verify(
        args.qr, terminal=args.terminal, care_step=args.care_step, channel=args.channel,
        actor=actor,
    )  # fmt: skip
    _show(result)
    if not result.ok:
        raise SystemExit(1)


def cmd_qr_records(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    query = RecordQuery(
        since=_when(args.since), until=_when(args.until),
        event=QrEvent(args.event) if args.event else None, terminal=args.terminal,
        ehc_id=args.ehc_id, outcome=args.outcome, failures_only=args.failures, limit=args.limit,
    )  # fmt: skip
    for r in container.qr.query(query):
        print(
            f"{r.at.astimezone(CST):%Y-%m-%d %H:%M:%S} {r.event.value:<8} {r.outcome:<17} "
            f"{r.terminal or r.app or '-'} {r.care_step or '-'} {r.channel} "
            f"{(r.ehc_id or '-')[:16]} {r.mpi_id or '-'}"
        )


def cmd_qr_stats(container: Container, args: argparse.Namespace, actor: Actor) -> None:
    until = _when(args.until) or dt.datetime.now(dt.UTC)
    since = _when(args.since) or until - dt.timedelta(days=7)
    rows = container.qr.summary(since, until, SummaryKey(args.by))
    print(f"{args.by:<24} {'generated':>9} {'verified':>9} {'ok':>9} {'failed':>9}")
    for r in rows:
        print(f"{r.key:<24} {r.generated:>9} {r.verified:>9} {r.verified_ok:>9} {r.failed:>9}")


# --- parser --------------------------------------------------------------------------------


def _group(commands: Any, name: str, help_text: str) -> Any:
    return commands.add_parser(name, help=help_text).add_subparsers(dest=name, required=True)


def add_card_commands(commands: Any, add: Add, wrap: Wrap, actor: Actor) -> None:
    def bound(func: Command) -> Callable[..., None]:
        return wrap(lambda container, args: func(container, args, actor))

    card = _group(commands, "card", "electronic health cards (电子健康卡账户)")
    show = add("show", bound(cmd_card_show), "a card, or a patient's cards, with history", card)
    show.add_argument("id", help="EHC ID or master-index ID")
    for action, text in (("suspend", "暂停"), ("resume", "恢复"), ("cancel", "注销"),
                         ("reissue", "补发")):  # fmt: skip
        p = add(action, bound(cmd_card_change), f"{text} ({action})", card)
        p.add_argument("ehc_id")
        p.add_argument("--reason", required=action != "resume")
        p.set_defaults(action=action)
        if action == "reissue":
            p.add_argument("--kind", choices=[k.value for k in EhcCardKind])
    tmp = add("issue-temporary", bound(cmd_card_temporary), "电子就诊卡 (temporary card)", card)
    tmp.add_argument("mpi_id")
    tmp.add_argument("--reason")

    terminal = _group(commands, "terminal", "reader terminals (识读终端)")
    t_add = add("add", bound(cmd_terminal_add), "register a terminal", terminal)
    t_add.add_argument("--org", required=True, help="organisation code (9 or 18 characters)")
    t_add.add_argument("--dept", required=True, help="4-digit department code")
    t_add.add_argument("--serial", default="", help="1–4 digit serial in the department")
    t_add.add_argument("--name", required=True)
    t_add.add_argument("--type", default="scanner")
    t_add.add_argument("--location")
    t_list = add("list", bound(cmd_terminal_list), "list terminals", terminal)
    t_list.add_argument("--status", choices=[s.value for s in DeviceStatus])
    t_list.add_argument("--org")
    for action in ("enable", "disable", "update"):
        p = add(action, bound(cmd_terminal_set), f"{action} a terminal", terminal)
        p.add_argument("code")
        p.set_defaults(action=action)
        if action == "update":
            p.add_argument("--name")
            p.add_argument("--type")
            p.add_argument("--location")

    app = _group(commands, "app", "client applications (客户端应用软件)")
    a_add = add("add", bound(cmd_app_add), "register an application", app)
    a_add.add_argument("app_id")
    a_add.add_argument("--name", required=True)
    add("list", bound(cmd_app_list), "list applications", app)
    for action in ("enable", "disable", "rotate-secret"):
        p = add(action, bound(cmd_app_set), f"{action} an application", app)
        p.add_argument("app_id")
        p.set_defaults(action=action)

    qr = _group(commands, "qr", "EHC QR codes (二维码)")
    gen = add("generate", bound(cmd_qr_generate), "make a patient's code", qr)
    gen.add_argument("id", help="master-index ID (or EHC ID with --ehc)")
    gen.add_argument("--ehc", action="store_true")
    gen.add_argument("--static", action="store_true", help="static code (default: dynamic)")
    gen.add_argument("--image", help="also write the code to this .png or .svg file")
    gen.add_argument("--care-step", choices=list(CARE_STEPS))
    gen.add_argument("--channel", default="cli")
    ver = add("verify", bound(cmd_qr_verify), "verify a scanned code (验码)", qr)
    ver.add_argument("qr")
    ver.add_argument("--terminal", required=True)
    ver.add_argument("--care-step", required=True, choices=list(CARE_STEPS))
    ver.add_argument("--channel", default="cli")
    rec = add("records", bound(cmd_qr_records), "generation and verification records", qr)
    for flag in ("--since", "--until", "--terminal", "--ehc-id", "--outcome"):
        rec.add_argument(flag)
    rec.add_argument("--event", choices=[e.value for e in QrEvent])
    rec.add_argument("--failures", action="store_true")
    rec.add_argument("--limit", type=int, default=50)
    st = add("stats", bound(cmd_qr_stats), "per day / terminal / outcome counts", qr)
    st.add_argument("--by", choices=[k.value for k in SummaryKey], default="day")
    st.add_argument("--since")
    st.add_argument("--until")
