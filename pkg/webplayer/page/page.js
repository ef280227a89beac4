// The page around asciinema-player for one kubectl-rexec recording.
// Everything that comes from the recording is read from the two JSON blocks
// and put into the page as text (textContent, never HTML): a recording is
// untrusted input.
(function () {
  "use strict";

  var meta = JSON.parse(document.getElementById("rexec-meta").textContent);
  var events = JSON.parse(document.getElementById("rexec-events").textContent);
  var header = meta.header || {};
  var rexec = header.rexec || {};
  var term = header.term || {};
  var startMs = parseStart(rexec.start, header.timestamp);

  var el = document.getElementById("player");
  var utcEl = document.getElementById("utc");
  var offsetEl = document.getElementById("offset");
  var speedEl = document.getElementById("speed");
  var player = null;
  var playing = false;
  var speed = 1;

  // asciicast v2 takes absolute times, which the events already are.
  var data = [{ version: 2, width: term.cols || 80, height: term.rows || 24 }].concat(events);
  var markers = events.filter(function (e) { return e[1] === "m"; });

  // parseStart reads an RFC 3339 time to milliseconds; the fraction past
  // milliseconds is cut, since Date keeps no more.
  function parseStart(s, unixSeconds) {
    if (typeof s === "string") {
      var m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(s);
      if (m) {
        var ms = Date.parse(m[1] + m[3]);
        if (!isNaN(ms)) {
          return ms + (m[2] ? Number((m[2] + "00").slice(0, 3)) : 0);
        }
      }
    }
    return typeof unixSeconds === "number" ? unixSeconds * 1000 : 0;
  }

  function utc(seconds) {
    var d = new Date(startMs + Math.round(seconds * 1000));
    return d.toISOString().replace("T", " ").replace("Z", " UTC");
  }

  function clock(seconds) {
    var s = Math.floor(seconds);
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var out = String(s % 60).padStart(2, "0");
    out = (h > 0 ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + out;
    return out + "." + String(Math.floor((seconds - s) * 1000)).padStart(3, "0");
  }

  function text(tag, s, cls) {
    var e = document.createElement(tag);
    e.textContent = s;
    if (cls) e.className = cls;
    return e;
  }

  function fact(dl, name, value) {
    if (value === undefined || value === null || value === "") return;
    dl.appendChild(text("dt", name));
    dl.appendChild(text("dd", String(value)));
  }

  function showFacts() {
    var where = [rexec.namespace, rexec.pod, rexec.container].filter(Boolean).join("/");
    var title = header.title || where || "recording";
    document.title = "kubectl-rexec: " + title + " at " + utc(0);
    document.getElementById("title").textContent = title;
    var dl = document.getElementById("facts");
    var user = rexec.user || {};
    fact(dl, "user", user.username + (user.groups && user.groups.length ? " (" + user.groups.join(", ") + ")" : ""));
    fact(dl, "where", where);
    fact(dl, "context", rexec.context);
    fact(dl, "cluster", rexec.cluster);
    fact(dl, "server", rexec.server);
    fact(dl, "node", rexec.node);
    fact(dl, "image", rexec.image);
    fact(dl, "command", (rexec.argv || []).join(" ") || header.command);
    fact(dl, "started", utc(0));
    var tr = meta.trailer;
    if (tr) {
      fact(dl, "ended", utc(tr.duration) + " (" + clock(tr.duration) + ")");
      fact(dl, "end", tr.reason + (tr.exit_code !== null && tr.exit_code !== undefined ? ", exit code " + tr.exit_code : "") + (tr.message ? ": " + tr.message : ""));
      if (tr.key_id) fact(dl, "signed by", tr.key_id + " (check with kubectl rexec verify --pub KEY on the original)");
    } else {
      fact(dl, "end", "the recording ended abruptly (no trailer)" + (meta.error ? ": " + meta.error : ""));
    }
    fact(dl, "reason", rexec.reason);
    fact(dl, "ticket", rexec.ticket);
    fact(dl, "client", (rexec.client_user || "") + "@" + (rexec.client_host || ""));
    fact(dl, "session id", rexec.session_id);
    fact(dl, "audit id", rexec.audit_id);
    fact(dl, "recorded by", "kubectl-rexec " + (rexec.rexec_version || "") + ", format version " + (rexec.format_version || 1));
    var notes = document.getElementById("notes");
    if (rexec.input_omitted) {
      notes.appendChild(text("p", "What was typed was not recorded (--record-input=false); the terminal's echo is in the output."));
    } else if (rexec.input_redaction === "unechoed") {
      notes.appendChild(text("p", "Typed input that the remote terminal did not echo (passwords at prompts, keys sent to full-screen programs) was recorded as its length only."));
    }
    if (meta.error) {
      notes.appendChild(text("p", "Reading the recording stopped early: " + meta.error));
    }
  }

  function showCommands() {
    var ol = document.getElementById("commands");
    markers.forEach(function (m, i) {
      var li = document.createElement("li");
      var b = document.createElement("button");
      b.type = "button";
      b.appendChild(text("span", clock(m[0]) + "  " + utc(m[0]), "when"));
      b.appendChild(text("span", m[2], "label"));
      b.addEventListener("click", function () {
        if (player) player.seek({ marker: i });
      });
      li.appendChild(b);
      ol.appendChild(li);
    });
    if (markers.length === 0) {
      ol.parentNode.appendChild(text("p", "No commands were marked in this recording."));
    }
  }

  // create (re)builds the player: asciinema-player takes its speed only
  // when it is created, so a new speed means a new player at the same time.
  function create(at, play) {
    if (player) player.dispose();
    el.textContent = "";
    player = AsciinemaPlayer.create({ data: data }, el, {
      preload: true,
      speed: speed,
      fit: "width",
      terminalFontSize: "15px",
    });
    playing = false;
    player.addEventListener("play", function () { playing = true; });
    player.addEventListener("playing", function () { playing = true; });
    player.addEventListener("pause", function () { playing = false; });
    player.addEventListener("ended", function () { playing = false; });
    if (at > 0 || play) {
      var p = at > 0 ? player.seek(at) : Promise.resolve();
      p.then(function () { if (play) return player.play(); });
    }
  }

  function tick() {
    var t = 0;
    if (player) {
      var c = player.getCurrentTime();
      if (typeof c === "number" && isFinite(c)) t = c;
    }
    utcEl.textContent = utc(t);
    offsetEl.textContent = clock(t);
    requestAnimationFrame(tick);
  }

  speedEl.addEventListener("change", function () {
    var v = Number(speedEl.value);
    if (!(v > 0)) return;
    var at = player ? player.getCurrentTime() || 0 : 0;
    speed = v;
    create(at, playing);
  });

  showFacts();
  showCommands();
  create(0, false);
  tick();

  // For scripts (and tests): the player in use, and the session start.
  window.rexec = {
    player: function () { return player; },
    startMs: startMs,
    utc: utc,
  };
})();
