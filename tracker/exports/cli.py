"""flask export ...: the reports as files, for scheduled jobs (administrator scope)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click
from flask.cli import AppGroup

from tracker.exports.participation import write_participation_workbook
from tracker.services import ServiceError, reports

export_group = AppGroup("export", help="Export reports as Excel workbooks.")


@export_group.command("participation")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The .xlsx file to write (replaced if it exists).")
@click.option("--from", "date_from", default="", help="First day, YYYY-MM-DD (default: open).")
@click.option("--to", "date_to", default="", help="Last day, YYYY-MM-DD (default: open).")
@click.option("--series", default="", help="Only this series (id).")
@click.option("--organisation", default="", help="Only the people of this organisation (id).")
def participation_command(out: Path, date_from: str, date_to: str, series: str,
                          organisation: str) -> None:
    """Write the participation workbook (all organisations unless --organisation)."""
    if out.suffix.lower() != ".xlsx":
        raise click.BadParameter("the file name must end in .xlsx", param_hint="--out")
    folder = out.resolve().parent
    if not folder.is_dir():
        raise click.BadParameter(f"the folder {str(folder)!r} does not exist", param_hint="--out")
    raw = {"from": date_from, "to": date_to, "series": series, "organisation": organisation}
    try:
        filters = reports.parse_filters(raw, None)
    except reports.FilterErrors as exc:
        raise click.UsageError(" ".join(exc.english)) from exc
    except ServiceError as exc:  # pragma: no cover - the command line has full scope
        raise click.ClickException(exc.message) from exc

    # Written beside the target and renamed at the end: the file at --out is either the
    # complete new workbook or untouched, never half written.
    handle, partial = tempfile.mkstemp(prefix=".export-", suffix=".xlsx.part", dir=folder)
    os.close(handle)
    try:
        result = write_participation_workbook(filters, partial, created_by="Kommandozeile")
        os.replace(partial, out)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    marks = result.rows.get("Teilnahmen", 0)
    click.echo(
        f"Wrote {out}: {result.figures.participations} participations "
        f"({marks} attendance marks, {result.rows.get('Personen', 0)} people)."
    )
