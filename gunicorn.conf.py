"""Gunicorn settings for Waymark: its error and access logs go through safety/redact.py like every other log.

Use it with `gunicorn --config gunicorn.conf.py ...` (the Procfile). Gunicorn also reads this file by itself
when started from this folder without --config. Command-line options (workers, threads, bind) win over it.

The access log (off by default, as in gunicorn; `--access-logfile -` turns it on) says what happened, never
who: the method, the path (ids and tokens in it redacted), the protocol, the status, the size and the time.
No client address (%(h)s), no query string (%(r)s, %(q)s), no referrer (%(f)s), no user agent (%(a)s), no
headers. safety/redact.py drops an address and a query string
from access lines anyway, should someone change the format.
"""

from gunicorn.glogging import Logger

from safety import redact

redact.install()  # every record redacted as it is made, in the master and (inherited) in every worker

accesslog = None  # no access log by default (gunicorn's own default); `--access-logfile -` for one on stdout
errorlog = "-"
access_log_format = '"%(m)s %(U)s %(H)s" status=%(s)s bytes=%(b)s ms=%(M)s'


class RedactingLogger(Logger):
    """Gunicorn's logger with Waymark's redaction filter on the handlers of its error and access logs."""

    def setup(self, cfg):
        super().setup(cfg)  # runs again on reload (HUP), which replaces the handlers: filter the new ones
        redact.install(self.error_log)
        redact.install(self.access_log)


logger_class = RedactingLogger
