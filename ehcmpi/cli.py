"""``ehcmpi`` command line: serve, db, keys, import, patient, match, review, audit.

Every operator mistake (bad config, unreachable database, missing key file, unknown patient)
ends with one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import codecs
import dataclasses
import datetime as dt
import json
import os
import pathlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ehcmpi.bootstrap import (
    Container,
    build,
    connect_database,
    downgrade_database,
    open_database,
)
from ehcmpi.cli_cards import add_card_commands
from ehcmpi.cli_keys import add_keys
from ehcmpi.cli_match import add_commands
from ehcmpi.cli_simulate import add_simulate
from ehcmpi.core.errors import DomainError
from ehcmpi.core.model import Actor, FuzzyQuery, RegistrationMode
from ehcmpi.crypto.errors import KeyFileError
from ehcmpi.settings import ConfigError, Settings, load_settings
from ehcmpi.storage import migrate

EXIT_ERROR = 2
CLI_ADMIN = Actor("cli", frozenset({"admin"}), "cli")


def _json_default(value: object) -> object:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, frozenset | set | tuple):
        return list(value)
    raise TypeError(type(value).__name__)


def _print(value: Any) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    print(json.dumps(value, ensure_ascii=False, indent=2, default=_json_default))


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        args.config,
        database_url=args.database_url,
        http_port=getattr(args, "http_port", None),
        mllp_port=getattr(args, "mllp_port", None),
    )


def _with_container(action: Callable[[Container, argparse.Namespace], None]) -> Callable[..., None]:
    def run(args: argparse.Namespace) -> None:
        container = build(_settings(args))
        try:
            action(container, args)
        finally:
            container.close()

    return run


# --- commands ------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> None:
    from ehcmpi.server import serve

    serve(_settings(args))


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    engine = open_database(_settings(args), migrate_now=True)
    print(f"数据库已是最新结构 (schema at revision) {migrate.current_revision(engine)}")
    engine.dispose()


def cmd_db_downgrade(args: argparse.Namespace) -> None:
    reached = downgrade_database(_settings(args), args.revision)
    print(f"数据库结构已回退到 (schema rolled back to) {reached}")


def cmd_db_current(args: argparse.Namespace) -> None:
    engine = connect_database(_settings(args))
    print(f"current={migrate.current_revision(engine)} head={migrate.head_revision()}")
    engine.dispose()


def _import_source(args: argparse.Namespace) -> pathlib.Path:
    """The file to import, checked before any row is read (one line, never a traceback)."""
    try:
        codecs.lookup(args.encoding)
    except LookupError:
        raise ConfigError(f"未知的字符编码 (unknown encoding): {args.encoding}") from None
    path = pathlib.Path(args.file)
    if not path.is_file():
        raise ConfigError(f"导入文件不存在 (import file not found): {path}")
    return path


def cmd_import(container: Container, args: argparse.Namespace) -> None:
    path = _import_source(args)
    try:
        _import_rows(container, path, args)
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"文件不是 {args.encoding} 编码，HIS 导出文件常用 --encoding gb18030 (file is not "
            f"{args.encoding}; try --encoding gb18030): {path}: {exc.reason} at byte {exc.start}"
        ) from None
    except OSError as exc:
        raise ConfigError(f"无法读取导入文件 (cannot read import file) {path}: {exc}") from None


def _import_rows(container: Container, path: pathlib.Path, args: argparse.Namespace) -> None:
    from ehcmpi.batch_import import read_import

    mode = RegistrationMode(args.mode)
    counts = {"created": 0, "existing": 0, "failed": 0, "without_ehc_id": 0}
    for row in read_import(path, encoding=args.encoding, mode=mode):
        error = row.error
        if row.request is not None:
            try:
                result = container.registration.register(row.request, CLI_ADMIN)
                counts["created" if result.created else "existing"] += 1
                counts["without_ehc_id"] += result.patient.ehc_id is None
                continue
            except DomainError as exc:
                error = exc.message
        counts["failed"] += 1
        print(f"第 {row.line} 行失败 (line {row.line} failed): {error}", file=sys.stderr)
    _print(counts)


def cmd_patient_show(container: Container, args: argparse.Namespace) -> None:
    _print(container.query.get(args.mpi_id, CLI_ADMIN))


def cmd_patient_find(container: Container, args: argparse.Namespace) -> None:
    system, sep, value = args.identifier.partition("|")
    if not sep:
        raise ConfigError("标识须为 system|value 格式 (identifier must be system|value)")
    patient = container.query.find(system, value, CLI_ADMIN)
    if patient is None:
        raise DomainError(f"未找到患者 (no patient with identifier) {args.identifier}")
    _print(patient)


def cmd_patient_search(container: Container, args: argparse.Namespace) -> None:
    birth = dt.date.fromisoformat(args.birth_date) if args.birth_date else None
    query = FuzzyQuery(name=args.name, birth_date=birth, phone=args.phone, limit=args.limit)
    _print([dataclasses.asdict(p) for p in container.query.search(query, CLI_ADMIN)])


def cmd_patient_cancel(container: Container, args: argparse.Namespace) -> None:
    results = container.maintenance.cancel_batch(args.mpi_ids, args.reason, CLI_ADMIN)
    failed = 0
    for mpi_id, result in zip(args.mpi_ids, results, strict=True):
        if isinstance(result, DomainError):
            failed += 1
            print(f"{mpi_id}: {result.message}", file=sys.stderr)
        else:
            print(f"{mpi_id}: 已注销 (cancelled), version {result.version}")
    if failed:
        raise SystemExit(EXIT_ERROR)


def cmd_patient_restore(container: Container, args: argparse.Namespace) -> None:
    patient = container.maintenance.restore(args.mpi_id, CLI_ADMIN)
    print(f"{patient.mpi_id}: 已恢复 (restored), version {patient.version}")


def cmd_patient_history(container: Container, args: argparse.Namespace) -> None:
    for version in container.query.history(args.mpi_id, CLI_ADMIN):
        print(f"v{version.version} {version.at.isoformat()} {version.action} by {version.actor}")


def cmd_audit(container: Container, args: argparse.Namespace) -> None:
    with container.uow() as uow:
        for e in uow.audit.recent(args.limit, args.action):
            print(
                f"{e.at.isoformat()} {e.actor} {e.channel} {e.action} {e.outcome} "
                f"{e.duration_ms:.1f}ms {e.target or '-'} {e.detail or ''}".rstrip()
            )


# --- parser --------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML configuration file (also EHCMPI_CONFIG)")
    parser.add_argument("--database-url", help="database URL (also EHCMPI_DATABASE_URL)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ehcmpi", description="ehcmpi 患者主索引服务")
    commands = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[..., None], help_text: str, sub: Any = commands) -> Any:
        p = sub.add_parser(name, help=help_text)
        _common(p)
        p.set_defaults(func=func)
        return p

    serve = add("serve", cmd_serve, "start FHIR (HTTP) and MLLP servers")
    serve.add_argument("--http-port", type=int)
    serve.add_argument("--mllp-port", type=int)

    db = commands.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    add("upgrade", cmd_db_upgrade, "apply pending migrations", db)
    add("current", cmd_db_current, "show the schema revision", db)
    down = add("downgrade", cmd_db_downgrade, "roll the schema back (before an older release)", db)
    down.add_argument("revision", help="the older release's head revision, e.g. 0011")

    add_keys(commands, add, _settings)

    imp = add("import", _with_container(cmd_import), "batch registration from CSV / JSON Lines")
    imp.add_argument("file")
    imp.add_argument("--encoding", default="utf-8-sig", help="e.g. gb18030 for HIS exports")
    imp.add_argument("--mode", choices=[m.value for m in RegistrationMode], default="feed")

    patient = commands.add_parser("patient", help="patients").add_subparsers(
        dest="patient", required=True
    )
    add("show", _with_container(cmd_patient_show), "one patient", patient).add_argument("mpi_id")
    add("find", _with_container(cmd_patient_find), "exact lookup", patient).add_argument(
        "identifier", help="system|value"
    )
    search = add("search", _with_container(cmd_patient_search), "fuzzy query", patient)
    search.add_argument("--name")
    search.add_argument("--birth-date")
    search.add_argument("--phone")
    search.add_argument("--limit", type=int, default=20)
    cancel = add("cancel", _with_container(cmd_patient_cancel), "cancel indexes", patient)
    cancel.add_argument("mpi_ids", nargs="+")
    cancel.add_argument("--reason", required=True)
    add(
        "restore", _with_container(cmd_patient_restore), "undo a cancellation", patient
    ).add_argument("mpi_id")
    add("history", _with_container(cmd_patient_history), "version history", patient).add_argument(
        "mpi_id"
    )

    add_commands(commands, add, _with_container, patient, CLI_ADMIN)
    add_card_commands(commands, add, _with_container, CLI_ADMIN)
    add_simulate(commands)

    audit = add("audit", _with_container(cmd_audit), "recent service calls (调用审计)")
    audit.add_argument("--limit", type=int, default=50)
    audit.add_argument("--action")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ConfigError, KeyFileError, DomainError) as exc:
        print(f"ehcmpi: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_ERROR) from None
    except ValueError as exc:
        print(f"ehcmpi: 参数无效 (invalid argument): {exc}", file=sys.stderr)
        raise SystemExit(EXIT_ERROR) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0) from None


if __name__ == "__main__":
    main()
