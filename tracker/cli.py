"""flask commands: demo data, logins, accounts."""

from __future__ import annotations

import click
from flask import Flask
from sqlalchemy import select

from tracker.extensions import db
from tracker.models import Organisation, Role
from tracker.services import ServiceError, accounts, demo_data


@click.command("demo-data")
@click.option("--if-empty", is_flag=True, help="Only load into an empty database.")
def demo_data_command(if_empty: bool) -> None:
    """Load the demo network (idempotent)."""
    if if_empty and demo_data.has_data():
        click.echo("Database has data; demo data not loaded.")
        return
    loaded = demo_data.load_demo_data()
    db.session.commit()
    click.echo("Demo data loaded." if loaded else "Demo data is there already.")


@click.command("demo-logins")
def demo_logins_command() -> None:
    """Print the demo accounts and their password."""
    click.echo("")
    click.echo(f"Demo logins (password for all: {demo_data.DEMO_PASSWORD}):")
    for login in demo_data.demo_logins():
        click.echo(f"  {login.role:<26} {login.email:<38} {login.organisation}")
    click.echo("")


@click.command("create-admin")
@click.option("--email", required=True)
@click.option("--first-name", default="Admin")
@click.option("--last-name", default="")
@click.option("--organisation", "organisation_name", required=True, help="Name; created if new.")
@click.password_option()
def create_admin_command(email, first_name, last_name, organisation_name, password) -> None:
    """Create an administrator account."""
    org = db.session.scalar(select(Organisation).where(Organisation.name == organisation_name))
    if org is None:
        org = Organisation(name=organisation_name, short_name=organisation_name[:40])
        db.session.add(org)
    try:
        accounts.create_user(email=email, first_name=first_name, last_name=last_name,
                             organisation=org, role=Role.ADMIN, password=password)
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    db.session.commit()
    click.echo(f"Administrator {email} created.")


@click.command("worker")
@click.option("--threads", default=2, show_default=True, help="Tasks run side by side.")
def worker_command(threads: int) -> None:
    """Run the background worker (huey): mail delivery, reminders, retention."""
    from flask.cli import ScriptInfo

    from tracker import tasks

    tasks.bind(click.get_current_context().ensure_object(ScriptInfo).load_app())
    consumer = tasks.huey.create_consumer(workers=threads, worker_type="thread", periodic=True,
                                          check_worker_health=True)
    consumer.run()


@click.command("send-mail")
def send_mail_command() -> None:
    """Deliver what is due in the outbox now, in this process (for operators and cron)."""
    from tracker.services import mail

    total = 0
    while (sent := mail.deliver_due()) == mail.BATCH:
        total += sent
    click.echo(f"{total + sent} mails delivered.")


@click.command("release-quotas")
def release_quotas_command() -> None:
    """Release the seat quotas whose time has come (the worker does it every minute)."""
    from tracker.services import enrolment

    click.echo(f"Quotas released in {enrolment.release_due_quotas()} sessions.")


@click.command("sync-directories")
def sync_directories_command() -> None:
    """Deactivate the accounts the partner directories no longer list (the worker does it
    every hour)."""
    from tracker.database import write_transactions
    from tracker.extensions import db
    from tracker.services import directory

    with write_transactions():
        result = directory.sync_deactivations()
        db.session.commit()
    for name, count in result.items():
        click.echo(f"{name}: {count} accounts deactivated.")
    if not result:
        click.echo("No directory could be asked (see the log), or none is configured.")


def init_app(app: Flask) -> None:
    for command in (demo_data_command, demo_logins_command, create_admin_command,
                    worker_command, send_mail_command, release_quotas_command,
                    sync_directories_command):
        app.cli.add_command(command)

    from tracker.exports.cli import export_group

    app.cli.add_command(export_group)

    from tracker.privacy_cli import retention_command

    app.cli.add_command(retention_command)
