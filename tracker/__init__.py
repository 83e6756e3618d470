"""tracker: enrolment and attendance for training series run by partner administrations."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from tracker.config import Config, ConfigError

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["ConfigError", "create_app"]


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app; `test_config` overrides settings (tests pass their database here)."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    config = Config()
    app.config.from_object(config)
    if test_config:
        app.config.update(test_config)
        config.SECRET_KEY = app.config["SECRET_KEY"]
        config.ENV_NAME = app.config.get("ENV_NAME", config.ENV_NAME)
    config.check()

    from tracker import cli, database, errors, i18n, security, sign_in
    from tracker.services import mail as mail_service

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    from tracker.extensions import csrf, db, htmx, limiter, login_manager, mail, migrate

    db.init_app(app)
    database.init_app(app)  # first before_request: flags writing requests
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    mail.init_app(app)
    mail_service.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    login_manager.init_app(app)
    sign_in.init_app(app)
    errors.init_app(app)
    cli.init_app(app)

    from tracker.views import register_blueprints

    register_blueprints(app)
    return app
