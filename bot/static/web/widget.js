/* Waymark widget for host pages: <script src="https://WAYMARK-HOST/widget.js" async></script>
   Adds a launcher button and opens the chat in an iframe served by Waymark. Options, as data-* on the script tag:
   data-lang (start language, default the page's), data-position ("right" or "left"), data-label (launcher text),
   data-open ("true" opens the chat at once), data-shift-exit ("off" when the page has its own Shift x3 exit).
   Styles are set through the CSSOM, so a host CSP needs only script-src and frame-src for Waymark. */
(function (config) {
  "use strict";
  var script = document.currentScript;
  if (!config || !script || window.__waymarkWidget) return;
  window.__waymarkWidget = true;

  var origin = new URL(script.src, location.href).origin;
  var opts = script.dataset;
  var asked = (opts.lang || document.documentElement.lang || "en").toLowerCase();
  var lang = config.text[asked] ? asked : (config.text[asked.split("-")[0]] ? asked.split("-")[0] : "en");
  var t = config.text[lang] || config.text.en;
  var side = opts.position === "left" ? "left" : "right";
  var small = window.matchMedia("(max-width: 480px), (max-height: 480px)");
  var TOP = "2147483000";
  var box, launcher, frame, announce, isOpen = false, gone = false, went = false;

  function css(node, rules) {
    Object.keys(rules).forEach(function (name) { node.style[name] = rules[name]; });
    return node;
  }

  function post(kind) {
    if (frame && frame.contentWindow) frame.contentWindow.postMessage({waymark: kind}, origin);
  }

  function layout() {
    if (frame) {
      css(frame, small.matches ? {
        top: "0", bottom: "0", left: "0", right: "0", width: "100%", height: "100%", maxWidth: "none",
        border: "0", borderRadius: "0"
      } : {
        top: "auto", bottom: "80px", left: side === "left" ? "16px" : "auto", right: side === "right" ? "16px" : "auto",
        width: "400px", height: "min(640px, calc(100vh - 100px))", maxWidth: "calc(100vw - 32px)",
        border: "1px solid #505a5f", borderRadius: "8px"
      });
      frame.style.display = isOpen ? "block" : "none";
    }
    launcher.style.display = isOpen && small.matches ? "none" : "inline-block";
  }

  function makeFrame() {
    frame = css(document.createElement("iframe"), {
      position: "fixed", zIndex: TOP, background: "#ffffff", boxShadow: "0 4px 24px rgba(0,0,0,.35)", margin: "0"
    });
    frame.id = "waymark-chat-frame";
    frame.title = t.title;
    frame.setAttribute("data-waymark", "frame");
    frame.referrerPolicy = "no-referrer";
    frame.src = origin + config.chatPath + "?lang=" + encodeURIComponent(lang);
    frame.addEventListener("load", function () {
      if (isOpen && !frame.dataset.quiet) {
        frame.focus();
        post("open");
      }
    });
    launcher.setAttribute("aria-controls", frame.id);
    box.appendChild(frame);
  }

  function setOpen(open, quiet) {
    isOpen = open;
    if (open && !frame) makeFrame();
    if (frame && quiet) frame.dataset.quiet = "1";
    launcher.setAttribute("aria-expanded", String(open));
    layout();
    if (quiet) return;
    if (open) {
      frame.focus();
      post("open");
    } else {
      launcher.focus();
    }
  }

  function go() {
    if (went) return;
    went = true;
    location.replace(config.exitUrl); // replace: Back does not come back here
  }

  function leave(chatHasLeft) {
    if (gone) return;
    gone = true;
    document.documentElement.appendChild(css(document.createElement("div"), {
      position: "fixed", top: "0", bottom: "0", left: "0", right: "0", background: "#ffffff", zIndex: "2147483647"
    }));
    if (document.body) document.body.style.visibility = "hidden";
    post("exit");
    // Blank now; navigate once the chat says it has sent the deletion (a few milliseconds), or after 250 ms.
    if (chatHasLeft || !frame) go();
    else setTimeout(go, 250);
  }

  // Shift pressed 3 times leaves from the host page too: shift.js, put here by the server.
  /*SHIFT*/
  var onKeyup = waymarkShiftExit(function (presses, key) { announce.textContent = key ? t[key] : ""; },
                                 function () { leave(false); });

  function mount() {
    box = document.createElement("aside");
    box.setAttribute("aria-label", t.title);
    box.setAttribute("data-waymark", "widget");
    launcher = css(document.createElement("button"), {
      position: "fixed", bottom: "16px", zIndex: TOP, minHeight: "48px", minWidth: "48px", margin: "0",
      padding: "10px 20px", font: "700 16px/1.25 system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif",
      color: "#ffffff", background: "#2b1f5c", border: "2px solid #ffffff", borderRadius: "24px",
      boxShadow: "0 2px 8px rgba(0,0,0,.35)", cursor: "pointer", outline: "none"
    });
    launcher.style[side] = "16px";
    launcher.type = "button";
    launcher.textContent = opts.label || t.launcher;
    launcher.setAttribute("data-waymark", "launcher");
    launcher.setAttribute("aria-expanded", "false");
    launcher.addEventListener("click", function () { setOpen(!isOpen); });
    launcher.addEventListener("focus", function () {
      css(launcher, {outline: "3px solid #ffdd00", boxShadow: "0 0 0 6px #0b0c0c"});
    });
    launcher.addEventListener("blur", function () {
      css(launcher, {outline: "none", boxShadow: "0 2px 8px rgba(0,0,0,.35)"});
    });
    announce = css(document.createElement("div"), {
      position: "absolute", width: "1px", height: "1px", margin: "-1px", padding: "0", overflow: "hidden",
      clip: "rect(0 0 0 0)", whiteSpace: "nowrap", border: "0"
    });
    announce.setAttribute("role", "status");
    box.appendChild(launcher);
    box.appendChild(announce);
    document.body.appendChild(box);
    layout();
    if (small.addEventListener) small.addEventListener("change", layout);
    window.addEventListener("message", function (e) {
      if (!frame || e.source !== frame.contentWindow || e.origin !== origin || !e.data) return;
      if (e.data.waymark === "exit") leave(true);
      else if (e.data.waymark === "gone") go();
      else if (e.data.waymark === "close") setOpen(false);
    });
    if (opts.shiftExit !== "off") document.addEventListener("keyup", onKeyup, true);
    if (opts.open === "true") setOpen(true, true);
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})(/*CONFIG*/null);
