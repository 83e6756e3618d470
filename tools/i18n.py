"""Refresh the message catalogs: extract German msgids, update the English catalog.

    python tools/i18n.py            # extract + update, then list untranslated msgids
    python tools/i18n.py --check    # exit 1 when a msgid has no English translation
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
POT = ROOT / "tracker/translations/messages.pot"
PO = ROOT / "tracker/translations/en/LC_MESSAGES/messages.po"
BIN = Path(sys.executable).parent


def untranslated() -> list[str]:
    with PO.open("rb") as fh:
        catalog = read_po(fh)
    missing = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def main() -> int:
    if "--check" not in sys.argv:
        subprocess.run([str(BIN / "pybabel"), "extract", "-F", "babel.cfg", "-k", "_l",
                        "-k", "lazy_gettext", "-o", str(POT), "--no-location", "--sort-output",
                        "--project", "tracker", "."], check=True, cwd=ROOT)
        subprocess.run([str(BIN / "pybabel"), "update", "-i", str(POT), "-d",
                        "tracker/translations", "-l", "en", "--no-fuzzy-matching",
                        "--ignore-obsolete"], check=True, cwd=ROOT)
    missing = untranslated()
    for msgid in missing:
        print(f"untranslated: {msgid!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
