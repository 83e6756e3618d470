"""Blueprints, one per area of the app people recognise."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from tracker.views import (
        admin,
        attendance,
        auth,
        certificates,
        main,
        my,
        navigation,
        password,
        privacy,
        reports,
        trainings,
    )

    navigation.init_app(app)

    for module in (main, auth, trainings, my, attendance, reports, admin, privacy, password,
                   certificates):
        app.register_blueprint(module.bp)
