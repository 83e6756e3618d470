"""Flask-WTF's CSRF protection, with each token it has validated remembered per process.

Flask-WTF checks a token's signature on every POST (~60 µs: a serializer is built, the HMAC
checked, the payload decoded; a twentieth of an attendance click, bench/). A person posts the
same token again and again: it is issued once per login session and, in tracker, does not
expire (WTF_CSRF_TIME_LIMIT = None). So a token that Flask-WTF validated for a session's
secret is remembered with that secret and the app's keys, and the same pair is not checked
again. Everything else stays as Flask-WTF does it: the methods checked, the exempt views,
where the token is looked for, the referrer check under HTTPS and the error response.
A different login session has a different secret, so its pairs are never remembered ones.
With a time limit set, nothing is remembered and every token is checked in full.
"""

from __future__ import annotations

from flask import current_app, g, request, session
from flask_wtf.csrf import CSRFProtect, same_origin

# (app keys, token, session secret) of every pair validated; bounded: when full it starts
# again, and the next POST of each person is checked in full once more.
_validated: dict[tuple, None] = {}
REMEMBERED = 4096


class RememberingCSRFProtect(CSRFProtect):
    def protect(self, apply_exemptions: bool = False) -> None:
        config = current_app.config
        if config["WTF_CSRF_TIME_LIMIT"] is not None or request.method not in config[
            "WTF_CSRF_METHODS"
        ]:
            return super().protect(apply_exemptions)
        if apply_exemptions and (not request.endpoint or self._is_exempt()):
            return None
        token = self._get_csrf_token()
        secret = session.get(config["WTF_CSRF_FIELD_NAME"])
        if not token or not secret:
            return super().protect(apply_exemptions)  # refuses, with Flask-WTF's reason
        keys = (current_app.secret_key, config.get("WTF_CSRF_SECRET_KEY"),
                config["WTF_CSRF_FIELD_NAME"])
        if (keys, token, secret) in _validated:
            self._check_referrer()
            g.csrf_valid = True
            return None
        # Validates, or refuses with Flask-WTF's reason; then checks the referrer.
        super().protect(apply_exemptions)
        if len(_validated) >= REMEMBERED:
            _validated.clear()
        _validated[(keys, token, secret)] = None
        return None

    def _check_referrer(self) -> None:
        # As Flask-WTF's protect() does after a valid token.
        if request.is_secure and current_app.config["WTF_CSRF_SSL_STRICT"]:
            if not request.referrer:
                self._error_response("The referrer header is missing.")
            if not same_origin(request.referrer, f"https://{request.host}/"):
                self._error_response("The referrer does not match the host.")
