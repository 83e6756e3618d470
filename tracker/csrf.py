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
from flask_wtf.csrf import CSRFProtect, csrf_meta_tag, generate_csrf, same_origin

# (app keys, token, session secret) of every pair validated; bounded: when full it starts
# again, and the next POST of each person is checked in full once more.
_validated: dict[tuple, None] = {}
REMEMBERED = 4096
# (signing key, field name, session secret) -> the signed token Flask-WTF issued for it.
_issued: dict[tuple, str] = {}


def issue_token() -> str:
    """Flask-WTF's generate_csrf (the templates' csrf_token()), signing a session's secret
    once per process instead of once per page (~3.5 % of the attendance sheet, bench/).

    Every signed form of the same secret is valid alike: Flask-WTF checks the signature and
    the secret, and with WTF_CSRF_TIME_LIMIT = None not the signing time. With a time limit
    set, Flask-WTF signs as usual on every call."""
    config = current_app.config
    field = config["WTF_CSRF_FIELD_NAME"]
    if field in g:
        return g.get(field)
    if config["WTF_CSRF_TIME_LIMIT"] is not None:
        return generate_csrf()
    signing_key = config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
    secret = session.get(field)
    token = _issued.get((signing_key, field, secret)) if isinstance(secret, str) else None
    if token is not None:
        setattr(g, field, token)  # what generate_csrf leaves for the rest of the request
        return token
    token = generate_csrf()  # also gives a new session its secret
    secret = session.get(field)
    if isinstance(secret, str) and secret:
        if len(_issued) >= REMEMBERED:
            _issued.clear()
        _issued[(signing_key, field, secret)] = token
    return token


def _template_context() -> dict:
    return {"csrf_token": issue_token, "csrf_meta_tag": csrf_meta_tag}


class RememberingCSRFProtect(CSRFProtect):
    def init_app(self, app) -> None:
        super().init_app(app)
        # Templates get issue_token as csrf_token(): Flask-WTF puts its generate_csrf both
        # among the globals and in a context processor of its own, which is replaced.
        app.jinja_env.globals["csrf_token"] = issue_token
        processors = app.template_context_processors[None]
        for index, processor in enumerate(processors):
            if getattr(processor, "__module__", None) == "flask_wtf.csrf":
                processors[index] = _template_context

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
