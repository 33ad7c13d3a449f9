"""HSM crypto provider over PKCS#11 (guideline §4.6 密码服务, §6.1; PKCS#11 v2.40 §5.18, §6.2).

Key custody: a key-encryption key (KEK, AES-256) is generated *inside* the token with
``CKA_TOKEN``, ``CKA_SENSITIVE`` and not ``CKA_EXTRACTABLE``, so its value never leaves the
device. Every key of the key set (:mod:`ehcmpi.crypto.keys`: root, index, data, protect, SM2)
is wrapped by it with ``C_WrapKey`` (default ``CKM_AES_KEY_WRAP_PAD``, RFC 5649) and stored in
the wrapped-key file, the same JSON document as the software key file with each secret as
``{"wrapped": "<hex>"}`` — nothing on disk is usable without the token.

At start the provider opens the file and unwraps each secret with ``C_UnwrapKey``:

- default (SoftHSM2 and any token without SM4): into a session object that is read once and
  destroyed; the keys then live only in process memory and SM3/SM4/SM2 run in software
  (:class:`~ehcmpi.crypto.software.SoftwareCryptoProvider`), giving byte-identical EHC IDs and
  blind indexes;
- ``sm4_inside``: a vendor token that implements SM4 gets the root and protect keys unwrapped
  into session objects that are ``CKA_SENSITIVE`` and not extractable, of the configured key
  type, and the SM4-ECB steps that use them (``K_user`` derivation of the EHC ID scheme, QR
  sealing) run in the token with the configured mechanism (e.g. the vendor's ``CKM_SM4_ECB``).
  ``K_user`` itself, the data, index and SM2 keys are still used in memory.

Vendor-defined mechanism and key-type numbers (``0x8000_0000`` and above) are registered with
``python-pkcs11``'s enums, which only accept the standard ones.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final, TypeVar

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.exceptions import PKCS11Error, UserAlreadyLoggedIn

from ehcmpi.crypto.errors import HsmError, KeyFileError
from ehcmpi.crypto.keydoc import check_size, from_document, to_document
from ehcmpi.crypto.keys import read_private_json, watch, write_private_json
from ehcmpi.crypto.material import KeyMaterial, rotate
from ehcmpi.crypto.sm import SM4_BLOCK_SIZE, BlockCipher, Sm4Ecb, check_blocks
from ehcmpi.crypto.software import SoftwareCryptoProvider

__all__ = [
    "CKM_AES_KEY_WRAP_PAD",
    "DEFAULT_KEK_LABEL",
    "Pkcs11Config",
    "Pkcs11CryptoProvider",
    "init_wrapped_keyfile",
    "resolve_key_type",
    "resolve_mechanism",
    "rotate_wrapped_keyfile",
]

CKM_AES_KEY_WRAP_PAD: Final = 0x210A
DEFAULT_KEK_LABEL: Final = "ehcmpi-kek"
FORMAT: Final = "ehcmpi-pkcs11-wrapped"
_E = TypeVar("_E", bound=IntEnum)


@dataclass(frozen=True, repr=False)
class Pkcs11Config:
    """Where the token is and how to use it; ``repr`` hides the PIN."""

    library: str
    token_label: str
    pin: str
    wrapped_key_file: pathlib.Path
    kek_label: str = DEFAULT_KEK_LABEL
    wrap_mechanism: int = CKM_AES_KEY_WRAP_PAD
    sm4_inside: bool = False
    sm4_ecb_mechanism: int | None = None
    sm4_key_type: int | None = None

    def __post_init__(self) -> None:
        if self.sm4_inside and (self.sm4_ecb_mechanism is None or self.sm4_key_type is None):
            raise ValueError(
                "sm4_inside 需要同时配置 sm4_ecb_mechanism 和 sm4_key_type "
                "(sm4_inside needs sm4_ecb_mechanism and sm4_key_type)"
            )

    def __repr__(self) -> str:
        return f"Pkcs11Config(library={self.library!r}, token_label={self.token_label!r})"


# --- mechanism mapping -----------------------------------------------------------------------


def _member(enum: type[_E], value: int) -> _E:
    """The enum member for ``value``, registering a vendor-defined one if needed."""
    try:
        return enum(value)
    except ValueError:
        if value < 0x8000_0000:
            raise
    member = int.__new__(enum, value)
    member._name_ = f"VENDOR_{value:#x}"
    member._value_ = value
    enum._value2member_map_[value] = member
    return member


def _resolve(value: int | str, enum: type[IntEnum], prefix: str, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = str(value).strip().upper().removeprefix(prefix)
        try:
            number = int(text, 0) if text[:1].isdigit() else int(enum[text])
        except (KeyError, ValueError):
            raise ValueError(
                f"无法识别的 PKCS#11 {what}: {value} (unknown PKCS#11 {what}; "
                f"use a number such as 0x1081 or a name such as {prefix}AES_ECB)"
            ) from None
    try:
        _member(enum, number)
    except ValueError:
        raise ValueError(
            f"无法识别的 PKCS#11 {what}: {value} (not a standard {what} and below "
            f"the vendor-defined range 0x80000000)"
        ) from None
    return number


def resolve_mechanism(value: int | str) -> int:
    """``0x1081``, ``"0x1081"``, ``"AES_ECB"`` or ``"CKM_AES_ECB"`` → 0x1081; vendor numbers ok."""
    return _resolve(value, Mechanism, "CKM_", "mechanism")


def resolve_key_type(value: int | str) -> int:
    """``0x1F``, ``"AES"`` or ``"CKK_AES"`` → 0x1F; vendor numbers (e.g. a CKK_SM4) ok."""
    return _resolve(value, KeyType, "CKK_", "key type")


# --- token access ----------------------------------------------------------------------------


def _hsm_error(chinese: str, english: str, exc: BaseException) -> HsmError:
    """One line for the operator: what failed and the PKCS#11 return code's name."""
    return HsmError(f"HSM 操作失败: {chinese} ({english}: {type(exc).__name__})")


@contextlib.contextmanager
def _session(config: Pkcs11Config) -> Iterator[Any]:
    try:
        lib = pkcs11.lib(config.library)
        token = lib.get_token(token_label=config.token_label)
        try:
            session = token.open(user_pin=config.pin, rw=True)
        except UserAlreadyLoggedIn:
            # PKCS#11 logins are per process: a provider here holds one; share it and do not
            # log out when this session closes.
            session = token.open(rw=True)
    except PKCS11Error as exc:
        label = config.token_label
        raise _hsm_error(f"无法打开令牌 {label}", f"cannot open token {label}", exc) from None
    try:
        yield session
    finally:
        session.close()


def _find_kek(session: Any, config: Pkcs11Config) -> Any:
    try:
        return session.get_key(object_class=ObjectClass.SECRET_KEY, label=config.kek_label)
    except PKCS11Error as exc:
        raise _hsm_error(
            f"找不到密钥加密密钥 {config.kek_label}，请先运行 `ehcmpi keys init`",
            f"no key-encryption key {config.kek_label}; run `ehcmpi keys init`",
            exc,
        ) from None


def _create_kek(session: Any, config: Pkcs11Config) -> Any:
    with contextlib.suppress(HsmError):
        return _find_kek(session, config)
    return session.generate_key(
        KeyType.AES,
        256,
        label=config.kek_label,
        store=True,
        capabilities=MechanismFlag.WRAP | MechanismFlag.UNWRAP,
        template={
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.PRIVATE: True,
            Attribute.ENCRYPT: False,
            Attribute.DECRYPT: False,
        },
    )


class _Wrapper:
    """Seals key bytes with the KEK and opens them again (the keydoc codec of this provider)."""

    def __init__(self, session: Any, kek: Any, config: Pkcs11Config, mechanism: int) -> None:
        self._session, self._kek, self._config = session, kek, config
        self._mechanism = _member(Mechanism, mechanism)
        #: sm4_inside: reference → (token key object, the wrapped value it came from)
        self.inside: dict[bytes, tuple[Any, Any]] = {}
        self._lock = threading.Lock()  # one operation at a time on the shared session

    @property
    def mechanism(self) -> int:
        return int(self._mechanism)

    def token_cipher(self, reference: bytes) -> BlockCipher:
        """The SM4-ECB of a key unwrapped into the token (``sm4_inside``)."""
        assert self._config.sm4_ecb_mechanism is not None  # Pkcs11Config checks it
        key = self.inside[reference][0]
        return _TokenEcb(key, self._config.sm4_ecb_mechanism, self._lock)

    def seal(self, role: str, raw: bytes) -> Any:
        if raw in self.inside:  # a key that only the token holds: its wrapping is unchanged
            return self.inside[raw][1]
        template = {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
            Attribute.VALUE: raw,
            Attribute.TOKEN: False,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: True,
        }
        try:
            secret = self._session.create_object(template)
            try:
                wrapped = self._kek.wrap_key(secret, mechanism=self._mechanism)
            finally:
                secret.destroy()
        except PKCS11Error as exc:
            raise _hsm_error(f"无法包装密钥 {role}", f"cannot wrap {role}", exc) from None
        return {"wrapped": bytes(wrapped).hex()}

    def open(self, role: str, value: Any, size: int) -> bytes:
        wrapped = self._wrapped(role, value)
        inside = self._config.sm4_inside and (role == "root_key" or "protect_key" in role)
        try:
            if inside:
                return self._open_inside(wrapped, value)
            secret = self._kek.unwrap_key(
                ObjectClass.SECRET_KEY,
                KeyType.GENERIC_SECRET,
                wrapped,
                mechanism=self._mechanism,
                capabilities=MechanismFlag(0),
                template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
            )
            try:
                raw = bytes(secret[Attribute.VALUE])
            finally:
                secret.destroy()
        except PKCS11Error as exc:
            raise _hsm_error(
                f"无法解包密钥 {role}，密钥加密密钥不符或文件损坏",
                f"cannot unwrap {role}: wrong key-encryption key or damaged file",
                exc,
            ) from None
        return check_size(self._config.wrapped_key_file, role, raw, size)

    def _open_inside(self, wrapped: bytes, value: Any) -> bytes:
        assert self._config.sm4_key_type is not None  # Pkcs11Config checks it
        key = self._kek.unwrap_key(
            ObjectClass.SECRET_KEY,
            _member(KeyType, self._config.sm4_key_type),
            wrapped,
            mechanism=self._mechanism,
            capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
            template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
        )
        # A random stand-in for KeyMaterial, never a key: only the token holds the key.
        reference = os.urandom(SM4_BLOCK_SIZE)
        self.inside[reference] = (key, value)
        return reference

    def _wrapped(self, role: str, value: Any) -> bytes:
        try:
            return bytes.fromhex(value["wrapped"])
        except (TypeError, KeyError, ValueError):
            raise KeyFileError(
                f"密钥文件字段 {role} 不是包装后的密钥: {self._config.wrapped_key_file} "
                f"(field {role} is not a wrapped key; is this a software key file?)"
            ) from None


class _TokenEcb:
    """SM4-ECB (or the configured stand-in) by ``C_Encrypt``/``C_Decrypt`` in the token."""

    def __init__(self, key: Any, mechanism: int, lock: threading.Lock) -> None:
        self._key, self._mechanism, self._lock = key, _member(Mechanism, mechanism), lock

    def encrypt(self, data: bytes) -> bytes:
        check_blocks(data)
        with self._lock:
            return bytes(self._key.encrypt(data, mechanism=self._mechanism))

    def decrypt(self, data: bytes) -> bytes:
        check_blocks(data)
        with self._lock:
            return bytes(self._key.decrypt(data, mechanism=self._mechanism))


def _reader(config: Pkcs11Config) -> Callable[[], KeyMaterial]:
    """The wrapped key file's keys, unwrapped in a session of their own."""

    def read() -> KeyMaterial:
        with _session(config) as session:
            return _load(config, session)[0]

    return read


def _load(config: Pkcs11Config, session: Any) -> tuple[KeyMaterial, _Wrapper, dict[str, Any]]:
    path = config.wrapped_key_file
    doc = read_private_json(path)
    meta = doc.get("pkcs11")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise KeyFileError(
            f"不是 PKCS#11 包装密钥文件: {path} (not a PKCS#11 wrapped key file; "
            'run `ehcmpi keys init` with [crypto] provider = "pkcs11")'
        )
    try:
        mechanism = int(meta.get("wrap_mechanism", hex(config.wrap_mechanism)), 16)
    except (TypeError, ValueError):
        raise KeyFileError(f"包装机制无效: {path} (invalid wrap_mechanism)") from None
    wrapper = _Wrapper(session, _find_kek(session, config), config, mechanism)
    return from_document(doc, path, wrapper.open), wrapper, doc


def _write(config: Pkcs11Config, keys: KeyMaterial, wrapper: _Wrapper, **kw: Any) -> None:
    doc = to_document(keys, wrapper.seal, created=kw.pop("created", None))
    doc["pkcs11"] = {
        "format": FORMAT,
        "token_label": config.token_label,
        "kek_label": config.kek_label,
        "wrap_mechanism": hex(wrapper.mechanism),
    }
    write_private_json(config.wrapped_key_file, doc, **kw)


def init_wrapped_keyfile(
    config: Pkcs11Config, *, overwrite: bool = False, keys: KeyMaterial | None = None
) -> KeyMaterial:
    """Create the KEK in the token if absent, then wrap ``keys`` (default: new) to the file.

    ``keys`` lets a software key file move into the HSM with the same EHC IDs and indexes.
    """
    path = config.wrapped_key_file
    if path.exists() and not overwrite:
        raise KeyFileError(f"密钥文件已存在: {path} (key file exists; refusing to overwrite)")
    keys = keys or KeyMaterial.generate()
    with _session(config) as session:
        try:
            kek = _create_kek(session, config)
        except PKCS11Error as exc:
            raise _hsm_error(
                "无法生成密钥加密密钥", "cannot generate the key-encryption key", exc
            ) from None
        wrapper = _Wrapper(session, kek, config, config.wrap_mechanism)
        _write(config, keys, wrapper, overwrite=overwrite)
    return keys


def rotate_wrapped_keyfile(
    config: Pkcs11Config, *, data: bool = True, protect: bool = True, signing: bool = True
) -> KeyMaterial:
    """Rotate keys of the wrapped file (see :mod:`ehcmpi.crypto.keys`); the KEK stays."""
    with _session(config) as session:
        keys, wrapper, doc = _load(config, session)
        rotated = rotate(keys, data=data, protect=protect, signing=signing)
        _write(config, rotated, wrapper, overwrite=True, created=doc.get("created"))
    return rotated


class Pkcs11CryptoProvider(SoftwareCryptoProvider):
    """:class:`~ehcmpi.crypto.ports.CryptoProvider` whose keys are unwrapped from the HSM."""

    __slots__ = ("_session",)

    def __init__(self, config: Pkcs11Config) -> None:
        stack = contextlib.ExitStack()
        session = stack.enter_context(_session(config))
        # Keys rotated in meanwhile are taken, unless they live in this session (sm4_inside).
        reread = None if config.sm4_inside else watch(config.wrapped_key_file, _reader(config))
        try:
            keys, wrapper, _ = _load(config, session)
            ecb = wrapper.token_cipher if config.sm4_inside else Sm4Ecb
            super().__init__(keys, ecb=ecb, provider="pkcs11", reread=reread)
        except BaseException:
            stack.close()
            raise
        # The session stays open only while token objects are in use (sm4_inside).
        self._session = stack if config.sm4_inside else None
        if not config.sm4_inside:
            stack.close()

    def close(self) -> None:
        """End the token session of ``sm4_inside`` (its unwrapped keys vanish with it)."""
        if self._session is not None:
            self._session.close()
            self._session = None
