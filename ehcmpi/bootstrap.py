"""The one place where configuration becomes wired objects (DESIGN.md: Cosmic Python).

``build`` checks what the server needs before it serves — the key file, a reachable database
at the current schema (migrated at start on SQLite) — and raises ``ConfigError`` with one
line when something is wrong.
"""

from __future__ import annotations

import os
import pathlib
import socket
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.core.audit import AuditLog
from ehcmpi.core.domains import DomainRegistry
from ehcmpi.core.jobs import JobScheduler, JobService
from ehcmpi.core.linking import Linker
from ehcmpi.core.maintenance import MaintenanceService
from ehcmpi.core.matching.online import Matcher
from ehcmpi.core.matching.rules import RulesError, RuleSet, load_rules
from ehcmpi.core.merge import MergeService
from ehcmpi.core.model import SYSTEM_ACTOR
from ehcmpi.core.outbox import Notifier
from ehcmpi.core.query import QueryService
from ehcmpi.core.registration import RegistrationService, utcnow
from ehcmpi.core.review import ReviewService
from ehcmpi.crypto.errors import KeyFileError
from ehcmpi.crypto.keys import load_keyfile
from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.crypto.software import SoftwareCryptoProvider
from ehcmpi.ihe.pdq import PdqSupplier
from ehcmpi.ihe.pix import PixManager
from ehcmpi.settings import ConfigError, Settings
from ehcmpi.storage import migrate
from ehcmpi.storage.engine import create_database_engine
from ehcmpi.storage.uow import SqlUnitOfWorkFactory


@dataclass
class Container:
    """Everything the adapters (FHIR, HL7 v2, CLI) need, wired once."""

    settings: Settings
    engine: Engine
    crypto: CryptoProvider
    uow: SqlUnitOfWorkFactory
    audit: AuditLog
    domains: DomainRegistry
    registration: RegistrationService
    query: QueryService
    maintenance: MaintenanceService
    linker: Linker
    merges: MergeService
    review: ReviewService
    jobs: JobService
    scheduler: JobScheduler
    pix: PixManager
    pdq: PdqSupplier

    def start(self) -> None:
        """Background work of a serving process: the audit writer and the job scheduler."""
        self.audit.start()
        self.scheduler.start()

    def close(self) -> None:
        self.scheduler.stop()
        self.audit.stop()
        self.uow.dispose()


def load_crypto(settings: Settings) -> CryptoProvider:
    try:
        return SoftwareCryptoProvider(load_keyfile(pathlib.Path(settings.keys.file)))
    except KeyFileError as exc:
        raise ConfigError(str(exc)) from None


def _unusable(engine: Engine, exc: sa.exc.SQLAlchemyError) -> ConfigError:
    engine.dispose()
    reason = str(exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc).splitlines()[0]
    return ConfigError(
        f"无法连接数据库 (cannot use database) {engine.url.render_as_string()}: {reason}"
    )


def connect_database(settings: Settings) -> Engine:
    """An engine on a reachable database, or ``ConfigError`` in one line."""
    engine = create_database_engine(settings.database.url, pool_size=settings.database.pool_size)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        raise _unusable(engine, exc) from None
    return engine


def open_database(settings: Settings, *, migrate_now: bool | None = None) -> Engine:
    """Connect, and migrate on SQLite (or when ``auto_migrate``); refuse a stale schema."""
    engine = connect_database(settings)
    try:
        if settings.auto_migrate if migrate_now is None else migrate_now:
            migrate.upgrade(engine)
        elif not migrate.is_current(engine):
            engine.dispose()
            raise ConfigError(
                "数据库结构不是最新版本，请先运行 `ehcmpi db upgrade` "
                "(database schema is not current; run `ehcmpi db upgrade`)"
            )
    except sa.exc.SQLAlchemyError as exc:
        raise _unusable(engine, exc) from None
    return engine


def load_match_rules(settings: Settings) -> RuleSet:
    """The configured rule file, or the shipped default; a bad file is one line."""
    path = settings.matching.rules
    try:
        if path is None:
            return load_rules()
        return load_rules(pathlib.Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"无法读取匹配规则文件 (cannot read match rules) {path}: {exc}") from None
    except RulesError as exc:
        raise ConfigError(
            f"匹配规则无效 (invalid match rules) {path or 'default'}: {exc}"
        ) from None


def build(settings: Settings, *, engine: Engine | None = None) -> Container:
    crypto = load_crypto(settings)
    rules = load_match_rules(settings)
    engine = engine or open_database(settings)
    uow = SqlUnitOfWorkFactory(engine, crypto)
    audit = AuditLog(uow)
    domains = settings.domain_registry()
    node = settings.node.code
    notifier = Notifier([c.name for c in settings.pix_consumers], utcnow)
    linker = Linker(Matcher(rules), domains.trust, utcnow, notifier)
    registration = RegistrationService(
        uow,
        crypto,
        audit,
        node_code=node,
        linker=linker if settings.matching.enabled else None,
    )
    merges = MergeService(uow, linker, crypto, audit, node_code=node)
    holder = f"{socket.gethostname()}:{os.getpid()}"
    jobs = JobService(uow, linker, merges, audit, holder=holder)
    return Container(
        settings=settings,
        engine=engine,
        crypto=crypto,
        uow=uow,
        audit=audit,
        domains=domains,
        registration=registration,
        query=QueryService(uow, audit),
        maintenance=MaintenanceService(uow, audit, registration),
        linker=linker,
        merges=merges,
        review=ReviewService(uow, linker, merges, audit),
        jobs=jobs,
        scheduler=JobScheduler(jobs, SYSTEM_ACTOR, settings.matching.scheduler_seconds),
        pix=PixManager(uow, registration, merges, linker, domains, audit),
        pdq=PdqSupplier(uow, domains, audit),
    )
