"""Routes that belong to no channel: the health check."""

from flask import Blueprint

bp = Blueprint("core", __name__)


@bp.get("/healthz")
def healthz():
    """Answer that the app is up."""
    return {"status": "ok"}
