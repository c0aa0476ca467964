// FastPay live (notifications/streams/live.py): payments and redemptions as they arrive.
(function () {
  "use strict";
  var list = document.getElementById("events");
  var state = document.getElementById("state");
  var empty = document.getElementById("empty");
  var csrf = (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";
  var last = null, wait = 500, quiet = null;
  var LABELS = {
    "payment.succeeded": "Payment received", "payment.approved": "Payment approved",
    "payment.refunded": "Payment refunded", "offline.redemption_received": "Redemption received",
    "offline.redemption_settled": "Redemption settled", "offline.redemption_flagged": "Redemption held",
    "offline.redemption_rejected": "Redemption rejected"
  };

  function show(ev) {
    var label = LABELS[ev.type];
    if (!label) return;
    var d = ev.data || {};
    var li = document.createElement("li");
    li.dataset.eventId = ev.id;
    var left = document.createElement("div");
    left.innerHTML = "<div></div><div class='what'></div>";
    left.firstChild.textContent = label;
    left.lastChild.textContent = (d.payer ? "from " + d.payer + " · " : "") +
      new Date(ev.created).toLocaleTimeString();
    var amount = document.createElement("div");
    amount.className = "amount";
    amount.textContent = (d.amount || "") + " " + (d.token || "");
    li.appendChild(left);
    li.appendChild(amount);
    list.insertBefore(li, list.firstChild);
    empty.hidden = true;
  }

  function status(text, live) { state.textContent = text; state.className = live ? "live" : ""; }

  function retry() {
    status("reconnecting", false);
    setTimeout(connect, wait);
    wait = Math.min(wait * 2, 30000);
  }

  function connect() {
    fetch("/api/v1/stream-tickets/", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify({stream: "events"})
    }).then(function (r) {
      if (r.status === 401) { location.href = "/live/login/?next=/live/"; return null; }
      if (r.status === 403) {  // not approved, suspended: say so, do not retry
        r.json().then(function (b) { status(b.error.message, false); });
        return null;
      }
      if (!r.ok) throw new Error("ticket: " + r.status);
      return r.json();
    }).then(function (t) {
      if (!t) return;
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      var ws = new WebSocket(scheme + location.host + t.url + (last ? "&after=" + last : ""));
      function alive() {  // a ping every 15 s at most: silence means a dead connection
        clearTimeout(quiet);
        quiet = setTimeout(function () { ws.close(); }, 45000);
      }
      ws.onopen = alive;
      ws.onmessage = function (m) {
        alive();
        var msg = JSON.parse(m.data);
        if (msg.type === "stream.ping") { ws.send(JSON.stringify({type: "stream.pong", n: msg.n})); }
        else if (msg.type === "stream.ready") { status("live", true); wait = 500; }
        else if (msg.type === "stream.error") { if (msg.code === "unknown_event") last = null; }
        else if (msg.id) { last = msg.id; show(msg); }
      };
      ws.onclose = function () { clearTimeout(quiet); retry(); };
    }).catch(retry);
  }

  connect();
})();
