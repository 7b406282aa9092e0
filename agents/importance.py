"""How much the memory of a page matters, the same for every policy that browses.

Importance (0 to 1) decides how long a memory resists forgetting and how often it is
retrieved; the LLM actions and the utility policy score a page's memories alike, so that
runs under different policies remember in the same way.
"""

from __future__ import annotations

NOTHING_APPEALED_IMPORTANCE = 0.2
"""Importance of "nothing on this page appealed to me": a page watched past is forgettable."""


def watch_importance(rating: float) -> float:
    """Importance of having watched an item rated ``rating`` (1–5 stars).

    A lukewarm 3/5 is worth 0.3 and every star away from it 0.35 more, so a 1/5 or a 5/5
    (1.0) is remembered best: strong opinions are the ones that stick.
    """
    return 0.3 + 0.35 * abs(rating - 3)
