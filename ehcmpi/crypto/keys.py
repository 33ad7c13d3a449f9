"""Key custody for the software crypto provider (guideline §4.6 密码服务, §6.1 通用安全要求).

The software provider keeps its keys in one JSON file, readable by the service account only::

    {"version": 1, "key_id": "<16 hex>", "created": "<ISO 8601>",
     "root_key": "<32 hex>", "data_key": "<32 hex>", "index_key": "<64 hex>"}

- ``root_key``  (16 bytes): the issuer root key of the EHC ID scheme (DESIGN.md "EHC ID").
- ``data_key``  (16 bytes): SM4-GCM key for personal information at rest.
- ``index_key`` (32 bytes): HMAC-SM3 key for blind indexes (exact lookup without plaintext).

The file is created with mode 0600 from the first byte (``os.open`` with mode 0600 and
``O_EXCL`` on a temporary name, then renamed into place), and loading refuses a file whose
group or other permission bits are set. Key bytes never appear in ``repr``, ``str`` or error
messages. An HSM (PKCS#11) provider keeps the same roles inside the device instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from ehcmpi.crypto.errors import KeyFileError

__all__ = ["KEYFILE_VERSION", "KeyMaterial", "ensure_keyfile", "init_keyfile", "load_keyfile"]

KEYFILE_VERSION: Final = 1
KEY_SIZES: Final = {"root_key": 16, "data_key": 16, "index_key": 32}
_INIT_HINT: Final = "run `ehcmpi keys init`"


@dataclass(frozen=True, repr=False)
class KeyMaterial:
    """The provider's keys; ``repr``/``str`` show only ``key_id``."""

    key_id: str
    root_key: bytes
    data_key: bytes
    index_key: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.key_id, str) or not self.key_id:
            raise ValueError("密钥标识不能为空 (key_id must be a non-empty string)")
        for name, size in KEY_SIZES.items():
            problem = _size_problem(name, getattr(self, name), size)
            if problem:
                raise ValueError(problem)

    def __repr__(self) -> str:
        return f"KeyMaterial(key_id={self.key_id!r})"

    __str__ = __repr__

    @classmethod
    def generate(cls) -> KeyMaterial:
        """Fresh random keys from ``os.urandom`` with a random 16-hex-char ``key_id``."""
        return cls(
            key_id=os.urandom(8).hex(),
            root_key=os.urandom(KEY_SIZES["root_key"]),
            data_key=os.urandom(KEY_SIZES["data_key"]),
            index_key=os.urandom(KEY_SIZES["index_key"]),
        )


def _size_problem(name: str, value: object, size: int) -> str | None:
    if not isinstance(value, bytes):
        return f"密钥类型错误: {name} 应为字节串 ({name} must be bytes)"
    if len(value) != size:
        return (
            f"密钥长度错误: {name} 应为 {size} 字节，实为 {len(value)} 字节 "
            f"(wrong key length: {name} must be {size} bytes, got {len(value)})"
        )
    return None


def init_keyfile(path: pathlib.Path, *, overwrite: bool = False) -> KeyMaterial:
    """Generate new keys and write them to ``path`` (mode 0600, atomically).

    Raises :class:`KeyFileError` if ``path`` exists and ``overwrite`` is false. Overwriting
    replaces the old keys: anything encrypted or indexed under them becomes unreadable.
    """
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise _exists_error(path)
    keys = KeyMaterial.generate()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = _write_private_tmp(path, _serialize(keys))
    try:
        _publish(tmp, path, overwrite=overwrite)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)
    return keys


def load_keyfile(path: pathlib.Path) -> KeyMaterial:
    """Read and validate the key file at ``path``; :class:`KeyFileError` on any problem."""
    path = pathlib.Path(path)
    text = _read_private(path)
    try:
        doc = json.loads(text)
    except ValueError:  # JSONDecodeError or bad UTF-8; its text would echo the keys
        raise KeyFileError(
            f"密钥文件格式错误，不是有效的 JSON: {path} (key file is not valid JSON)"
        ) from None
    if not isinstance(doc, dict):
        raise KeyFileError(f"密钥文件格式错误: {path} (key file must be a JSON object)")
    return _parse(path, doc)


def ensure_keyfile(path: pathlib.Path) -> tuple[KeyMaterial, bool]:
    """Load the key file at ``path``, creating it first if absent; the bool says it was created."""
    path = pathlib.Path(path)
    if path.exists():
        return load_keyfile(path), False
    try:
        return init_keyfile(path), True
    except KeyFileError:
        if not path.exists():
            raise
    return load_keyfile(path), False  # another process created it first


def _serialize(keys: KeyMaterial) -> bytes:
    doc = {
        "version": KEYFILE_VERSION,
        "key_id": keys.key_id,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **{name: getattr(keys, name).hex() for name in KEY_SIZES},
    }
    return (json.dumps(doc, indent=2) + "\n").encode("ascii")


def _write_private_tmp(path: pathlib.Path, content: bytes) -> pathlib.Path:
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, 0o600)
    except OSError as exc:
        raise KeyFileError(
            f"无法创建密钥文件: {path} ({exc.strerror}) (cannot create key file)"
        ) from None
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # exact mode whatever the umask
        os.write(fd, content)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink()
        raise
    os.close(fd)
    return tmp


def _publish(tmp: pathlib.Path, path: pathlib.Path, *, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic and never clobbers an existing file
    except FileExistsError:
        raise _exists_error(path) from None
    except OSError:  # filesystem without hard links
        if path.exists():
            raise _exists_error(path) from None
        os.replace(tmp, path)


def _fsync_dir(directory: pathlib.Path) -> None:
    with contextlib.suppress(OSError):  # not supported everywhere (e.g. Windows)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _exists_error(path: pathlib.Path) -> KeyFileError:
    return KeyFileError(f"密钥文件已存在: {path} (key file exists; refusing to overwrite)")


def _read_private(path: pathlib.Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise KeyFileError(f"密钥文件不存在: {path} (key file not found; {_INIT_HINT})") from None
    except OSError as exc:
        raise KeyFileError(
            f"无法读取密钥文件: {path} ({exc.strerror}) (cannot read key file)"
        ) from None
    try:
        _check_private(path, os.fstat(fd))  # the same open file that is read: no TOCTOU
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    finally:
        os.close(fd)


def _check_private(path: pathlib.Path, info: os.stat_result) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise KeyFileError(f"密钥文件路径是目录: {path} (key file path is a directory)")
    mode = stat.S_IMODE(info.st_mode)
    if os.name == "posix" and mode & 0o077:
        raise KeyFileError(
            f"密钥文件权限过宽: {path} 为 {mode:04o}，应为 0600 "
            f"(key file permissions {mode:04o} are too open; run `chmod 600 {path}`)"
        )


def _parse(path: pathlib.Path, doc: dict[str, Any]) -> KeyMaterial:
    for field in ("version", "key_id", *KEY_SIZES):
        if field not in doc:
            raise KeyFileError(
                f"密钥文件缺少字段 {field}: {path} (key file missing field: {field})"
            )
    if doc["version"] != KEYFILE_VERSION:
        raise KeyFileError(
            f"不支持的密钥文件版本: {path} (unsupported key file version; "
            f"expected {KEYFILE_VERSION})"
        )
    key_id = doc["key_id"]
    if not isinstance(key_id, str) or not key_id:
        raise KeyFileError(f"密钥标识无效: {path} (key file field key_id must be a string)")
    return KeyMaterial(
        key_id=key_id,
        root_key=_parse_key(path, doc, "root_key"),
        data_key=_parse_key(path, doc, "data_key"),
        index_key=_parse_key(path, doc, "index_key"),
    )


def _parse_key(path: pathlib.Path, doc: dict[str, Any], name: str) -> bytes:
    value = doc[name]
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None:
        raise KeyFileError(
            f"密钥文件字段 {name} 不是十六进制字符串: {path} "
            f"(key file field {name} is not a hex string)"
        )
    size = KEY_SIZES[name]
    if len(raw) != size:
        raise KeyFileError(
            f"密钥长度错误: {path} 中 {name} 应为 {size} 字节，实为 {len(raw)} 字节 "
            f"(wrong key length in key file: {name} must be {size} bytes, got {len(raw)})"
        )
    return raw
