"""Errors raised by the terminology package.

Covers look-ups in the code tables of guideline Appendix A (document types), GB/T 2261.1-2003
(gender) and GB/T 3304-1991 (ethnicity). A bad document *number* is not an error: validators
report it as data (see ``validators.DocumentCheck``).
"""

from __future__ import annotations


class UnknownCodeError(ValueError):
    """A code is not in the code table it was looked up in.

    The message is Chinese first with English beside it, for hospital staff.
    """

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


def unknown_code(code: str, what_zh: str, what_en: str) -> UnknownCodeError:
    """Build the standard message, e.g. "未知的证件类型代码 '07x' (unknown document type code)"."""
    return UnknownCodeError(f"未知的{what_zh} '{code}' (unknown {what_en})", code=code)
