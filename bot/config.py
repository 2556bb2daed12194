"""Default settings; environment variables prefixed WAYMARK_ and the instance folder override them."""

import os

DATABASE = "var/waymark.db"  # WAYMARK_DATABASE
SECRET_KEY = None  # WAYMARK_SECRET_KEY: keys the conversation hash and signs staff sessions
IDLE_MINUTES = 30  # WAYMARK_IDLE_MINUTES: an idle conversation is forgotten after this long
SERVICES = {}  # WAYMARK_SERVICES__<ID>__<FIELD>, or instance/services.yaml: local details, never invented
EXIT_REPLY = ""  # WAYMARK_EXIT_REPLY: what a text channel says after EXIT; nothing by default
FLOWS_DIR = None  # WAYMARK_FLOWS_DIR: another flow library (default: the shipped flows/)
LOCALES_DIR = None  # WAYMARK_LOCALES_DIR: other catalogs (default: the shipped locales/)

# SMS and WhatsApp (Twilio). Twilio's own variables keep Twilio's names and are read here.
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID")  # for sending outside a reply
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN")  # checks webhook signatures; without it /sms refuses all
PUBLIC_URL = None  # WAYMARK_PUBLIC_URL: the https origin Twilio calls (behind a proxy), e.g. https://waymark.example.org
SMS_FROM = None  # WAYMARK_SMS_FROM: our SMS number, or a Messaging Service SID (MG...), for sending outside a reply
WHATSAPP_FROM = None  # WAYMARK_WHATSAPP_FROM: our WhatsApp sender, "whatsapp:+44..."
WHATSAPP_TEMPLATE_SID = None  # WAYMARK_WHATSAPP_TEMPLATE_SID: an approved neutral template (HX...) for after the 24-hour window
SMS_OPENING = None  # WAYMARK_SMS_OPENING: neutral first line of every text; None uses the catalog's sms.opening, "" none
SMS_MAX_MESSAGES = 3  # WAYMARK_SMS_MAX_MESSAGES: texts one reply may become
SMS_SEGMENTS_PER_MESSAGE = 3  # WAYMARK_SMS_SEGMENTS_PER_MESSAGE: segments one text should cost (WhatsApp: characters only)
SMS_REPLAY_MINUTES = 10  # WAYMARK_SMS_REPLAY_MINUTES: how long a reply is kept for Twilio's retries of the same message
SMS_RATE_PER_CONVERSATION = 12  # WAYMARK_SMS_RATE_PER_CONVERSATION: messages a minute from one person before "please wait"
SMS_RATE_OVERALL = 600  # WAYMARK_SMS_RATE_OVERALL: messages a minute for the whole channel (each worker process)

# Web chat (the embedded widget and /api/v1).
EXIT_URL = "https://www.bbc.co.uk/weather"  # WAYMARK_EXIT_URL: the neutral page quick exit sends the whole window to
# WAYMARK_ALLOWED_ORIGINS: the sites that may embed the chat (CSP frame-ancestors) and call /api/v1 from a
# browser (CORS), space- or comma-separated, e.g. "https://www.kingston.gov.uk https://partner.org.uk".
# Waymark's own origin always may; nobody else may by default.
ALLOWED_ORIGINS = ""
# Rate limits on /api/v1 (calls a minute, counted in each worker process's memory; quick exit is never limited).
WEB_RATE_PER_CONVERSATION = 30  # WAYMARK_WEB_RATE_PER_CONVERSATION: messages a minute into one conversation
WEB_RATE_PER_CLIENT = 300  # WAYMARK_WEB_RATE_PER_CLIENT: calls a minute from one client (a salted hash, never the address)
WEB_PROXY_HOPS = 0  # WAYMARK_WEB_PROXY_HOPS: proxies in front adding X-Forwarded-For (1 on most hosts); 0 trusts none

# Talking to a person (the warm handoff and the staff console at /staff/).
HANDOFF_ENABLED = True  # WAYMARK_HANDOFF_ENABLED: offer live chat with a worker (needs the Kingston service configured)
# WAYMARK_HANDOFF_HOURS: when workers answer live, e.g. "Mon-Fri 09:00-17:00; Sat 10:00-13:00" (London time).
# Unset, nobody is promised a live worker: people get the 24/7 helplines and a safe callback instead.
HANDOFF_HOURS = ""
HANDOFF_TIMEZONE = "Europe/London"  # WAYMARK_HANDOFF_TIMEZONE: the time zone of the opening hours
# WAYMARK_BANK_HOLIDAYS: closed days (YYYY-MM-DD, space- or comma-separated). Default: England and Wales
# 2026-2027 from https://www.gov.uk/bank-holidays; check and extend it each year.
BANK_HOLIDAYS = ("2026-01-01 2026-04-03 2026-04-06 2026-05-04 2026-05-25 2026-08-31 2026-12-25 2026-12-28 "
                 "2027-01-01 2027-03-26 2027-03-29 2027-05-03 2027-05-31 2027-08-30 2027-12-27 2027-12-28")
HANDOFF_GIVE_UP_MINUTES = 10  # WAYMARK_HANDOFF_GIVE_UP_MINUTES: after this long unanswered, offer a safe callback
HANDOFF_RETENTION_DAYS = 7  # WAYMARK_HANDOFF_RETENTION_DAYS: callbacks and stale chats are deleted after this long
DATA_KEY = None  # WAYMARK_DATA_KEY: Fernet key encrypting notes, relay messages, callbacks; derived from the secret if unset
STAFF_TOTP = False  # WAYMARK_STAFF_TOTP: require a TOTP second factor for staff too (always required for admins)
STAFF_MAX_FAILURES = 5  # WAYMARK_STAFF_MAX_FAILURES: failed logins before an account is locked
STAFF_LOCK_MINUTES = 15  # WAYMARK_STAFF_LOCK_MINUTES: how long a locked account stays locked
STAFF_IDLE_MINUTES = 30  # WAYMARK_STAFF_IDLE_MINUTES: a console session ends after this long idle
STAFF_NOTIFY_TO = None  # WAYMARK_STAFF_NOTIFY_TO: an on-call number texted "someone is waiting" (no details)
