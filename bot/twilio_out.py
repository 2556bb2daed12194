"""Send texts outside a reply (for the staff handoff) through twilio.rest.Client, within WhatsApp's 24-hour window."""

from __future__ import annotations

import time

from flask import Flask, current_app
from twilio.http import HttpClient
from twilio.rest import Client

from flows.render import Reply

from .waymark import waymark

WHATSAPP_WINDOW_S = 24 * 3600


class NotInConversation(Exception):
    """Raised for an address with no live conversation: Waymark only texts people who are texting it."""


class WindowClosed(Exception):
    """Raised when WhatsApp's 24-hour window has closed and no approved template is configured."""


class Outbound:
    """Send through Twilio's REST API; tests pass a fake `http_client` and nothing leaves the machine."""

    def __init__(self, http_client: HttpClient | None = None, clock=time.time):
        self.http_client = http_client
        self.clock = clock

    def init_app(self, app: Flask) -> None:
        app.extensions["twilio_out"] = self

    def client(self) -> Client:
        cfg = current_app.config
        return Client(cfg["TWILIO_ACCOUNT_SID"], cfg["TWILIO_AUTH_TOKEN"], http_client=self.http_client)

    def send(self, to: str, text: str) -> list[str]:
        """Text an address that is in a live conversation (its own From); return the Twilio message sids."""
        # On WhatsApp, 24 hours after the person's last message only an approved template may go
        # (WAYMARK_WHATSAPP_TEMPLATE_SID); without one, WindowClosed tells the caller to wait for them.
        from .sms import texts_for

        w, cfg = waymark(), current_app.config
        channel = "whatsapp" if to.lower().startswith("whatsapp:") else "sms"
        conv = w.store.load(w.key(channel, to))
        if conv is None:
            raise NotInConversation("no live conversation for this address")
        sender = cfg["WHATSAPP_FROM"] if channel == "whatsapp" else cfg["SMS_FROM"]
        origin = {"messaging_service_sid": sender} if str(sender).startswith("MG") else {"from_": sender}
        client = self.client()
        if channel == "whatsapp" and self.clock() - conv.updated_at > WHATSAPP_WINDOW_S:
            if not cfg.get("WHATSAPP_TEMPLATE_SID"):
                raise WindowClosed("WhatsApp's 24-hour window has closed; wait for the person to write")
            return [client.messages.create(to=to, content_sid=cfg["WHATSAPP_TEMPLATE_SID"], **origin).sid]
        texts = texts_for(Reply(conv.lang, (text,)), channel)
        return [client.messages.create(to=to, body=body, **origin).sid for body in texts]


def outbound() -> Outbound:
    """Return the current application's sender."""
    return current_app.extensions["twilio_out"]
