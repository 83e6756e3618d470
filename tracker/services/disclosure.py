"""The privacy threshold: small counts of another employer's people are not shown.

An HR lead sees her own organisation's figures exactly. Of the other partners she sees only
counts of at least `PRIVACY_MIN_COUNT` (default 5); a smaller one is shown as "< 5", so that
nobody learns that two colleagues of another administration went to a given workshop.
Withholding one cell is not enough where a total is shown beside it: the total minus the
visible parts would give it back. So among the parts that add up to a total, the smallest
visible ones are withheld too until the withheld together reach the threshold (and are at
least two); where that is impossible the total itself is shown only as a bound. This is the
primary and secondary cell suppression of official statistics.

Admins and the coordinators of the selected series see exact figures.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from flask import current_app


@dataclass(frozen=True)
class Withheld:
    """A count that is not shown: only that it is below `below`."""

    below: int

    def __str__(self) -> str:
        return f"< {self.below}"


Shown = int | Withheld


def threshold() -> int:
    return max(int(current_app.config["PRIVACY_MIN_COUNT"]), 1)


def is_small(value: int, limit: int) -> bool:
    # Zero is shown: that nobody of an organisation took part says nothing about a person.
    return 0 < value < limit


def protect_parts(own: int, others: Mapping[Hashable, int], *, exact: bool,
                  limit: int | None = None) -> tuple[dict[Hashable, Shown], Shown]:
    """The parts of other organisations as they may be shown, and their total with `own`.

    `own` is the viewer's own organisation's part (always exact, she knows it). Returns the
    other parts (a value or Withheld) and the total (own plus all others)."""
    total = own + sum(others.values())
    if exact:
        return dict(others), total
    limit = threshold() if limit is None else limit
    withheld = {key for key, value in others.items() if is_small(value, limit)}
    if withheld:
        # Secondary suppression: the withheld together must not be derivable as a small sum.
        visible = sorted((value, str(key), key) for key, value in others.items()
                         if key not in withheld)
        for _value, _name, key in visible:
            if len(withheld) >= 2 and sum(others[k] for k in withheld) >= limit:
                break
            withheld.add(key)
    hidden = sum(others[k] for k in withheld)
    shown: dict[Hashable, Shown] = {
        key: Withheld(limit) if key in withheld else value for key, value in others.items()}
    if withheld and (len(withheld) < 2 or hidden < limit):
        return shown, Withheld(total - hidden + limit)
    return shown, total


def protect(value: int, *, exact: bool, limit: int | None = None) -> Shown:
    """One count of another organisation's people, with no total beside it."""
    limit = threshold() if limit is None else limit
    return Withheld(limit) if not exact and is_small(value, limit) else value
