/* Waymark chat frame: talks to /api/v1 and keeps everything in memory only (a reload starts afresh).
   Exit and Shift pressed 3 times blank it at once, delete the conversation and leave for a neutral page.
   Text from the server is only ever inserted as text; links are built as nodes. */
document.documentElement.classList.add("wm-js"); // hides the no-JavaScript note before it is drawn
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var root = document.getElementById("waymark");
  var cfg = JSON.parse(root.getAttribute("data-config"));
  var t = cfg.ui[cfg.lang];
  function part(name) { return root.querySelector('[data-waymark="' + name + '"]'); }
  var scroll = part("scroll"), log = part("log"), typing = part("typing"), options = part("options");
  var form = part("form"), input = part("input"), nav = part("nav"), announce = part("announce");
  var exitLink = part("exit"), hide = part("close"), language = part("language");
  var lights = exitLink.querySelectorAll(".wm-lights span");
  var embedded = window.parent !== window;
  var conv = null; // {id, token}, never written anywhere
  var busy = false, leaving = false, wantFocus = embedded, fallback = 0, asked = null;

  scroll.hidden = false;
  form.hidden = false;
  if (language) language.hidden = false;
  if (embedded) hide.hidden = false;

  // -- talking to the API --------------------------------------------------------------------------

  function call(method, path, body) {
    var headers = {"Accept": "application/json"};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (conv) headers.Authorization = "Bearer " + conv.token;
    return fetch(cfg.api + path, {
      method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer"
    }).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (data) { return {status: r.status, data: data}; });
    }).catch(function () { return {status: 0, data: null}; });
  }

  function pause(ms) { return new Promise(function (done) { setTimeout(done, ms); }); }

  function exchange(method, path, body) {
    busy = true;
    typing.hidden = false;
    scroll.scrollTop = scroll.scrollHeight;
    // A short pause with the typing dots reads as a reply being written, not a form being posted.
    return Promise.all([call(method, path, body), pause(350)]).then(function (res) {
      typing.hidden = true;
      busy = false;
      return res[0];
    });
  }

  function convPath(tail) { return "/conversations/" + encodeURIComponent(conv.id) + tail; }

  function start() {
    conv = null;
    setOptions([]);
    exchange("POST", "/conversations", {lang: cfg.lang}).then(function (res) {
      if (leaving) return;
      if (res.status === 201 && res.data) {
        conv = {id: res.data.id, token: res.data.token};
        show(res.data, wantFocus);
        wantFocus = false;
      } else {
        trouble(res, wantFocus);
      }
    });
  }

  function send(body, echo, byChoice) {
    if (busy || leaving || !conv) return false;
    asked = echo ? say("you", [{text: echo}]) : null;
    exchange("POST", convPath("/messages"), body).then(function (res) {
      if (leaving) return;
      if (res.status === 200 && res.data) show(res.data, byChoice);
      else trouble(res, byChoice);
    });
    return true;
  }

  // -- showing replies -------------------------------------------------------------------------------

  function say(who, parts, extra) {
    var p = document.createElement("p");
    p.className = "wm-msg wm-" + who + (extra ? " " + extra : "");
    p.dir = "auto"; // each message in its own direction: an English fallback stays readable in an Arabic chat
    var label = document.createElement("span");
    label.className = "wm-vh";
    label.textContent = (who === "bot" ? t.bot : t.you) + ": ";
    p.appendChild(label);
    parts.forEach(function (bit) {
      if (bit.href && /^tel:\+?[0-9]+$/.test(bit.href)) {
        var a = document.createElement("a");
        a.href = bit.href;
        a.textContent = bit.text;
        p.appendChild(a);
      } else {
        p.appendChild(document.createTextNode(bit.text));
      }
    });
    log.appendChild(p);
    return p;
  }

  function setOptions(list) {
    options.replaceChildren();
    list.forEach(function (o) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "wm-option";
      b.textContent = o.label;
      b.setAttribute("data-option", o.id);
      b.addEventListener("click", function () { send({option: o.id}, o.label, true); });
      options.appendChild(b);
    });
    options.hidden = !list.length;
  }

  function focusNext() {
    var target = options.querySelector("button") || input;
    target.focus({preventScroll: true});
  }

  function relabel(lang) {
    if (!cfg.ui[lang]) return;
    t = cfg.ui[lang];
    root.querySelectorAll("[data-t]").forEach(function (node) { node.textContent = t[node.getAttribute("data-t")]; });
    root.querySelectorAll("[data-t-label]").forEach(function (node) {
      node.setAttribute("aria-label", t[node.getAttribute("data-t-label")]);
    });
    document.title = t.frame_title;
  }

  function show(reply, focus) {
    if (reply.lang !== document.documentElement.lang) relabel(reply.lang);
    document.documentElement.lang = reply.lang;
    document.documentElement.dir = reply.dir;
    if (language) language.value = reply.lang;
    var first = null;
    reply.messages.forEach(function (m) {
      var node = say("bot", m.parts);
      if (m.lang && m.lang !== reply.lang) node.lang = m.lang; // read out in its own language
      first = first || node;
    });
    nav.textContent = reply.nav || "";
    setOptions(reply.options);
    var top = asked || first; // what the person said, then the replies, or as far as they go
    if (top) scroll.scrollTop = top.offsetTop - 12;
    asked = null;
    if (focus) focusNext();
    if (reply.ended) leave(false); // EXIT typed: the server has already deleted it
    else if (reply.live) listen();
  }

  // -- a worker's words during a live chat (long-poll /updates while the reply says live) ----------

  var listening = false;
  function listen() {
    if (listening) return;
    listening = true;
    (function next() {
      if (leaving || !conv) { listening = false; return; }
      call("GET", convPath("/updates?wait=20")).then(function (res) {
        if (leaving || !conv) { listening = false; return; }
        if (res.status === 200 && res.data) {
          if (res.data.messages.length) {
            setOptions([]); // the choices were the bot's; now a person is talking (or the chat has ended)
            nav.textContent = "";
            res.data.messages.forEach(function (m) { say("bot", m.parts); });
            scroll.scrollTop = scroll.scrollHeight;
          }
          if (res.data.live) next();
          else listening = false;
        } else if (res.status === 0) {
          setTimeout(next, 3000); // offline for a moment: try again
        } else {
          listening = false;
        }
      });
    })();
  }

  function trouble(res, focus) {
    var data = res.data || {};
    say("bot", [{text: (data.message || t.offline) + " "}].concat(t.emergency), "wm-error");
    if (!conv || [401, 403, 404, 410].indexOf(res.status) >= 0) offerRestart(focus);
    else if (focus) focusNext();
  }

  function offerRestart(focus) {
    conv = null;
    nav.textContent = "";
    options.replaceChildren();
    var b = document.createElement("button");
    b.type = "button";
    b.className = "wm-again";
    b.textContent = t.start_again;
    b.addEventListener("click", function () {
      log.replaceChildren();
      wantFocus = true;
      start();
    });
    options.appendChild(b);
    options.hidden = false;
    if (focus) b.focus({preventScroll: true});
  }

  // -- leaving ---------------------------------------------------------------------------------------

  function forgetOnServer() {
    if (!conv) return;
    var url = cfg.api + convPath("/exit");
    var data = new URLSearchParams({token: conv.token});
    conv = null;
    var sent = false;
    try { sent = navigator.sendBeacon(url, data); } catch (err) { sent = false; }
    if (!sent) fetch(url, {method: "POST", body: data, keepalive: true, credentials: "omit"}).catch(function () {});
  }

  function leave(deleteIt, hostIsLeaving) {
    if (leaving) return;
    leaving = true;
    document.documentElement.classList.add("wm-leaving");
    root.replaceChildren(); // nothing of the chat stays on screen or in the page
    if (deleteIt !== false) forgetOnServer();
    conv = null;
    if (hostIsLeaving) return;
    if (embedded) {
      // widget.js on the host page blanks it and leaves, and says so; if nothing answers, leave from here.
      window.parent.postMessage({waymark: "exit"}, "*");
      fallback = setTimeout(goTop, 300);
    } else {
      goTop();
    }
  }

  function goTop() {
    try {
      window.top.location.replace(cfg.exitUrl); // replace: Back does not come back to the chat
    } catch (err) {
      location.replace(cfg.exitUrl);
    }
  }

  exitLink.addEventListener("click", function (e) {
    e.preventDefault();
    leave(true);
  });
  window.addEventListener("pagehide", forgetOnServer); // a reload or closed tab forgets the conversation too

  // Shift pressed 3 times leaves too (shift.js); the exit link's lights count the presses.
  var onShift = waymarkShiftExit(function (presses, key) {
    exitLink.classList.toggle("wm-counting", presses > 0);
    for (var i = 0; i < lights.length; i++) lights[i].classList.toggle("wm-on", i < presses);
    announce.textContent = key ? t[key] : "";
  }, function () { leave(true); });
  document.addEventListener("keyup", function (e) { if (!leaving) onShift(e); }, true);

  // -- the host page (widget.js) -----------------------------------------------------------------------

  function close() { if (embedded) window.parent.postMessage({waymark: "close"}, "*"); }
  hide.addEventListener("click", close);
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && embedded) close();
  });
  window.addEventListener("message", function (e) {
    if (e.source !== window.parent || !e.data || typeof e.data.waymark !== "string") return;
    if (e.data.waymark === "open") {
      if (conv) focusNext();
      else wantFocus = true;
    } else if (e.data.waymark === "exit") {
      if (leaving) clearTimeout(fallback); // the host page is leaving already
      leave(true, true);
      window.parent.postMessage({waymark: "gone"}, "*"); // deleted: the host page may navigate now
    }
  });

  // -- typing, choosing, switching language ----------------------------------------------------------------

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var words = input.value.trim();
    if (!words || busy || !conv) return;
    input.value = "";
    send({text: words}, words, false);
  });
  if (language) {
    language.addEventListener("change", function () {
      if (!send({lang: language.value}, null, false)) language.value = document.documentElement.lang;
    });
  }

  start();
});
