"""Default settings; environment variables prefixed WAYMARK_ and the instance folder override them."""

DATABASE = "var/waymark.db"  # WAYMARK_DATABASE
SECRET_KEY = None  # WAYMARK_SECRET_KEY: keys the conversation hash and signs staff sessions
IDLE_MINUTES = 30  # WAYMARK_IDLE_MINUTES: an idle conversation is forgotten after this long
SERVICES = {}  # WAYMARK_SERVICES__<ID>__<FIELD>, or instance/services.yaml: local details, never invented
EXIT_REPLY = ""  # WAYMARK_EXIT_REPLY: what a text channel says after EXIT; nothing by default
FLOWS_DIR = None  # WAYMARK_FLOWS_DIR: another flow library (default: the shipped flows/)
LOCALES_DIR = None  # WAYMARK_LOCALES_DIR: other catalogs (default: the shipped locales/)
