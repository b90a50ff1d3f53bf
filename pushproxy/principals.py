"""People's names, as approvals, requests and the registry compare them.

A name is compared in one canonical form: NFKC, then case-folded, so that `Alice`, `ALICE` and `Ａｌｉｃｅ`
(full-width) are one person, as Entra ID treats user principal names case-insensitively. A name that holds an
invisible or bidirectional control character (a zero-width space, U+202E, a line separator) is refused outright,
never cleaned: `alice\u200b` must not pass as someone other than `alice`, nor read as "alice" in an audit.
"""

from __future__ import annotations

import unicodedata

MAX_PRINCIPAL = 256
# Unicode categories refused anywhere in a name: controls (Cc), format characters (Cf: zero-width joiners and
# spaces, the bidirectional overrides and isolates, the soft hyphen), line and paragraph separators (Zl, Zp),
# private use and unassigned code points, and surrogates.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs"})


class PrincipalError(ValueError):
    """A name that can't be a principal's; the message says why without echoing the whole value."""


def canonical_principal(name: object, field: str = "principal") -> str:
    """The canonical form of a person's name, or PrincipalError naming `field` and the reason."""
    if not isinstance(name, str):
        raise PrincipalError(f"{field}: must be a string")
    stripped = name.strip()
    if not stripped:
        raise PrincipalError(f"{field}: must not be empty")
    if len(stripped) > MAX_PRINCIPAL:
        raise PrincipalError(f"{field}: must be at most {MAX_PRINCIPAL} characters")
    for char in stripped:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise PrincipalError(f"{field}: must not contain U+{ord(char):04X} (an invisible or control character)")
    return unicodedata.normalize("NFKC", stripped).casefold()


def same_principal(a: str, b: str) -> bool:
    """Whether two valid names are the same person."""
    return canonical_principal(a) == canonical_principal(b)
