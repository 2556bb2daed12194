"""The embedded web chat in real headless Chromium: the demo page, buttons, text, keyboard, both exits, axe scans."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from werkzeug.serving import make_server

from bot import create_app
from flows.catalog import Catalogs

from .conftest import make_config

CATALOGS = Catalogs()

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
# Debian's chromium where present (`make browser` installs it); otherwise Playwright's own Chromium.
CHROMIUM = os.environ.get("WAYMARK_CHROMIUM") or shutil.which("chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
EXIT_URL = "https://www.bbc.co.uk/weather"
FRAME = '[data-waymark="frame"]'


def hook(name: str) -> str:
    return f'[data-waymark="{name}"]'


# -- one server and one browser per session; a fresh context (no shared storage) per test ------------------------


def serve(app) -> tuple[object, str]:
    """Serve a WSGI app on 127.0.0.1 in a thread; return the server and its base URL."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_port}"


class Council:
    """Another site's page (another origin: its own port) that embeds the chat, under a strict CSP of its own."""

    def __init__(self):
        self.waymark = ""

    def __call__(self, environ, start_response):
        lang = environ.get("QUERY_STRING", "").partition("lang=")[2] or "en"
        page = (f"<!doctype html><html lang='{lang}'><head><title>Council page</title></head><body><main>"
                "<h1>Domestic abuse support</h1><p>A council page that embeds the chat.</p></main>"
                f"<script src='{self.waymark}/widget.js' data-lang='{lang}' async></script></body></html>")
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), (
            "Content-Security-Policy",
            f"default-src 'self'; script-src {self.waymark}; frame-src {self.waymark}; style-src 'self'")])
        return [page.encode()]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """Serve the shipped flow library and catalogs with its own database, and a council page."""
    tmp = tmp_path_factory.mktemp("browser")
    council = Council()
    council_httpd, council_base = serve(council)
    # every visitor comes from 127.0.0.1 for the whole session: the per-client limit still runs but never trips
    app = create_app(make_config(tmp, ALLOWED_ORIGINS=council_base,
                                 WEB_RATE_PER_CLIENT=10**6))
    httpd, app.base = serve(app)
    council.waymark, app.council = app.base, council_base
    yield app
    httpd.shutdown()
    council_httpd.shutdown()
    app.extensions["waymark"].store.close()


class Visit:
    """One visitor: a page in a fresh context, the conversations the widget started, and anything sent off-site."""

    def __init__(self, browser, server, **options):
        self.server = server
        self.context = browser.new_context(**options)
        self.offsite: list[str] = []
        self.started: list[dict] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("response", self._response)
        self.page.set_default_timeout(10_000)

    def _route(self, route):
        url = route.request.url
        if url.startswith((self.server.base, self.server.council)):
            return route.continue_()
        if url.startswith(EXIT_URL):
            return route.fulfill(status=200, content_type="text/html",
                                 body="<!doctype html><html lang='en'><title>Weather</title><h1>Weather</h1></html>")
        self.offsite.append(url)
        return route.abort()

    def _response(self, response):
        if response.url.endswith("/api/v1/conversations") and response.status == 201:
            try:
                self.started.append(response.json())
            except Exception:  # the page left before the body was read
                pass

    # -- helpers --

    @property
    def frame(self):
        return self.page.frame_locator(FRAME)

    def chat_frame(self):
        """The chat's Frame object (for axe and evaluate)."""
        self.page.wait_for_selector(FRAME)
        return self.page.query_selector(FRAME).content_frame()

    def open_demo(self, path: str = "/"):
        self.page.goto(self.server.base + path)
        self.page.locator(hook("launcher")).click()
        self.wait_for_question("Is it safe to talk right now?")

    def wait_for_question(self, words: str):
        self.frame.locator(hook("log")).get_by_text(words).last.wait_for()
        self.frame.locator(hook("typing")).wait_for(state="hidden")

    def option(self, label: str):
        return self.frame.locator(hook("options")).get_by_role("button", name=label, exact=True)

    def shot(self, name: str):
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def record(self, cid: str):
        """The server's record for a conversation id the widget started, or None."""
        waymark = self.server.extensions["waymark"]
        return waymark.store.load(waymark.key("web", cid))

    def assert_left_without_trace(self, conversations: list[dict]):
        """The window shows the neutral page, Back does not return to the chat, nothing is kept anywhere."""
        self.page.wait_for_url(EXIT_URL + "*")
        assert self.page.title() == "Weather"
        self.page.go_back()
        assert not self.page.url.startswith((self.server.base, self.server.council))
        assert self.page.locator(FRAME).count() == 0
        deadline = time.time() + 5
        while any(self.record(c["id"]) for c in conversations) and time.time() < deadline:
            time.sleep(0.05)  # the beacon is on its way
        assert conversations and all(self.record(c["id"]) is None for c in conversations)
        state = self.context.storage_state(indexed_db=True)
        assert state["cookies"] == [] and state["origins"] == []
        assert self.offsite == []

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, server):
    visits = []

    def make(**options):
        options.setdefault("viewport", {"width": 1280, "height": 800})
        visits.append(Visit(browser, server, **options))
        return visits[-1]

    yield make
    for v in visits:
        v.close()


def axe_clean(target, name: str, iframes: bool = False):
    """Run axe-core on a page or frame and fail with the violations, saved as an artifact."""
    results = Axe().run(target, options={"resultTypes": ["violations"], "iframes": iframes})
    violations = results.response["violations"]
    if violations:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(violations, indent=1))
    assert violations == [], results.generate_report()


def until(frame, expression: str, timeout: float = 10):
    """Poll an expression in a frame until it is true (wait_for_function would need eval, which our CSP forbids)."""
    deadline = time.time() + timeout
    while not frame.evaluate(expression):
        assert time.time() < deadline, f"never true: {expression}"
        time.sleep(0.05)


def no_storage(frame) -> dict:
    return frame.evaluate("""async () => ({
        local: localStorage.length, session: sessionStorage.length, cookie: document.cookie,
        idb: (await indexedDB.databases()).length })""")


# -- talking -------------------------------------------------------------------------------------------------------


def test_demo_page_chat_by_buttons_and_free_text(visit):
    v = visit()
    v.page.goto(v.server.base + "/")
    assert v.page.locator(hook("launcher")).get_attribute("aria-expanded") == "false"
    v.shot("demo-closed")
    axe_clean(v.page, "demo-closed")

    v.page.locator(hook("launcher")).click()
    v.wait_for_question("Is it safe to talk right now?")
    assert v.page.locator(hook("launcher")).get_attribute("aria-expanded") == "true"
    log = v.frame.locator(hook("log"))
    assert log.get_attribute("role") == "log" and log.get_attribute("aria-live") == "polite"
    tel = log.locator('a[href="tel:999"]')
    assert tel.count() == 1 and tel.inner_text() == "999"
    v.shot("demo-open")
    axe_clean(v.chat_frame(), "chat-open")
    axe_clean(v.page, "demo-open")

    v.option("Yes, it's safe").click()
    v.wait_for_question("Can anyone else see this phone or screen?")
    v.frame.locator(hook("input")).fill("no")
    v.frame.locator(hook("input")).press("Enter")
    v.wait_for_question("What would you like help with?")
    assert v.option("Find support").is_visible()
    you = v.frame.locator(".wm-you")
    assert you.all_text_contents() == ["You said: Yes, it's safe", "You said: no"]
    v.shot("demo-mid-conversation")
    axe_clean(v.chat_frame(), "chat-mid-conversation")

    assert no_storage(v.chat_frame()) == {"local": 0, "session": 0, "cookie": "", "idb": 0}
    assert v.context.storage_state(indexed_db=True) == {"cookies": [], "origins": []}
    assert v.offsite == []
    assert v.started and v.record(v.started[0]["id"]) is not None


def test_text_is_shown_as_text_never_as_html(visit):
    v = visit()
    v.open_demo()
    v.frame.locator(hook("input")).fill('<img src=x onerror="window.pwned=1"><b>bold</b>')
    v.frame.locator(hook("input")).press("Enter")
    v.wait_for_question("Sorry, I didn't understand that.")
    assert v.frame.locator(".wm-you").last.text_content() == 'You said: <img src=x onerror="window.pwned=1"><b>bold</b>'
    assert v.frame.locator(hook("log")).locator("img, b").count() == 0
    assert v.chat_frame().evaluate("window.pwned") is None


def test_typing_indicator_shows_while_waiting_and_honours_reduced_motion(visit):
    v = visit(reduced_motion="reduce")
    v.open_demo()
    typing = v.frame.locator(hook("typing"))
    v.option("Yes, it's safe").click()
    typing.wait_for(state="visible")
    animation = v.chat_frame().evaluate(
        "getComputedStyle(document.querySelector('[data-waymark=typing] span')).animationName")
    assert animation == "none"
    typing.wait_for(state="hidden")


def test_a_browser_set_to_polish_is_offered_polish_in_polish(visit):
    v = visit(locale="pl-PL")
    v.open_demo()
    offer = v.frame.locator(hook("log")).get_by_text(CATALOGS.text("common.language_offer", "pl").split("{")[0].strip())
    assert offer.get_attribute("lang") == "pl"  # a screen reader reads it as Polish in the English chat
    v.frame.locator(hook("input")).fill("Polski")
    v.frame.locator(hook("input")).press("Enter")
    v.wait_for_question(CATALOGS.text("welcome.safe_q", "pl"))
    assert v.chat_frame().evaluate("document.documentElement.lang") == "pl"
    axe_clean(v.chat_frame(), "chat-offer-pl")


@pytest.mark.parametrize("lang", ["ar", "ur"])
def test_language_switch_and_right_to_left(visit, lang):
    v = visit()
    v.open_demo()
    select = v.frame.locator(hook("language"))
    names = [CATALOGS.text(f"language.name_{code}") for code in ("en", "ar", "ko", "pl", "pt", "ro", "ta", "ur")]
    assert select.locator("option").all_inner_texts() == names
    select.select_option(lang)
    v.wait_for_question(CATALOGS.text("welcome.safe_q", lang))
    frame = v.chat_frame()
    assert frame.evaluate("[document.documentElement.dir, document.documentElement.lang]") == ["rtl", lang]
    assert v.option(CATALOGS.text("welcome.opt_safe_yes", lang)).is_visible()
    exit_words = CATALOGS.text("web.exit", lang) + CATALOGS.text("web.exit_hidden", lang)
    assert v.frame.locator(hook("exit")).text_content() == exit_words  # the chat's own words switch too
    v.shot(f"chat-rtl-{lang}")
    axe_clean(frame, f"chat-rtl-{lang}")
    select.select_option("en")
    v.wait_for_question("Is it safe to talk right now?")
    assert frame.evaluate("document.documentElement.dir") == "ltr"
    assert v.frame.locator(hook("exit")).text_content() == "Exit this page"


def test_reflow_at_320_pixels(visit):
    v = visit(viewport={"width": 320, "height": 640})
    v.open_demo()
    box = v.page.locator(FRAME).bounding_box()
    assert box["width"] == 320 and box["height"] == 640  # the chat takes the whole small screen
    frame = v.chat_frame()
    assert frame.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert v.frame.locator(hook("exit")).is_visible()
    v.shot("chat-320px")
    axe_clean(frame, "chat-320px")
    axe_clean(v.page, "demo-320px")
    v.frame.locator(hook("close")).click()  # "Hide chat" gives the page back, focus on the launcher
    v.page.locator(FRAME).wait_for(state="hidden")
    assert v.page.evaluate("document.activeElement.dataset.waymark") == "launcher"


def test_targets_are_at_least_24_pixels(visit):
    v = visit()
    v.open_demo()
    sizes = v.chat_frame().evaluate("""() => [
        ...document.querySelectorAll('button, select, input, [data-waymark=exit]')]
        .filter(e => e.offsetParent)
        .map(e => [e.textContent.trim(), e.getBoundingClientRect().width, e.getBoundingClientRect().height])""")
    assert sizes and all(w >= 24 and h >= 24 for _, w, h in sizes), sizes
    box = v.page.locator(hook("launcher")).bounding_box()
    assert box["width"] >= 24 and box["height"] >= 24


def test_a_whole_conversation_by_keyboard_alone(visit):
    v = visit()
    v.page.goto(v.server.base + "/")
    for _ in range(30):  # Tab through the page to the launcher
        v.page.keyboard.press("Tab")
        if v.page.evaluate("document.activeElement.dataset.waymark") == "launcher":
            break
    else:
        pytest.fail("the launcher is not reachable by Tab")
    v.page.keyboard.press("Enter")
    v.wait_for_question("Is it safe to talk right now?")
    frame = v.chat_frame()
    focused = "document.activeElement.textContent"
    until(frame, "document.activeElement.textContent === \"Yes, it's safe\"")  # focus moved into the chat
    v.page.keyboard.press("Enter")
    v.wait_for_question("Can anyone else see this phone or screen?")
    until(frame, "document.activeElement.textContent === 'Yes, they might'")
    v.page.keyboard.press("Tab")
    assert frame.evaluate(focused) == "No"
    v.page.keyboard.press("Space")
    v.wait_for_question("What would you like help with?")
    until(frame, "document.activeElement.classList.contains('wm-option')")
    for _ in range(15):  # on through the choices to the text box
        v.page.keyboard.press("Tab")
        if frame.evaluate("document.activeElement.dataset.waymark") == "input":
            break
    v.page.keyboard.type("help")
    v.page.keyboard.press("Enter")
    v.wait_for_question("help")  # the echo; then the reply
    assert frame.evaluate("document.activeElement.dataset.waymark") == "input"  # typing stays in the box
    v.page.keyboard.press("Escape")  # hide the chat: focus goes back to the launcher
    v.page.locator(FRAME).wait_for(state="hidden")
    assert v.page.evaluate("document.activeElement.dataset.waymark") == "launcher"
    v.page.keyboard.press("Enter")  # and back in
    until(frame, "document.hasFocus() && document.activeElement !== document.body")
    for _ in range(40):  # Shift+Tab back up to the Exit button
        if frame.evaluate("document.activeElement.dataset.waymark") == "exit":
            break
        v.page.keyboard.press("Shift+Tab")
    assert frame.evaluate("document.activeElement.dataset.waymark") == "exit"
    conversations = list(v.started)
    v.page.keyboard.press("Enter")
    v.assert_left_without_trace(conversations)


def test_a_deleted_conversation_gets_a_kind_error_and_a_fresh_start(visit):
    v = visit()
    v.open_demo()
    first = v.started[0]
    v.page.request.delete(f"{v.server.base}/api/v1/conversations/{first['id']}",
                          headers={"Authorization": f"Bearer {first['token']}"})
    v.option("Yes, it's safe").click()
    error = v.frame.locator(".wm-error")
    error.wait_for()
    assert "This chat has ended" in error.text_content() and error.locator('a[href="tel:999"]').count() == 1
    again = v.frame.get_by_role("button", name="Start a new chat")
    until(v.chat_frame(), "document.activeElement.classList.contains('wm-again')")  # focus on the way forward
    axe_clean(v.chat_frame(), "chat-error")
    again.click()
    v.wait_for_question("Is it safe to talk right now?")
    assert len(v.started) == 2 and v.frame.locator(".wm-error").count() == 0


# -- leaving -----------------------------------------------------------------------------------------------------------


def test_exit_button_leaves_at_once_without_a_trace(visit):
    v = visit()
    v.open_demo()
    v.option("Yes, it's safe").click()
    v.wait_for_question("Can anyone else see this phone or screen?")
    conversations = list(v.started)
    assert v.record(conversations[0]["id"]) is not None
    exit_link = v.frame.locator(hook("exit"))
    assert exit_link.get_attribute("href") == EXIT_URL
    exit_link.click()
    v.assert_left_without_trace(conversations)


def test_shift_three_times_in_the_chat_leaves(visit):
    v = visit()
    v.page.clock.install()
    v.open_demo()
    conversations = list(v.started)
    frame = v.chat_frame()
    v.frame.locator(hook("input")).focus()
    announce = v.frame.locator(hook("announce"))
    keyboard = v.page.keyboard

    for _ in range(3):  # Shift held for capital letters does not count
        keyboard.down("Shift")
        keyboard.press("KeyH")
        keyboard.up("Shift")
    assert v.page.url.startswith(v.server.base)

    keyboard.press("Shift")
    assert announce.inner_text() == "Shift, press 2 more times to exit."
    keyboard.press("Shift")
    assert announce.inner_text() == "Shift, press 1 more time to exit."
    keyboard.press("a")  # any other key resets
    assert announce.inner_text() == "Exit this page expired."
    keyboard.press("Shift")
    keyboard.press("Shift")
    v.page.clock.fast_forward(5100)  # the 5-second window closes
    assert announce.inner_text() == "Exit this page expired."
    keyboard.press("Shift")
    assert announce.inner_text() == "Shift, press 2 more times to exit."
    assert frame.evaluate("document.querySelectorAll('.wm-lights .wm-on').length") == 1

    keyboard.press("Shift")
    keyboard.press("Shift")
    v.assert_left_without_trace(conversations)


def test_shift_three_times_on_the_host_page_leaves_too(visit):
    v = visit()
    v.open_demo()
    conversations = list(v.started)
    v.page.locator("h1").click()  # focus back on the host page, chat still open
    for _ in range(3):
        v.page.keyboard.press("Shift")
    v.assert_left_without_trace(conversations)


def test_typing_exit_leaves(visit):
    v = visit()
    v.open_demo()
    conversations = list(v.started)
    v.frame.locator(hook("input")).fill("exit")
    v.frame.locator(hook("input")).press("Enter")
    v.assert_left_without_trace(conversations)


def test_a_reload_starts_afresh_and_forgets_the_last_conversation(visit):
    v = visit()
    v.open_demo()
    v.option("Yes, it's safe").click()
    v.wait_for_question("Can anyone else see this phone or screen?")
    first = v.started[0]
    v.page.reload()
    v.page.locator(hook("launcher")).click()
    v.wait_for_question("Is it safe to talk right now?")
    assert v.frame.locator(".wm-you").count() == 0
    assert len(v.started) == 2 and v.started[1]["id"] != first["id"]
    deadline = time.time() + 5
    while v.record(first["id"]) and time.time() < deadline:
        time.sleep(0.05)
    assert v.record(first["id"]) is None


def test_on_another_sites_page_under_a_strict_csp(visit):
    v = visit()
    v.page.goto(v.server.council + "/?lang=ar")
    v.page.locator(hook("launcher")).click()
    v.wait_for_question(CATALOGS.text("welcome.safe_q", "ar"))
    frame = v.chat_frame()
    assert frame.evaluate("document.documentElement.dir") == "rtl"
    v.shot("council-rtl")
    axe_clean(frame, "council-rtl")
    axe_clean(v.page, "council-page")
    conversations = list(v.started)
    v.frame.locator(hook("exit")).click()
    v.assert_left_without_trace(conversations)


def test_shift_three_times_inside_another_sites_frame(visit):
    v = visit()
    v.page.goto(v.server.council + "/")
    v.page.locator(hook("launcher")).click()
    v.wait_for_question("Is it safe to talk right now?")
    conversations = list(v.started)
    v.frame.locator(hook("input")).focus()
    for _ in range(3):
        v.page.keyboard.press("Shift")
    v.assert_left_without_trace(conversations)


def test_without_javascript_exit_is_a_plain_link(visit):
    v = visit(java_script_enabled=False)
    v.page.goto(v.server.base + "/chat")
    assert v.page.get_by_text("This chat needs JavaScript").is_visible()
    assert v.page.locator('a[href="tel:999"]').is_visible()
    exit_link = v.page.locator(hook("exit"))
    assert exit_link.get_attribute("href") == EXIT_URL and exit_link.get_attribute("target") == "_top"
    assert v.page.locator(hook("input")).is_hidden()
    exit_link.click()
    v.page.wait_for_url(EXIT_URL + "*")
