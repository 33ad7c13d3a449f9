"""The one place where configuration becomes wired objects (DESIGN.md: Cosmic Python).

``build`` checks what the server needs before it serves — the key file, a reachable database
at the current schema (migrated at start on SQLite), the keys that database was set up with
(``storage.key_check``) — and raises ``ConfigError`` with one line when something is wrong.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ehcmpi.core.audit import AuditLog
from ehcmpi.core.cards import CardService
from ehcmpi.core.domains import DomainRegistry
from ehcmpi.core.jobs import JobScheduler, JobService
from ehcmpi.core.linking import Linker
from ehcmpi.core.maintenance import MaintenanceService
from ehcmpi.core.matching.lookup import MatchLookup
from ehcmpi.core.matching.online import Matcher
from ehcmpi.core.matching.rules import RulesError, RuleSet, load_rules
from ehcmpi.core.media import MediaService
from ehcmpi.core.merge import MergeService
from ehcmpi.core.model import SYSTEM_ACTOR
from ehcmpi.core.outbox import Notifier
from ehcmpi.core.qr import QrPolicy, QrService
from ehcmpi.core.qr_log import QrRecordLog
from ehcmpi.core.query import QueryService
from ehcmpi.core.reader import ReaderService
from ehcmpi.core.registration import RegistrationService, utcnow
from ehcmpi.core.review import ReviewService
from ehcmpi.core.terminals import TerminalRegistry
from ehcmpi.core.verifier import CircuitBreaker, GuardedVerifier
from ehcmpi.crypto.errors import KeyFileError
from ehcmpi.crypto.keys import watched_keyfile
from ehcmpi.crypto.pkcs11 import (
    Pkcs11Config,
    Pkcs11CryptoProvider,
    resolve_key_type,
    resolve_mechanism,
)
from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.crypto.software import SoftwareCryptoProvider
from ehcmpi.external.verifier_http import HttpIdentityVerifier
from ehcmpi.ihe.pdq import PdqSupplier
from ehcmpi.ihe.pix import PixManager
from ehcmpi.settings import ConfigError, Settings
from ehcmpi.storage import migrate
from ehcmpi.storage.cards import SqlQrStore
from ehcmpi.storage.engine import create_database_engine
from ehcmpi.storage.key_check import KeyMismatch, check_keys
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
    #: electronic health card service (§4.2): accounts, terminals and apps, QR codes
    cards: CardService
    terminals: TerminalRegistry
    qr: QrService
    matches: MatchLookup
    media: MediaService
    reader: ReaderService
    #: the 社保/医保身份识别系统 client and its breaker-guarded port (None: not configured)
    insurance_http: HttpIdentityVerifier | None
    insurance: GuardedVerifier | None

    def start(self) -> None:
        """Background work of a serving process: the audit writer and the job scheduler."""
        self.audit.start()
        self.qr.records.start()
        self.scheduler.start()

    def close(self) -> None:
        self.scheduler.stop()
        self.audit.stop()
        self.qr.records.stop()
        if self.insurance_http is not None:
            self.insurance_http.close()
        self.uow.dispose()
        close_crypto(self.crypto)


def load_crypto(settings: Settings) -> CryptoProvider:
    """The ``[crypto] provider``: the ``[keys] file`` in memory, or keys unwrapped by an HSM."""
    try:
        if settings.crypto.provider == "pkcs11":
            return Pkcs11CryptoProvider(pkcs11_config(settings))
        keys, reread = watched_keyfile(pathlib.Path(settings.keys.file))
        return SoftwareCryptoProvider(keys, reread=reread)
    except KeyFileError as exc:
        raise ConfigError(str(exc)) from None


def close_crypto(crypto: CryptoProvider) -> None:
    """Let go of what a provider holds open (an HSM session); a key file's holds nothing."""
    if isinstance(crypto, Pkcs11CryptoProvider):
        crypto.close()  # the HSM session of sm4_inside


def pkcs11_config(settings: Settings, environ: Mapping[str, str] | None = None) -> Pkcs11Config:
    """``[crypto.pkcs11]`` resolved: the PIN from the file or its environment variable, and the
    mechanism names or numbers checked; ``ConfigError`` in one line otherwise."""
    section = settings.crypto.pkcs11
    env = os.environ if environ is None else environ
    pin = section.pin.get_secret_value() if section.pin else env.get(section.pin_env)
    if not pin:
        raise ConfigError(
            f"未配置 HSM 用户 PIN：请设置环境变量 {section.pin_env} 或 [crypto.pkcs11] pin "
            f"(no PKCS#11 user PIN: set {section.pin_env} or [crypto.pkcs11] pin)"
        )
    try:
        return Pkcs11Config(
            library=section.library,
            token_label=section.token_label,
            pin=pin,
            wrapped_key_file=pathlib.Path(section.wrapped_key_file),
            kek_label=section.kek_label,
            wrap_mechanism=resolve_mechanism(section.wrap_mechanism),
            sm4_inside=section.sm4_inside,
            sm4_ecb_mechanism=_maybe(resolve_mechanism, section.sm4_ecb_mechanism),
            sm4_key_type=_maybe(resolve_key_type, section.sm4_key_type),
        )
    except ValueError as exc:
        raise ConfigError(f"[crypto.pkcs11] 配置无效 (invalid configuration): {exc}") from None


def _maybe(resolve: Callable[[int | str], int], value: int | str | None) -> int | None:
    return None if value is None else resolve(value)


def _unusable(engine: Engine, exc: sa.exc.SQLAlchemyError) -> ConfigError:
    engine.dispose()
    reason = str(exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc).splitlines()[0]
    return ConfigError(
        f"无法连接数据库 (cannot use database) {engine.url.render_as_string()}: {reason}"
    )


def connect_database(settings: Settings) -> Engine:
    """An engine on a reachable database, or ``ConfigError`` in one line."""
    database = settings.database
    engine = create_database_engine(
        database.url, pool_size=database.pool_size, flush_after=database.backend_flush_after
    )
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        raise _unusable(engine, exc) from None
    return engine


def open_database(settings: Settings, *, migrate_now: bool | None = None) -> Engine:
    """Connect, and migrate on SQLite (or when ``auto_migrate``); refuse a stale schema."""
    engine = connect_database(settings)
    with _refusing(engine, migrate.MigrationError):
        if settings.auto_migrate if migrate_now is None else migrate_now:
            migrate.upgrade(engine)  # refuses a newer release's schema itself
            return engine
        migrate.check_known(engine)  # a newer release's schema: not "run db upgrade"
        if not migrate.is_current(engine):
            engine.dispose()
            raise ConfigError(
                "数据库结构不是最新版本，请先运行 `ehcmpi db upgrade` "
                "(database schema is not current; run `ehcmpi db upgrade`)"
            )
    return engine


def downgrade_database(settings: Settings, revision: str) -> str:
    """Step the schema back to ``revision`` (rolling a release back): the revision reached,
    or ``ConfigError`` in one line."""
    engine = connect_database(settings)
    try:
        with _refusing(engine, migrate.MigrationError):
            migrate.downgrade(engine, revision)
            return str(migrate.current_revision(engine))
    finally:
        engine.dispose()


@contextlib.contextmanager
def _refusing(engine: Engine, refusal: type[Exception]) -> Iterator[None]:
    """Work on ``engine`` whose ``refusal`` (one line already) or database error becomes
    ``ConfigError`` in one line, the engine disposed."""
    try:
        yield
    except refusal as exc:
        engine.dispose()
        raise ConfigError(str(exc)) from None
    except sa.exc.SQLAlchemyError as exc:
        raise _unusable(engine, exc) from None


def verify_keys(engine: Engine, crypto: CryptoProvider) -> None:
    """The keys the database was set up with (``storage.key_check``), or ``ConfigError`` in
    one line: with other keys no returning patient would be found."""
    with _refusing(engine, KeyMismatch):
        check_keys(engine, crypto)


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


def insurance_verifier(
    settings: Settings,
) -> tuple[HttpIdentityVerifier | None, GuardedVerifier | None]:
    """The 社保/医保身份识别系统 client behind its circuit breaker (§5.1.3, §6.5)."""
    conf = settings.insurance
    if conf.url is None:
        return None, None
    client = HttpIdentityVerifier(
        conf.url,
        timeout_seconds=conf.timeout_seconds,
        retries=conf.retries,
        backoff_seconds=conf.backoff_seconds,
    )
    breaker = CircuitBreaker(
        failures=conf.breaker_failures,
        reset_seconds=conf.breaker_reset_seconds,
        name="insurance identity system",
    )
    return client, GuardedVerifier(client, breaker)


def card_services(
    settings: Settings, uow: SqlUnitOfWorkFactory, crypto: CryptoProvider, audit: AuditLog
) -> tuple[CardService, TerminalRegistry, QrService]:
    """The electronic health card service (§4.2): accounts, terminals and apps, QR codes."""
    terminals = TerminalRegistry(uow, crypto, audit)
    conf = settings.qr
    policy = QrPolicy(
        conf.dynamic_ttl_seconds,
        conf.max_verifications,
        conf.clock_skew_seconds,
        conf.report_utc_offset_hours,
    )
    store = SqlQrStore(uow.engine, uow.read_engine)
    qr = QrService(uow, store, crypto, QrRecordLog(uow), terminals, policy)
    return CardService(uow, crypto, audit), terminals, qr


def build(settings: Settings, *, engine: Engine | None = None) -> Container:
    crypto = load_crypto(settings)
    rules = load_match_rules(settings)
    engine = engine or open_database(settings)
    verify_keys(engine, crypto)
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
    media = MediaService(uow, audit)
    insurance_http, insurance = insurance_verifier(settings)
    cards, terminals, qr = card_services(settings, uow, crypto, audit)
    query = QueryService(uow, audit)
    reader = ReaderService(query, registration, media, audit, verifier=insurance, qr=qr)
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
        cards=cards,
        terminals=terminals,
        qr=qr,
        matches=MatchLookup(uow, linker.matcher, audit),
        media=media,
        reader=reader,
        insurance_http=insurance_http,
        insurance=insurance,
    )
