"""The domain: patients, identifiers, EHC accounts, registration, maintenance, query, audit.

Imports only the standard library, ``ehcmpi.terminology`` and the ``ehcmpi.crypto`` ports
(DESIGN.md "Layers"); ``ehcmpi.storage`` implements the repository ports of ``core.ports``.
"""
