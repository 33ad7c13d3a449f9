"""SM3 / SM4 crypto port, software provider and key custody (guideline §4.6 密码服务, §6.1).

- :mod:`ehcmpi.crypto.sm`: GB/T 32905-2016 SM3, HMAC-SM3, GB/T 32907-2016 SM4 (ECB, GCM);
- :mod:`ehcmpi.crypto.ports`: :class:`CryptoProvider`, the port the domain core depends on;
- :mod:`ehcmpi.crypto.software`: :class:`SoftwareCryptoProvider` and the EHC ID scheme of
  DESIGN.md;
- :mod:`ehcmpi.crypto.keys`: the 0600 JSON key file of the software provider;
- :mod:`ehcmpi.crypto.errors`: :class:`CryptoError`, :class:`KeyFileError`.
"""

from ehcmpi.crypto.errors import CryptoError, KeyFileError
from ehcmpi.crypto.keys import KeyMaterial, ensure_keyfile, init_keyfile, load_keyfile
from ehcmpi.crypto.ports import CryptoProvider
from ehcmpi.crypto.sm import (
    HmacSm3,
    Sm4Ecb,
    Sm4Gcm,
    hmac_sm3,
    sm3,
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
    "CryptoError",
    "CryptoProvider",
    "HmacSm3",
    "KeyFileError",
    "KeyMaterial",
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
    "sm3",
    "sm4_ecb_decrypt",
    "sm4_ecb_encrypt",
    "sm4_gcm_decrypt",
    "sm4_gcm_encrypt",
]
