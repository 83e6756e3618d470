"""Signing in with the partners' own directories, through Flask-Multipass.

Each partner organisation may bring its own directory. An administrator lists them in a TOML
file named by AUTH_CONFIG, one `[[providers]]` entry each (README, "Sign-in with the
partners' accounts"). This module reads that file, checks each entry and hands the good ones
to Flask-Multipass as an auth provider and an identity provider of the same name. A broken
entry is logged with its reason and left out: tracker starts, and every other provider and
the local passwords keep working.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, current_app

from tracker.extensions import multipass

log = logging.getLogger("tracker.sign_in")

# What Flask-Multipass hands on from a directory entry to tracker.
IDENTITY_KEYS = ("first_name", "last_name", "email", "employee_number")

# Sensible attribute names per kind of directory; an entry's [providers.attributes] wins.
ATTRIBUTES = {
    "openldap": {
        "first_name": "givenName",
        "last_name": "sn",
        "email": "mail",
        "employee_number": "employeeNumber",
    },
    "ad": {
        "first_name": "givenName",
        "last_name": "sn",
        "email": "mail",
        "employee_number": "employeeID",
    },
}
# Who may sign in: people, and in Active Directory only accounts that are not disabled
# (bit 2 of userAccountControl). A person the filter no longer finds cannot sign in, and
# the directory sync deactivates her tracker account.
USER_FILTERS = {
    "openldap": "(objectClass=inetOrgPerson)",
    "ad": (
        "(&(objectClass=user)(objectCategory=person)"
        "(!(userAccountControl:1.2.840.113556.1.4.803:=2)))"
    ),
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")


class ProviderError(ValueError):
    """An AUTH_CONFIG entry tracker cannot use; the message says why (for the log)."""


@dataclass(frozen=True)
class Provider:
    name: str
    organisation: str  # the organisation's short name in tracker
    type: str
    title: str
    # False: people of this organisation (except administrators) sign in only through it.
    local_passwords: bool
    ldap: dict = field(default_factory=dict, repr=False)  # holds the bind password
    attributes: dict = field(default_factory=dict)


def _provider(entry: dict) -> Provider:
    name = str(entry.get("name", ""))
    if not _NAME.match(name):
        raise ProviderError("name must be lower-case letters, digits and hyphens")
    organisation = str(entry.get("organisation", "")).strip()
    if not organisation:
        raise ProviderError("organisation (the organisation's short name) is missing")
    kind = entry.get("type")
    if kind == "oidc":
        raise ProviderError("type 'oidc' is not supported yet (only 'ldap')")
    if kind != "ldap":
        raise ProviderError(f"type must be 'ldap', not {kind!r}")
    url = str(entry.get("url", ""))
    scheme = urlsplit(url).scheme
    starttls = bool(entry.get("starttls", False))
    if scheme not in ("ldap", "ldaps") or not urlsplit(url).hostname:
        raise ProviderError("url must be ldaps://host[:port] or ldap://host[:port]")
    if scheme == "ldap" and not starttls and not entry.get("allow_plain", False):
        raise ProviderError(
            "url is plain ldap:// without starttls = true; set allow_plain = true to accept "
            "passwords in clear text"
        )
    base_dn = str(entry.get("base_dn", "")).strip()
    if not base_dn:
        raise ProviderError("base_dn is missing")
    schema = entry.get("schema") or (
        "ad" if entry.get("login_attribute") == "sAMAccountName" else "openldap"
    )
    if schema not in ATTRIBUTES:
        raise ProviderError("schema must be 'openldap' or 'ad'")
    bind_dn = str(entry.get("bind_dn", ""))
    bind_password = ""
    if bind_dn:
        variable = str(entry.get("bind_password_env", ""))
        bind_password = os.environ.get(variable, "") if variable else ""
        if not bind_password:
            raise ProviderError(
                f"bind_dn is set but the environment variable {variable or '(bind_password_env)'}"
                " holding its password is empty"
            )
    attributes = dict(ATTRIBUTES[schema])
    attributes.update({k: str(v) for k, v in entry.get("attributes", {}).items() if k in attributes})
    ca_file = entry.get("ca_file")
    if ca_file and not Path(ca_file).is_file():
        raise ProviderError(f"ca_file {ca_file} does not exist")
    return Provider(
        name=name,
        organisation=organisation,
        type="ldap",
        title=str(entry.get("title") or organisation),
        local_passwords=bool(entry.get("local_passwords", True)),
        attributes=attributes,
        ldap={
            "uri": url,
            "bind_dn": bind_dn,
            "bind_password": bind_password,
            "starttls": starttls,
            "verify_cert": bool(entry.get("verify_cert", True)),
            # None: the system's CA store.
            "cert_file": ca_file or None,
            "timeout": float(entry.get("timeout", 5)),
            "uid": str(entry.get("login_attribute", "mail")),
            "user_base": base_dn,
            "user_filter": str(entry.get("user_filter") or USER_FILTERS[schema]),
            "page_size": 500,
        },
    )


def read_providers(path: str | os.PathLike) -> list[Provider]:
    """The usable providers of the file; each unusable one is logged and left out."""
    try:
        with open(path, "rb") as file:
            entries = tomllib.load(file).get("providers", [])
    except (OSError, tomllib.TOMLDecodeError) as exc:
        log.error("AUTH_CONFIG %s cannot be read: %s; only local passwords work", path, exc)
        return []
    providers: list[Provider] = []
    for number, entry in enumerate(entries, start=1):
        label = (entry.get("name") if isinstance(entry, dict) else None) or f"#{number}"
        try:
            if not isinstance(entry, dict):
                raise ProviderError("is not a table")
            provider = _provider(entry)
            if any(p.name == provider.name for p in providers):
                raise ProviderError("a provider of this name is listed earlier")
        except ProviderError as exc:
            log.error("sign-in provider %s in %s is left out: %s", label, path, exc)
            continue
        providers.append(provider)
    return providers


def _ldap_available() -> bool:
    try:
        import ldap  # noqa: F401  (python-ldap, the optional extra "ldap")
    except ImportError:
        return False
    return True


def init_app(app: Flask) -> None:
    providers = read_providers(app.config["AUTH_CONFIG"]) if app.config["AUTH_CONFIG"] else []
    if providers and not _ldap_available():
        log.error(
            "AUTH_CONFIG lists LDAP providers but python-ldap is not installed "
            "(pip install -e '.[ldap]', which needs libldap2-dev and libsasl2-dev); "
            "only local passwords work"
        )
        providers = []
    if providers:
        import ldap

        # Bounded waits for a directory that does not answer: its people get a clear
        # message within seconds and local login goes on working.
        ldap.set_option(ldap.OPT_NETWORK_TIMEOUT, max(p.ldap["timeout"] for p in providers))
    app.extensions["tracker.providers"] = {p.name: p for p in providers}
    app.config["MULTIPASS_AUTH_PROVIDERS"] = {
        p.name: {"type": "ldap", "title": p.title, "ldap": dict(p.ldap)} for p in providers
    }
    app.config["MULTIPASS_IDENTITY_PROVIDERS"] = {
        p.name: {
            "type": "ldap",
            "ldap": dict(p.ldap),
            "mapping": dict(p.attributes),
            "identity_info_keys": list(IDENTITY_KEYS),
        }
        for p in providers
    }
    app.config["MULTIPASS_PROVIDER_MAP"] = {p.name: p.name for p in providers}
    app.config["MULTIPASS_IDENTITY_INFO_KEYS"] = list(IDENTITY_KEYS)
    # tracker's own login page drives the providers; Multipass adds no routes of its own.
    app.config["MULTIPASS_LOGIN_URLS"] = None
    app.config["MULTIPASS_SUCCESS_ENDPOINT"] = "main.index"
    multipass.init_app(app)


def providers() -> list[Provider]:
    return list(current_app.extensions["tracker.providers"].values())


def provider(name: str | None) -> Provider | None:
    return current_app.extensions["tracker.providers"].get(name or "")
