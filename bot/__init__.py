"""Waymark: a guided support assistant for people affected by violence against women and girls."""

from __future__ import annotations

import gc
import secrets
from pathlib import Path

import yaml
from flask import Flask
from flask.sessions import SessionInterface

from flows.runtime import build
from safety import redact

from . import config
from .store import Store
from .waymark import Waymark


def _secret(app: Flask) -> str:
    """Use the configured secret, or make one for this instance folder and keep it there."""
    if app.config.get("SECRET_KEY"):
        return app.config["SECRET_KEY"]
    path = Path(app.instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _local_services(app: Flask) -> dict:
    """Merge local service details from instance/services.yaml and WAYMARK_SERVICES__* variables."""
    merged: dict = {}
    path = Path(app.instance_path) / "services.yaml"
    if path.exists():
        for sid, values in (yaml.safe_load(path.read_text()) or {}).items():
            merged.setdefault(sid.lower(), {}).update({k.lower(): v for k, v in values.items()})
    for sid, values in (app.config.get("SERVICES") or {}).items():
        merged.setdefault(sid.lower(), {}).update({k.lower(): v for k, v in values.items()})
    return merged


class NoCookieSessions(SessionInterface):
    """Keep no Flask cookie session: nothing in a cookie, and the staff console keeps its own on the server."""

    def open_session(self, app, request):
        return self.make_null_session(app)

    def save_session(self, app, session, response):
        return None


def create_app(test_config: dict | None = None) -> Flask:
    """Create the Waymark application."""
    app = Flask(__name__, instance_relative_config=True, instance_path=(test_config or {}).get("INSTANCE_PATH"))
    app.session_interface = NoCookieSessions()
    app.config.from_object(config)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("WAYMARK")
    else:
        app.config.update(test_config)
    redact.install()
    app.config["SECRET_KEY"] = _secret(app)
    paths = {k: app.config[n] for k, n in (("flows_dir", "FLOWS_DIR"), ("locales_dir", "LOCALES_DIR")) if app.config[n]}
    runtime = build(services=_local_services(app), **paths)
    store = Store(app.config["DATABASE"], idle_seconds=int(app.config["IDLE_MINUTES"]) * 60)
    Waymark(runtime, store, app.config["SECRET_KEY"]).init_app(app)
    if not app.testing:
        store.sweep_every(60)  # idle conversations and expired rows go even when nobody writes
        runtime.warm()  # before the first request, so no one waits for it (and it never competes with one)
        # The models and lexicons live as long as the worker: leave them out of the garbage collector's full
        # passes, which otherwise walk them all now and then (80 ms measured, holding up every reply in the worker).
        gc.freeze()

    from . import views

    app.register_blueprint(views.bp)
    from . import sms

    app.register_blueprint(sms.bp)
    from . import web, widget

    app.register_blueprint(web.bp)
    app.register_blueprint(widget.bp)
    from . import handoff, staff

    handoff.Desk(app, app.extensions["waymark"]).init_app(app)
    app.register_blueprint(staff.bp)
    return app
