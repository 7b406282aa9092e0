"""One sanitiser for every piece of data that reaches a prompt.

Catalogue text, user profiles, genres, memories and model-written text are data, never
instructions. Each field goes through ``safe`` on its way into a prompt, which:

* removes ANSI escape sequences, control characters (NUL, ``\\r``, NEL, ...) and the
  bidirectional controls that can make text read differently from what it holds;
* turns line and paragraph separators (``\\n``, U+2028, U+2029) and tabs into spaces, so
  a field cannot start a line of its own that looks like part of the prompt;
* neutralises the characters that could close a fence or a quotation (``<`` ``>`` and
  ``"`` become ``(`` ``)`` and ``'``);
* truncates to a stated length (``LIMITS``), with an ellipsis.

Other text (right-to-left scripts, emoji, accents) passes unchanged. The work per field is
bounded: a 100 KB title costs no more than one of ``4 × limit`` characters.
"""

from __future__ import annotations

import re

LIMITS = {
    "title": 200,
    "genre": 40,
    "description": 300,
    "note": 160,
    "name": 60,
    "field": 200,
    "taste": 400,
    "memory": 300,
    "message": 200,
}
"""Characters kept per kind of field."""

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_SPACES = "\t\n\x0b\x0c\r\x85\u2028\u2029"
_BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_TABLE = {
    **{c: None for c in list(range(0x00, 0x20)) + list(range(0x7F, 0xA0))},
    **{ord(c): " " for c in _SPACES},
    **{ord(c): None for c in _BIDI},
    ord("<"): "(",
    ord(">"): ")",
    ord('"'): "'",
}


def safe(text: object, limit: int) -> str:
    """``text`` made safe to quote in a prompt, at most ``limit`` characters."""
    raw = str(text)[: 4 * limit + 64]
    cleaned = " ".join(_ANSI.sub("", raw).translate(_TABLE).split())
    if len(cleaned) <= limit:
        return cleaned
    return cleaned[: max(limit - 1, 0)].rstrip() + "…"
