"""The web chat people see: a demo host page at /, widget.js for any host page, and the chat frame at /chat."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, current_app, render_template, request, url_for

from flows.catalog import DEFAULT_LANG

from . import web

bp = Blueprint("widget", __name__)

WIDGET_JS = Path(__file__).parent / "static" / "web" / "widget.js"
SHIFT_JS = WIDGET_JS.with_name("shift.js")  # Shift x3, shared with the chat frame
FRAME_WORDS = ("title", "subtitle", "frame_title", "hide", "exit", "exit_hidden", "language", "conversation",
               "messages", "choices", "input", "send", "bot", "you", "shift_hint", "shift_2", "shift_1",
               "shift_expired", "start_again", "offline")
COMMON_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; " \
             "object-src 'none'; form-action 'none'"


def _t(lang: str):
    return lambda msg_id, **params: web.text(msg_id, lang, **params)


@bp.get("/")
def demo():
    """Show a page about Waymark that embeds the chat exactly as a council page would."""
    snippet = f'<script src="{request.url_root}widget.js" data-lang="en" async></script>'
    page = render_template("web/demo.html", t=_t(DEFAULT_LANG), snippet=snippet,
                           exit_url=web.settings()["exit_url"], emergency=web.parts(web.text("common.emergency")))
    return page, 200, {"Content-Security-Policy": f"{COMMON_CSP}; frame-src 'self'; connect-src 'none'; "
                                                  "frame-ancestors 'none'"}


@bp.get("/widget.js")
def widget_js():
    """Serve the launcher script for host pages, with this deployment's exit page and words."""
    config = {
        "exitUrl": web.settings()["exit_url"],
        "chatPath": url_for("widget.chat"),
        "text": {lang: {"launcher": web.text("web.launcher", lang), "title": web.text("web.frame_title", lang),
                        "shift_2": web.text("web.shift_2", lang), "shift_1": web.text("web.shift_1", lang),
                        "shift_expired": web.text("web.shift_expired", lang)}
                 for lang in current_app.extensions["waymark"].runtime.catalogs.languages},
    }
    source = (WIDGET_JS.read_text().replace("/*SHIFT*/", SHIFT_JS.read_text())
              .replace("/*CONFIG*/null", json.dumps(config, ensure_ascii=True)))
    return source, 200, {
        "Content-Type": "text/javascript; charset=utf-8",
        "Cache-Control": "public, max-age=300",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }


@bp.get("/chat")
def chat():
    """Show the chat itself: the page widget.js puts in its iframe (it also works on its own)."""
    lang = web.supported(request.args.get("lang")) or DEFAULT_LANG
    t = _t(lang)
    config = {
        "api": url_for("web.start").rsplit("/", 1)[0],
        "exitUrl": web.settings()["exit_url"],
        "lang": lang,
        # Every language's words, so switching language mid-conversation relabels the chat without a reload.
        "ui": {code: {**{key: web.text(f"web.{key}", code) for key in FRAME_WORDS},
                      "emergency": web.parts(web.text("common.emergency", code))}
               for code in current_app.extensions["waymark"].runtime.catalogs.languages},
    }
    ancestors = " ".join(("'self'", *web.settings()["origins"]))
    page = render_template("web/chat.html", t=t, lang=lang, dir=web.direction(lang), config=config,
                           languages=web.languages(), exit_url=web.settings()["exit_url"],
                           noscript=web.parts(t("web.noscript")))
    return page, 200, {
        "Content-Security-Policy": f"{COMMON_CSP}; connect-src 'self'; frame-ancestors {ancestors}",
        "Cache-Control": "no-store",
    }
