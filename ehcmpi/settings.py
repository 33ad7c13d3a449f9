"""Configuration: a TOML file (``--config`` / ``EHCMPI_CONFIG``), environment, command line.

Validated at start: a wrong key, a wrong type or a bad value stops the server with one clear
line (``ConfigError``), never a traceback.

    [server]     http_host http_port mllp_host mllp_port
    [database]   url auto_migrate pool_size backend_flush_after
    [node]       code name
    [keys]       file
    [crypto]     provider   [crypto.pkcs11] library token_label pin pin_env kek_label
                 wrapped_key_file wrap_mechanism sm4_inside sm4_ecb_mechanism sm4_key_type
    [matching]   enabled rules scheduler_seconds
    [[pix_consumers]]  name host port domains tls_ca
    [[identifier_domains]]  namespace oid system name source trust
    [qr]         dynamic_ttl_seconds max_verifications clock_skew_seconds
                 report_utc_offset_hours
    [insurance]  url timeout_seconds retries backoff_seconds breaker_failures
                 breaker_reset_seconds card_domain
"""

from __future__ import annotations

import os
import pathlib
import re
import tomllib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from ehcmpi.core.domains import DomainRegistry, IdentifierDomain

DEFAULT_DATABASE_URL = "sqlite:///data/ehcmpi.db"
DEFAULT_KEY_FILE = "data/ehcmpi.key"
#: ``http_workers = "auto"`` on PostgreSQL: one per core, at most this many (each worker
#: holds a few connections of its own: 16 of them stay within PostgreSQL's default 100)
AUTO_WORKERS_MAX = 16


class ConfigError(Exception):
    """A configuration problem, as one line for the operator."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    mllp_host: str = "127.0.0.1"
    mllp_port: int = Field(2575, ge=0, le=65535)
    #: worker processes: a number, or "auto" (``Settings.http_workers``)
    http_workers: int | Literal["auto"] = "auto"
    #: threads per worker process for database writes and the longer operations (reads run on
    #: the event loop): more than the cores only fight over the GIL (bench/mllp_bench.py:
    #: 8 feed connections, 2 workers: 352 feeds/s with 6 threads, 492 with 2, 327 with 4);
    #: FHIR registrations use one at a time (fhir/app.py)
    request_threads: int = Field(2, ge=1, le=64)
    #: TLS on the MLLP port: certificate and key (PEM); with a client CA, mutual TLS
    mllp_tls_cert: str | None = None
    mllp_tls_key: str | None = None
    mllp_tls_client_ca: str | None = None

    @field_validator("http_workers", mode="before")
    @classmethod
    def _workers(cls, value: object) -> int | str:
        if value == "auto":
            return "auto"
        if type(value) is int and 1 <= value <= 64:  # not a bool, nor 2.0
            return value
        raise ValueError('应为 1 至 64 的整数或 "auto" (must be a number from 1 to 64, or "auto")')


class DatabaseSettings(_Section):
    url: str = DEFAULT_DATABASE_URL
    auto_migrate: bool | None = None
    pool_size: int = Field(20, ge=1, le=500)
    #: PostgreSQL's ``backend_flush_after`` for ehcmpi's sessions (storage.engine)
    backend_flush_after: str = "256kB"

    @field_validator("url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        if not url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError("only sqlite:/// and postgresql:// URLs are supported")
        return url

    @field_validator("backend_flush_after")
    @classmethod
    def _flush_size(cls, value: str) -> str:
        """PostgreSQL's range, 0 to 2MB, in kB or MB ("0": off; "": the server's setting)."""
        size = re.fullmatch(r"(0|[1-9][0-9]*)(kB|MB)?", value)
        if value and (
            size is None
            or (size.group(2) is None and size.group(1) != "0")
            or int(size.group(1)) * (1024 if size.group(2) == "MB" else 1) > 2048
        ):
            raise ValueError('应为 0 至 2MB，如 "256kB" (must be 0 to 2MB, such as "256kB")')
        return value


class NodeSettings(_Section):
    code: str = Field("EHCMPI-LOCAL", min_length=1, max_length=64)
    name: str = "ehcmpi"


class KeySettings(_Section):
    file: str = DEFAULT_KEY_FILE


class Pkcs11Settings(_Section):
    """The HSM of ``[crypto] provider = "pkcs11"`` (guideline §4.6; ehcmpi/crypto/pkcs11.py)."""

    library: str = "/usr/lib/softhsm/libsofthsm2.so"
    token_label: str = Field("ehcmpi", min_length=1)
    #: the user PIN; better left out, with the PIN in the environment variable ``pin_env``
    pin: SecretStr | None = None
    pin_env: str = Field("EHCMPI_PKCS11_PIN", min_length=1)
    kek_label: str = Field("ehcmpi-kek", min_length=1)
    #: the key set, each key wrapped by the token's key-encryption key (mode 0600)
    wrapped_key_file: str = "data/ehcmpi.wrapped-keys"
    #: numbers (0x210A) or names ("AES_KEY_WRAP_PAD", "CKM_SM4_ECB" of a vendor: use its number)
    wrap_mechanism: int | str = 0x210A
    #: a token that implements SM4 keeps the root and protect keys inside and runs SM4-ECB
    sm4_inside: bool = False
    sm4_ecb_mechanism: int | str | None = None
    sm4_key_type: int | str | None = None


class CryptoSettings(_Section):
    """Who holds the keys (guideline §4.6 密码服务): the ``[keys] file``, or an HSM."""

    provider: Literal["software", "pkcs11"] = "software"
    pkcs11: Pkcs11Settings = Pkcs11Settings()


class MatchingSettings(_Section):
    """Record matching (§4.1.1): the rule file (default: the shipped Chinese rules)."""

    enabled: bool = True
    rules: str | None = None
    #: how often the server checks whether a scheduled job is due (0: never)
    scheduler_seconds: int = Field(60, ge=0, le=86400)


class ConsumerSettings(_Section):
    """A PIX Consumer that gets ITI-10 PIX Update Notifications (ADT^A31) over MLLP."""

    name: str = Field(min_length=1, max_length=64)
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    #: identifier systems (FHIR URIs, e.g. urn:oid:…) whose ids the consumer wants; empty: all
    domains: tuple[str, ...] = ()
    #: CA file to verify the consumer's TLS certificate (None: plain MLLP)
    tls_ca: str | None = None


class DomainSettings(_Section):
    namespace: str = Field(min_length=1)
    oid: str = Field(pattern=r"^[0-2](\.(0|[1-9][0-9]*))+$")
    system: str | None = None
    name: str = ""
    source: str | None = None
    #: survivorship: values from a more trusted domain win (§4.1.1 索引合并)
    trust: int = Field(0, ge=-1000, le=1000)

    def to_domain(self) -> IdentifierDomain:
        return IdentifierDomain(
            namespace=self.namespace,
            oid=self.oid,
            system=self.system or f"urn:oid:{self.oid}",
            name=self.name or self.namespace,
            source=self.source,
            trust=self.trust,
        )


class InsuranceSettings(_Section):
    """The 社保/医保身份识别系统 (guideline §5.1.3) and how its failures are contained (§6.5).

    Without ``url`` nothing is verified: social-security cards bound earlier still resolve
    (unverified), anything else insurance-based answers 503.
    """

    url: str | None = Field(None, pattern=r"^https?://")
    timeout_seconds: float = Field(2.0, gt=0, le=60)
    #: extra attempts after a failed call, with exponential backoff from ``backoff_seconds``
    retries: int = Field(1, ge=0, le=5)
    backoff_seconds: float = Field(0.2, ge=0, le=10)
    #: consecutive failed calls that open the circuit breaker; it probes again after the reset
    breaker_failures: int = Field(3, ge=1, le=100)
    breaker_reset_seconds: float = Field(30.0, gt=0, le=3600)
    #: namespace of the [[identifier_domains]] entry whose ids are social-security card
    #: numbers: an ITI-8 feed's PID-3 in it goes through the reader entry
    card_domain: str | None = None


class QrSettings(_Section):
    """Electronic health card QR codes (guideline §4.2.3; DESIGN.md "QR codes")."""

    #: how long a dynamic code stays good after it is generated
    dynamic_ttl_seconds: int = Field(120, ge=5, le=86400)
    #: how often one dynamic code may be verified (0: no limit)
    max_verifications: int = Field(3, ge=0, le=1000)
    #: how far in the future a code's time may lie (clocks of replicas differ)
    clock_skew_seconds: int = Field(30, ge=0, le=600)
    #: time zone of the per-day summary, hours east of UTC (8: China Standard Time)
    report_utc_offset_hours: int = Field(8, ge=-12, le=14)


class Settings(_Section):
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    node: NodeSettings = NodeSettings()
    keys: KeySettings = KeySettings()
    crypto: CryptoSettings = CryptoSettings()
    matching: MatchingSettings = MatchingSettings()
    pix_consumers: tuple[ConsumerSettings, ...] = ()
    identifier_domains: tuple[DomainSettings, ...] = ()
    qr: QrSettings = QrSettings()
    insurance: InsuranceSettings = InsuranceSettings()

    def domain_registry(self) -> DomainRegistry:
        return DomainRegistry(d.to_domain() for d in self.identifier_domains)

    @property
    def http_workers(self) -> int:
        """``[server] http_workers``; "auto" (the default): one per core this process may
        run on for PostgreSQL (at most :data:`AUTO_WORKERS_MAX`), one for SQLite, where
        every write takes the one lock of the whole file."""
        workers = self.server.http_workers
        if workers != "auto":
            return workers
        if self.database.url.startswith("sqlite:"):
            return 1
        affinity = getattr(os, "sched_getaffinity", None)
        cores = len(affinity(0)) if affinity else (os.cpu_count() or 1)
        return max(1, min(cores, AUTO_WORKERS_MAX))

    @property
    def auto_migrate(self) -> bool:
        if self.database.auto_migrate is not None:
            return self.database.auto_migrate
        return self.database.url.startswith("sqlite:")


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        return f"未知配置项 '{where}' (unknown key)"
    return f"配置项 '{where}' 无效: {first['msg']} (invalid value)"


def _read_toml(path: pathlib.Path) -> dict[str, Any]:
    """The TOML file at ``path``; UTF-8 with a byte-order mark too (as Windows editors save)."""
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"配置文件不存在 (config file not found): {path}") from None
    except OSError as exc:  # a directory, no permission
        raise ConfigError(
            f"无法读取配置文件 (cannot read config file) {path}: {exc.strerror}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"配置文件格式错误 (invalid TOML) {path}: {exc}") from None
    except UnicodeDecodeError as exc:  # saved as GBK by an editor: TOML is UTF-8
        raise ConfigError(
            f"配置文件须为 UTF-8 编码，请另存为 UTF-8 (the config file must be UTF-8; "
            f"byte {exc.object[exc.start]:#04x} at offset {exc.start} is not) {path}"
        ) from None


def load_settings(
    config_file: str | None = None,
    *,
    database_url: str | None = None,
    http_port: int | None = None,
    mllp_port: int | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Merge file, environment (``EHCMPI_CONFIG``, ``EHCMPI_DATABASE_URL``) and options."""
    env = os.environ if environ is None else environ
    path = config_file or env.get("EHCMPI_CONFIG")
    raw: dict[str, Any] = _read_toml(pathlib.Path(path)) if path else {}
    overrides = {
        ("database", "url"): database_url or env.get("EHCMPI_DATABASE_URL"),
        ("server", "http_port"): http_port,
        ("server", "mllp_port"): mllp_port,
    }
    for (section, key), value in overrides.items():
        if value is not None:
            if not isinstance(raw.setdefault(section, {}), dict):
                raise ConfigError(f"配置节 '{section}' 必须是表 (section must be a table)")
            raw[section][key] = value
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    _check_domains(settings)
    _check_card_domain(settings)
    return settings


def _check_domains(settings: Settings) -> None:
    seen: set[str] = set()
    for domain in settings.identifier_domains:
        d = domain.to_domain()
        for key in (f"namespace:{d.namespace}", f"oid:{d.oid}", f"system:{d.system}"):
            if key in seen:
                raise ConfigError(f"标识域重复 (duplicate identifier domain) {key}")
            seen.add(key)


def _check_card_domain(settings: Settings) -> None:
    card = settings.insurance.card_domain
    if card is not None and not any(d.namespace == card for d in settings.identifier_domains):
        raise ConfigError(
            f"[insurance] card_domain '{card}' 不是已配置的标识域 (is not the namespace of a "
            "configured [[identifier_domains]] entry)"
        )
