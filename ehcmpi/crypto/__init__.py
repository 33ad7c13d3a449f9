"""SM2 / SM3 / SM4 crypto port, providers and key custody (guideline §4.6 密码服务, §6.1).

- :mod:`ehcmpi.crypto.sm`: GB/T 32905-2016 SM3, HMAC-SM3, GB/T 32907-2016 SM4 (ECB, CBC, GCM);
- :mod:`ehcmpi.crypto.sm2`: GB/T 32918-2016 SM2 signatures (with the signer's ID) and
  encryption, in GmSSL through ``gmssl-pyx``; PEM public keys as OpenSSL writes them;
- :mod:`ehcmpi.crypto.ports`: :class:`CryptoProvider`, the port the domain core depends on;
- :mod:`ehcmpi.crypto.software`: :class:`SoftwareCryptoProvider` and the EHC ID scheme of
  DESIGN.md;
- :mod:`ehcmpi.crypto.pkcs11`: the HSM provider (PKCS#11; SoftHSM2 in tests), keys wrapped by a
  key-encryption key that never leaves the token;
- :mod:`ehcmpi.crypto.keys`: the 0600 key file, and what rotates (and what cannot);
  :mod:`ehcmpi.crypto.material` and :mod:`ehcmpi.crypto.keydoc` its keys and JSON document;
- :mod:`ehcmpi.crypto.errors`: :class:`CryptoError`, :class:`KeyFileError` and its kinds.
"""

from ehcmpi.crypto.errors import CryptoError, HsmError, KeyFileError, MissingKeyError
from ehcmpi.crypto.keys import (
    KeyMaterial,
    ensure_keyfile,
    init_keyfile,
    load_keyfile,
    rotate_keyfile,
)
from ehcmpi.crypto.ports import DEFAULT_SM2_USER_ID, CryptoProvider, PublicKeyInfo
from ehcmpi.crypto.sm import (
    HmacSm3,
    Sm4Ecb,
    Sm4Gcm,
    hmac_sm3,
    sm3,
    sm4_cbc_decrypt,
    sm4_cbc_encrypt,
    sm4_ecb_decrypt,
    sm4_ecb_encrypt,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)
from ehcmpi.crypto.software import (
    SoftwareCryptoProvider,
    compute_ehc_id,
    derive_user_key,
    diversification_factor,
    new_mpi_id,
)

__all__ = [
    "DEFAULT_SM2_USER_ID",
    "CryptoError",
    "CryptoProvider",
    "HmacSm3",
    "HsmError",
    "KeyFileError",
    "KeyMaterial",
    "MissingKeyError",
    "PublicKeyInfo",
    "Sm4Ecb",
    "Sm4Gcm",
    "SoftwareCryptoProvider",
    "compute_ehc_id",
    "derive_user_key",
    "diversification_factor",
    "ensure_keyfile",
    "hmac_sm3",
    "init_keyfile",
    "load_keyfile",
    "new_mpi_id",
    "rotate_keyfile",
    "sm3",
    "sm4_cbc_decrypt",
    "sm4_cbc_encrypt",
    "sm4_ecb_decrypt",
    "sm4_ecb_encrypt",
    "sm4_gcm_decrypt",
    "sm4_gcm_encrypt",
]
