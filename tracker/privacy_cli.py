"""flask retention: anonymise people who left longer ago than the retention period."""

from __future__ import annotations

import click

from tracker.extensions import db
from tracker.services import ServiceError, privacy
from tracker.timeutil import to_local


@click.command("retention")
@click.option("--older-than", "years", required=True, type=click.IntRange(min=1, max=100),
              metavar="YEARS", help="Retention period in whole years (at least 1).")
@click.option("--dry-run", is_flag=True, help="List who would be anonymised; change nothing.")
def retention_command(years: int, dry_run: bool) -> None:
    """Anonymise deactivated people whose last activity is older than YEARS years.

    Last activity is the latest of: account created, any change to one of their enrolments,
    the start of any session they were enrolled in, any attendance mark. Active accounts and
    admins are never touched. Enrolments and attendance marks are kept, so counts stay right.
    Exit code 0 on success (also when nobody is due), 1 on an error.
    """
    try:
        if dry_run:
            candidates = privacy.retention_candidates(years)
            db.session.rollback()
        else:
            candidates = privacy.apply_retention(years)
            db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    verb = "Would anonymise" if dry_run else "Anonymised"
    if not candidates:
        click.echo(f"Nobody is due: no deactivated person's last activity is older than {years} years.")
        return
    click.echo(f"{verb} {len(candidates)} {'person' if len(candidates) == 1 else 'people'}"
               f" (last activity older than {years} years):")
    for candidate in candidates:
        last = to_local(candidate.last_activity).date().isoformat()
        click.echo(f"  id {candidate.user.id:<8} last activity {last}")
    if dry_run:
        click.echo("Dry run: nothing was changed.")
