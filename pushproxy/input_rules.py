"""The rules every value a caller gives obeys, whichever door it came through (the CLI's spec file, the HTTP API,
the console): one parser for JSON documents and one check for strings. Field-specific rules (a domain's DNS
labels, a user name's characters) are in pushproxy.spec and the models it builds, written for where each value
goes; these are the ones that hold for all of them.

- JSON: bounded size and nesting, no NaN/Infinity (not JSON, and not a number any field can use).
- Strings in a spec: no control, format (zero-width, bidirectional), separator or unassigned character; and NFKC
  normalisation must not change them (`fabri\u212aam.com`, with a Kelvin sign, reads as fabrikam.com but isn't).
- Free text (a comment): may hold `;` or a line break, never a bidirectional or invisible control.
Errors are SpecError naming the field; a value is never echoed, only the offending code point.
"""

from __future__ import annotations

import json
import math
import unicodedata
from typing import Any

from pushproxy.errors import SpecError

MAX_DOCUMENT_BYTES = 64 * 1024
MAX_DEPTH = 16
MAX_COMMENT = 2000
# Controls (Cc), format characters (Cf: zero-width, bidirectional overrides and isolates), line and paragraph
# separators (Zl, Zp), private use, surrogates and unassigned code points.
_REFUSED = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})


class TooLarge(SpecError):
    """A document over the size bound (the API answers 413)."""


def parse_json(data: bytes | str, field: str = "body", *, max_bytes: int = MAX_DOCUMENT_BYTES) -> Any:
    """Parse a JSON document within the bounds; SpecError naming `field` otherwise."""
    size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
    if size > max_bytes:
        raise TooLarge(field, f"is larger than {max_bytes} bytes")

    try:
        # NaN and Infinity are not JSON; Python's parser reads them anyway, as floats: check_finite then refuses
        # them naming the field they are in.
        value = json.loads(data)
    except RecursionError:
        raise SpecError(field, f"is nested more than {MAX_DEPTH} levels deep") from None
    except json.JSONDecodeError as exc:
        raise SpecError(field, f"is not valid JSON (at line {exc.lineno} column {exc.colno})") from None
    except (ValueError, UnicodeDecodeError):
        raise SpecError(field, "is not valid JSON (UTF-8)") from None
    check_depth(value, field)
    check_finite(value, "")
    return value


def check_finite(value: Any, path: str) -> None:
    """SpecError naming the first number that is NaN or infinite (1e999 parses as infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(path or "body", "must be a finite number (NaN and Infinity are not JSON numbers)")
    if isinstance(value, dict):
        for key, item in value.items():
            check_finite(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_finite(item, f"{path}[{index}]")


def check_depth(value: Any, field: str, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise SpecError(field, f"is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        for item in value.values():
            check_depth(item, field, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_depth(item, field, depth + 1)


def _shown(char: str) -> str:
    return f"U+{ord(char):04X}"


def check_name_text(value: str, field: str) -> str:
    """A string that names or addresses something: no invisible or control character, NFKC-stable."""
    for char in value:
        if unicodedata.category(char) in _REFUSED:
            raise SpecError(field, f"must not contain {_shown(char)} (a control, invisible or bidirectional character)")
    if unicodedata.normalize("NFKC", value) != value:
        changed = next((c for c in value if unicodedata.normalize("NFKC", c) != c), "?")
        raise SpecError(field, f"must be in Unicode normal form NFKC: {_shown(changed)} stands for other characters")
    return value


# Characters that mean something to a shell or PowerShell (quoting, variables, separators, pipes, redirection):
# an address (a URL, a file path) never needs them, so a value holding one is a mistake or an attack.
_ADDRESS_REFUSED = frozenset("`$;|&<>'\"")


def check_address(value: str, field: str) -> str:
    """A URL or a file path: besides check_name_text, none of `` ` $ ; | & < > ' " ``."""
    for char in value:
        if char in _ADDRESS_REFUSED:
            raise SpecError(field, f"must not contain {char!r} (a URL or a path never needs it)")
    return value


def check_strings(value: Any, path: str) -> None:
    """Every string (and key) of a document obeys `check_name_text`; numbers are finite."""
    if isinstance(value, str):
        check_name_text(value, path)
    elif isinstance(value, bool) or value is None or isinstance(value, int):
        return
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise SpecError(path, "must be a finite number")
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            check_name_text(str(key), where)
            check_strings(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_strings(item, f"{path}[{index}]")


def comment(value: Any, field: str = "comment") -> str | None:
    """Free text kept in the audit (never sent to Exchange or Graph): any printable character, `;` included, and
    line breaks; no bidirectional or invisible control (it would make the audit read otherwise than it says)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise SpecError(field, "must be a string or null")
    if len(value) > MAX_COMMENT:
        raise SpecError(field, f"must be at most {MAX_COMMENT} characters")
    for char in value:
        if char in "\n\t":
            continue
        if unicodedata.category(char) in _REFUSED:
            raise SpecError(field, f"must not contain {_shown(char)} (a control, invisible or bidirectional character)")
    return value
