/* Waymark staff console: live queue and chat updates by polling; a sound-free alert when someone new waits. */
(function () {
  "use strict";
  var csrf = document.body.getAttribute("data-csrf");
  var seen = null;

  function get(url) {
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}}).then(function (r) {
      if (r.status === 401) { window.location.href = "/staff/login"; throw new Error("login"); }
      return r.json();
    });
  }

  function notify(count) {
    document.title = "(" + count + " new) Waymark staff";
    if ("Notification" in window && Notification.permission === "granted") {
      new Notification("Waymark", {body: "Someone is waiting to talk."});
    }
  }

  var queue = document.querySelector('[data-staff="queue"]');
  if (queue) {
    if ("Notification" in window && Notification.permission === "default") {
      document.addEventListener("click", function ask() {
        Notification.requestPermission();
        document.removeEventListener("click", ask);
      });
    }
    var pollQueue = function () {
      get(queue.getAttribute("data-poll")).then(function (data) {
        var ids = data.items.filter(function (i) { return i.status === "waiting"; }).map(function (i) { return i.id; });
        var fresh = seen === null ? [] : ids.filter(function (id) { return seen.indexOf(id) < 0; });
        var shown = Array.prototype.map.call(queue.querySelectorAll('[data-staff="item"]'),
          function (li) { return li.getAttribute("data-alias"); }).sort().join();
        var now = data.items.map(function (i) { return i.alias; }).sort().join();
        seen = ids;
        if (fresh.length) notify(fresh.length);
        if (shown !== now) window.location.reload();  // the server renders the list; reload keeps one source
      }).catch(function () {});
    };
    setInterval(pollQueue, 3000);
    pollQueue();
  }

  var list = document.querySelector('[data-staff="messages"]');
  if (list) {
    var last = function () {
      var items = list.querySelectorAll("li[data-id]");
      return items.length ? items[items.length - 1].getAttribute("data-id") : "0";
    };
    var names = {person: document.title.split(":")[0].replace("Chat ", ""), worker: "You", system: "Waymark"};
    var add = function (m) {
      if (list.querySelector('li[data-id="' + m.id + '"]')) return;
      var li = document.createElement("li");
      li.className = m.sender;
      li.setAttribute("data-id", m.id);
      var who = document.createElement("span");
      who.className = "who";
      who.textContent = names[m.sender] + ":";
      li.appendChild(who);
      li.appendChild(document.createTextNode(" " + m.text));
      list.appendChild(li);
    };
    var pollChat = function () {
      get(list.getAttribute("data-poll") + "?after=" + last()).then(function (data) {
        data.messages.forEach(add);
        if (data.alert) document.querySelector('[data-staff="alert"]').hidden = false;
        if (!data.open) document.querySelector('[data-staff="closed"]').hidden = false;
      }).catch(function () {});
    };
    setInterval(pollChat, 2000);
    var form = document.querySelector('[data-staff="say-form"]');
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var box = form.querySelector("textarea");
      if (!box.value.trim()) return;
      var body = new URLSearchParams(new FormData(form));
      fetch(form.action, {method: "POST", body: body, credentials: "same-origin",
                          headers: {"X-CSRF-Token": csrf}}).then(function (r) {
        if (r.ok) { box.value = ""; pollChat(); }
        else if (r.status === 502) { document.querySelector('[data-staff="send-failed"]').hidden = false; pollChat(); }
        else document.querySelector('[data-staff="closed"]').hidden = false;
      });
    });
  }
})();
