"""``ehcmpi keys init | show | rotate | show-public`` (guideline §4.6 密码服务, §6.1 密钥管理).

The key set lives where ``[crypto] provider`` says: the ``[keys] file`` (software), or the
``[crypto.pkcs11] wrapped_key_file`` whose keys only the HSM's key-encryption key unwraps.
What rotates and what cannot is explained in :mod:`ehcmpi.crypto.keys`. No command prints,
logs or returns private key material: ``show`` and ``show-public`` print ids and SM2 public keys.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
from collections.abc import Callable
from typing import Any

from ehcmpi.bootstrap import pkcs11_config
from ehcmpi.crypto.keys import init_keyfile, keep_replaced, load_keyfile, rotate_keyfile
from ehcmpi.crypto.material import KeyMaterial
from ehcmpi.crypto.pkcs11 import (
    Pkcs11Config,
    Pkcs11CryptoProvider,
    init_wrapped_keyfile,
    rotate_wrapped_keyfile,
)
from ehcmpi.crypto.ports import PublicKeyInfo
from ehcmpi.crypto.software import SoftwareCryptoProvider
from ehcmpi.settings import ConfigError, Settings

Add = Callable[..., Any]
LoadSettings = Callable[[argparse.Namespace], Settings]


def _hsm(args: argparse.Namespace, settings: Settings) -> Pkcs11Config | None:
    if settings.crypto.provider != "pkcs11":
        return None
    config = pkcs11_config(settings)
    if args.file:
        config = dataclasses.replace(config, wrapped_key_file=pathlib.Path(args.file))
    return config


def _where(args: argparse.Namespace, settings: Settings, hsm: Pkcs11Config | None) -> str:
    if hsm is not None:
        return f"{hsm.wrapped_key_file} (PKCS#11 token {hsm.token_label}, KEK {hsm.kek_label})"
    return str(args.file or settings.keys.file)


def _public_info(args: argparse.Namespace, settings: Settings) -> PublicKeyInfo:
    hsm = _hsm(args, settings)
    if hsm is not None:
        provider = Pkcs11CryptoProvider(hsm)
        try:
            return provider.public_info()
        finally:
            provider.close()
    path = pathlib.Path(args.file or settings.keys.file)
    return SoftwareCryptoProvider(load_keyfile(path)).public_info()


def cmd_keys_init(args: argparse.Namespace, settings: Settings) -> None:
    hsm = _hsm(args, settings)
    path = hsm.wrapped_key_file if hsm else pathlib.Path(args.file or settings.keys.file)
    if args.if_missing and path.exists():
        key_id = _public_info(args, settings).key_id
        print(f"密钥文件已存在 (key file exists): {path} key_id={key_id}")
        return
    if args.force and (kept := keep_replaced(path)) is not None:
        print(f"原密钥文件已另存 (the replaced key file is kept, mode 0600): {kept}")
    if hsm is None:
        if args.from_keyfile:
            raise ConfigError(
                '--from-keyfile 仅用于 [crypto] provider = "pkcs11" '
                "(--from-keyfile moves a software key file into the HSM)"
            )
        keys = init_keyfile(path, overwrite=args.force)
        print(f"已生成密钥文件 (key file created, mode 0600): {path} key_id={keys.key_id}")
        return
    source: KeyMaterial | None = None
    if args.from_keyfile:
        source = load_keyfile(pathlib.Path(args.from_keyfile))
    keys = init_wrapped_keyfile(hsm, overwrite=args.force, keys=source)
    origin = f"imported from {args.from_keyfile}" if source else "generated"
    print(
        f"已生成 HSM 包装密钥文件 (wrapped key file created, mode 0600; keys {origin}): "
        f"{_where(args, settings, hsm)} key_id={keys.key_id}"
    )


def cmd_keys_show(args: argparse.Namespace, settings: Settings) -> None:
    info = _public_info(args, settings)
    print(f"key file: {_where(args, settings, _hsm(args, settings))}")
    print(f"key_id: {info.key_id}")
    print(f"provider: {info.provider}")
    _print_ids(info)


def _print_ids(info: PublicKeyInfo) -> None:
    for kind, ids in (
        ("data keys", info.data_key_ids),
        ("protect keys", info.protect_key_ids),
        ("signing keys", tuple(key_id for key_id, _ in info.signing_keys)),
    ):
        print(f"{kind}: {_ids(ids)}")


def _ids(ids: tuple[str, ...]) -> str:
    if not ids:
        return "(none)"
    retired = f"; retired {', '.join(ids[1:])}" if ids[1:] else ""
    return f"current {ids[0]}{retired}"


def cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> None:
    kinds = {"data": args.data, "protect": args.protect, "signing": args.signing}
    if not any(kinds.values()):
        kinds = dict.fromkeys(kinds, True)
    hsm = _hsm(args, settings)
    if hsm is not None:
        rotate_wrapped_keyfile(hsm, **kinds)
    else:
        rotate_keyfile(pathlib.Path(args.file or settings.keys.file), **kinds)
    rotated = ", ".join(kind for kind, chosen in kinds.items() if chosen)
    print(f"已轮换密钥 (rotated: {rotated}); 旧密钥保留用于解密和验签 (old keys kept)")
    _print_ids(_public_info(args, settings))


def cmd_keys_show_public(args: argparse.Namespace, settings: Settings) -> None:
    info = _public_info(args, settings)
    print(f"key_id: {info.key_id}")
    _print_ids(info)
    for index, (key_id, pem) in enumerate(info.signing_keys):
        state = "current" if index == 0 else "retired"
        print(f"\n# SM2 signing key {key_id} ({state})")
        print(pem, end="")


def add_keys(commands: Any, add: Add, load_settings: LoadSettings) -> None:
    """Register ``ehcmpi keys …`` on the main parser (see :func:`ehcmpi.cli.build_parser`)."""

    def bound(func: Callable[[argparse.Namespace, Settings], None]) -> Callable[..., None]:
        return lambda args: func(args, load_settings(args))

    keys = commands.add_parser("keys", help="key set (密钥)").add_subparsers(
        dest="keys", required=True
    )
    file_help = "key file (default: [keys] file, or [crypto.pkcs11] wrapped_key_file)"
    init = add("init", bound(cmd_keys_init), "create the key set (mode 0600)", keys)
    init.add_argument("--file", help=file_help)
    init.add_argument(
        "--force", action="store_true", help="replace an existing key file (a copy is kept)"
    )
    init.add_argument("--if-missing", action="store_true", help="do nothing if it exists")
    init.add_argument(
        "--from-keyfile", help="pkcs11: wrap this software key file's keys instead of new ones"
    )
    add("show", bound(cmd_keys_show), "show key ids (never the keys)", keys).add_argument(
        "--file", help=file_help
    )
    rotate = add("rotate", bound(cmd_keys_rotate), "new data/protect/SM2 keys; old kept", keys)
    rotate.add_argument("--file", help=file_help)
    rotate.add_argument("--data", action="store_true", help="the data key (encrypt_field)")
    rotate.add_argument("--protect", action="store_true", help="the QR protect key")
    rotate.add_argument("--signing", action="store_true", help="the SM2 key pair")
    public = add("show-public", bound(cmd_keys_show_public), "key ids and SM2 public keys", keys)
    public.add_argument("--file", help=file_help)
