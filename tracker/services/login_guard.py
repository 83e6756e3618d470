"""Login protection: failed logins counted per address and per (account, address) in the
database, so that the limit holds across every worker and server (README: Anmeldeschutz)."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from limits import parse
from sqlalchemy import delete, func, select

from tracker.extensions import db
from tracker.models import FailedLogin, utcnow


def _limit() -> tuple[int, timedelta]:
    item = parse(current_app.config["LOGIN_RATE_LIMIT"])
    return item.amount, timedelta(seconds=item.get_expiry())


def _failures(since, **where) -> int:
    query = select(func.count(FailedLogin.id)).where(FailedLogin.attempted_at > since)
    for column, value in where.items():
        query = query.where(getattr(FailedLogin, column) == value)
    return db.session.scalar(query) or 0


def is_blocked(login: str, address: str) -> bool:
    """Whether a login attempt for `login` from `address` is refused before the password
    is checked.

    An address that failed too often (for any accounts) is refused; so is an address that
    failed too often for this account. While an account is under attack from elsewhere (its
    failures from all addresses reach the limit), only addresses that have not failed for it
    are let through: the owner at her own desk still signs in."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return False
    amount, window = _limit()
    since = utcnow() - window
    if _failures(since, address=address) >= amount:
        return True
    pair = _failures(since, login=login, address=address)
    if pair >= amount:
        return True
    return pair > 0 and _failures(since, login=login) >= amount


def record_failure(login: str, address: str) -> None:
    """Note a failed login and forget the ones older than the window."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    _amount, window = _limit()
    now = utcnow()
    db.session.execute(delete(FailedLogin).where(FailedLogin.attempted_at <= now - window))
    db.session.add(FailedLogin(login=login[:254], address=address[:64], attempted_at=now))
    db.session.flush()


def forget_failures(login: str, address: str) -> None:
    """A correct password from this address: its earlier mistakes for the account are done."""
    db.session.execute(delete(FailedLogin).where(
        FailedLogin.login == login, FailedLogin.address == address))
