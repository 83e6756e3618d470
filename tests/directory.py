"""A real OpenLDAP server for the sign-in tests: python-ldap's `slapdtest` starts Debian's
slapd on a free loopback port with a generated directory, StartTLS with its own test CA."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

PASSWORD = "Dienst-Passwort-2026"  # noqa: S105 - the test directory's people
SERVICE_PASSWORD_ENV = "TEST_LDAP_BIND_PASSWORD"


def _missing(reason: str):
    # CI installs slapd and python-ldap (.ci/run): there a missing piece is a failure.
    if os.environ.get("TRACKER_REQUIRE_LDAP"):
        pytest.fail(reason)
    pytest.skip(reason)


def start_slapd():
    try:
        import slapdtest
    except ImportError:
        _missing("python-ldap is not installed (apt-get install libldap2-dev libsasl2-dev, "
                 "then make test)")
    if not (shutil.which("slapd") or os.path.exists("/usr/sbin/slapd")):
        _missing("OpenLDAP's slapd is not installed (apt-get install slapd ldap-utils)")

    class Directory(slapdtest.SlapdObject):
        openldap_schema_files = ("core.ldif", "cosine.ldif", "inetorgperson.ldif")
        TMPDIR = tempfile.gettempdir()

        @property
        def people(self) -> str:
            return f"ou=people,{self.suffix}"

        def add_person(self, uid: str, *, mail: str, given: str, sn: str,
                       password: str = PASSWORD, disabled: bool = False) -> str:
            dn = f"uid={uid},{self.people}"
            lines = [f"dn: {dn}", "objectClass: inetOrgPerson", f"uid: {uid}",
                     f"cn: {given} {sn}", f"sn: {sn}", f"givenName: {given}", f"mail: {mail}",
                     f"userPassword: {password}", "employeeNumber: 4711"]
            if disabled:
                lines.append("employeeType: disabled")
            self.ldapadd("\n".join(lines) + "\n")
            return dn

        def modify(self, dn: str, attribute: str, value: str) -> None:
            self.ldapmodify(f"dn: {dn}\nchangetype: modify\nreplace: {attribute}\n"
                            f"{attribute}: {value}\n")

        def disable(self, uid: str) -> None:
            self.ldapmodify(f"dn: uid={uid},{self.people}\nchangetype: modify\n"
                            "add: employeeType\nemployeeType: disabled\n")

    server = Directory()
    server.start()
    server.ldapadd(
        f"dn: {server.suffix}\nobjectClass: dcObject\nobjectClass: organization\n"
        f"dc: slapd-test\no: Umweltbundesamt\n\n"
        f"dn: {server.people}\nobjectClass: organizationalUnit\nou: people\n"
    )
    return server


def provider_toml(server, *, name: str = "uba-ldap", organisation: str = "UBA",
                  url: str | None = None, ca_file: str | None = None,
                  extra: str = "") -> str:
    """One [[providers]] entry for the test directory, as an administrator writes it."""
    return f"""
[[providers]]
name = "{name}"
organisation = "{organisation}"
title = "Umweltbundesamt"
type = "ldap"
url = "{url or server.ldap_uri.rstrip('/')}"
starttls = true
ca_file = "{ca_file or server.cafile}"
timeout = 3
base_dn = "{server.people}"
login_attribute = "uid"
user_filter = "(&(objectClass=inetOrgPerson)(!(employeeType=disabled)))"
bind_dn = "{server.root_dn}"
bind_password_env = "{SERVICE_PASSWORD_ENV}"
{extra}
"""
