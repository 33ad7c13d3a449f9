"""Key custody for the software crypto provider (guideline §4.6 密码服务, §6.1 通用安全要求).

The software provider keeps its keys in one JSON file (:mod:`ehcmpi.crypto.keydoc`, version 2;
version-1 files are still read), readable by the service account only. The file is created
with mode 0600 from the first byte (``os.open`` with mode 0600 and ``O_EXCL`` on a temporary
name, then renamed into place), and loading refuses a file whose group or other permission
bits are set. Key bytes never appear in ``repr``, ``str`` or error messages. The PKCS#11
provider (:mod:`ehcmpi.crypto.pkcs11`) keeps the same document with every secret wrapped by a
key-encryption key that never leaves the token, through the same private-file functions.

Rotation (``ehcmpi keys rotate``, :func:`rotate_keyfile`):

- The **EHC root key does not rotate.** An EHC ID is a deterministic national identifier,
  printed on cards and held by other systems; under a new root key every patient would get a
  new EHC ID. Replacing it is a re-issuance of every card (``keys init --force``), not a
  rotation.
- The **blind-index key does not rotate.** Blind indexes are compared for equality: under a new
  key no stored index would match a lookup. Replacing it means re-indexing every row.
- The **data key rotates.** New ``encrypt_field`` ciphertexts use the new key and carry its id
  in a 10-byte prefix (``E5 4B ‖ id``, 8 bytes); the first data key of a key set (id =
  ``key_id``) writes no prefix, so everything sealed before the first rotation — and under a
  version-1 key file — keeps its exact bytes. Old data keys are kept to decrypt old data.
- The **QR protect key rotates.** New dynamic QR codes use the new key; old keys are kept so
  that codes issued just before a rotation still open (``qr_unseal_candidates``). A version-1
  file has no protect key of its own: it is derived from the root key as
  ``HMAC-SM3(root_key, "ehcmpi qr protect key v1")[:16]``, exactly as before, and written out
  explicitly when the file is rewritten as version 2, so issued QR codes stay valid.
- The **SM2 signing key pair rotates.** New signatures use the new pair; old pairs are kept to
  verify earlier signatures and to decrypt what was encrypted to them.

Rotation never deletes a key, and never changes ``key_id`` (the id of the key set, i.e. of the
root and index keys): each rotating key has its own id.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import pathlib
import stat
from collections.abc import Callable
from typing import Any, Final

from ehcmpi.crypto.errors import KeyFileError
from ehcmpi.crypto.keydoc import KEYFILE_VERSION, from_document, hex_opener, to_document
from ehcmpi.crypto.material import KeyMaterial, rotate

log = logging.getLogger(__name__)

__all__ = [
    "KEYFILE_VERSION",
    "KeyMaterial",
    "ensure_keyfile",
    "init_keyfile",
    "load_keyfile",
    "read_private_json",
    "rotate_keyfile",
    "write_private_json",
]

_INIT_HINT: Final = "run `ehcmpi keys init`"


def _hex(_role: str, raw: bytes) -> str:
    return raw.hex()


def init_keyfile(path: pathlib.Path, *, overwrite: bool = False) -> KeyMaterial:
    """Generate new keys and write them to ``path`` (mode 0600, atomically).

    Raises :class:`KeyFileError` if ``path`` exists and ``overwrite`` is false. Overwriting
    replaces the old keys: anything encrypted or indexed under them becomes unreadable.
    """
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise _exists_error(path)
    keys = KeyMaterial.generate()
    write_private_json(path, to_document(keys, _hex), overwrite=overwrite)
    return keys


def keep_replaced(path: pathlib.Path) -> pathlib.Path | None:
    """Before ``keys init --force`` replaces the key file at ``path``: a copy of it next to it
    (``<name>.replaced-<UTC time>``, mode 0600), so that the patients indexed and encrypted
    under it are not lost with it (the database refuses other keys, ``storage.key_check``).
    None if there is no file to replace."""
    path = pathlib.Path(path)
    if not path.exists():
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    kept = path.with_name(f"{path.name}.replaced-{stamp}")
    _write_private(kept, path.read_bytes(), overwrite=False)  # as it is, even if damaged
    return kept


def watched_keyfile(path: pathlib.Path) -> tuple[KeyMaterial, Callable[[], KeyMaterial | None]]:
    """The key file's keys, and :func:`watch` of it."""
    path = pathlib.Path(path)
    reread = watch(path, lambda: load_keyfile(path))  # before loading: no change slips by
    return load_keyfile(path), reread


def watch(path: pathlib.Path, load: Callable[[], KeyMaterial]) -> Callable[[], KeyMaterial | None]:
    """A function that returns ``load()`` once the file at ``path`` has changed since the
    last call (None while it has not): a running server takes the keys that ``keys rotate``
    added in another process (``SoftwareCryptoProvider``).  Keys that cannot be read then
    count as unchanged, with a warning: the keys in memory go on working."""
    seen = [_signature(path)]

    def reread() -> KeyMaterial | None:
        now = _signature(path)
        if now == seen[0]:
            return None
        seen[0] = now
        try:
            return load()
        except KeyFileError as exc:
            log.warning("密钥文件无法重新读取 (key file not re-read): %s", exc)
            return None

    return reread


def _signature(path: pathlib.Path) -> tuple[int, int, int] | None:
    """What changes when a key file is rewritten (atomically: a new inode)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def load_keyfile(path: pathlib.Path) -> KeyMaterial:
    """Read and validate the key file at ``path``; :class:`KeyFileError` on any problem."""
    path = pathlib.Path(path)
    return from_document(read_private_json(path), path, hex_opener(path))


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


def rotate_keyfile(
    path: pathlib.Path, *, data: bool = True, protect: bool = True, signing: bool = True
) -> KeyMaterial:
    """Rotate the chosen keys of the file at ``path`` (rewritten as version 2, atomically)."""
    path = pathlib.Path(path)
    doc = read_private_json(path)
    keys = rotate(
        from_document(doc, path, hex_opener(path)), data=data, protect=protect, signing=signing
    )
    write_private_json(path, to_document(keys, _hex, created=doc.get("created")), overwrite=True)
    return keys


def write_private_json(path: pathlib.Path, doc: dict[str, Any], *, overwrite: bool) -> None:
    """Write ``doc`` to ``path``: mode 0600 from the first byte, atomic, fsynced."""
    _write_private(path, (json.dumps(doc, indent=2) + "\n").encode("ascii"), overwrite=overwrite)


def _write_private(path: pathlib.Path, content: bytes, *, overwrite: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = _write_private_tmp(path, content)
    try:
        _publish(tmp, path, overwrite=overwrite)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)


def read_private_json(path: pathlib.Path) -> dict[str, Any]:
    """The JSON object in the owner-only file at ``path``; :class:`KeyFileError` otherwise."""
    text = _read_private(path)
    try:
        doc = json.loads(text)
    except ValueError:  # JSONDecodeError or bad UTF-8; its text would echo the keys
        raise KeyFileError(
            f"密钥文件格式错误，不是有效的 JSON: {path} (key file is not valid JSON)"
        ) from None
    if not isinstance(doc, dict):
        raise KeyFileError(f"密钥文件格式错误: {path} (key file must be a JSON object)")
    return doc


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
