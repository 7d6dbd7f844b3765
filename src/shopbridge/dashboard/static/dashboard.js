// ShopBridge dashboard: live refresh of server-rendered fragments. No framework, no build.
//
// An element with `data-live="<url>"` is fetched again every two seconds with the header
// `X-Dashboard-Fragment: 1`; the server answers with the same part of the page, rendered
// (and escaped) like the page itself, and it replaces the element's content when it changed.
// A 401 means the session ended: reloading lands on the sign-in page. While the tab is
// hidden nothing is fetched.
(function () {
  "use strict";
  var REFRESH_MS = 2000;
  var status = document.getElementById("live-status");
  var regions = Array.prototype.slice.call(document.querySelectorAll("[data-live]"));
  var busy = false;

  function setStatus(text, cls) {
    if (!status) return;
    status.textContent = text;
    status.className = "live " + cls;
  }

  function typingIn(el) {
    var active = document.activeElement;
    return active && el.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
  }

  function refreshOne(el) {
    return fetch(el.getAttribute("data-live"), {
      headers: { "X-Dashboard-Fragment": "1" },
      credentials: "same-origin",
      cache: "no-store",
    }).then(function (resp) {
      if (resp.status === 401) {
        window.location.reload();
        throw new Error("signed out");
      }
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      return resp.text();
    }).then(function (html) {
      if (html !== el.__sbLast && !typingIn(el)) {
        // Keep what the user opened (<details id=…>) open across the swap.
        var open = Array.prototype.map.call(el.querySelectorAll("details[id][open]"),
          function (d) { return d.id; });
        el.innerHTML = html;
        el.__sbLast = html;
        open.forEach(function (id) {
          var d = document.getElementById(id);
          if (d) d.open = true;
        });
      }
    });
  }

  function refresh() {
    if (busy || document.hidden || regions.length === 0) return;
    busy = true;
    Promise.all(regions.map(refreshOne)).then(function () {
      setStatus("live · " + new Date().toLocaleTimeString(), "on");
      document.documentElement.setAttribute("data-refreshed", String(Date.now()));
    }, function () {
      setStatus("reconnecting…", "stale");
    }).then(function () { busy = false; });
  }

  if (regions.length) {
    setStatus("live", "on");
    setInterval(refresh, REFRESH_MS);
    document.addEventListener("visibilitychange", refresh);
  }

  // `make demo` prints a link ending in #key=sbk_…: fill the sign-in form from it, drop the
  // key from the address bar and history at once, and sign in.
  var form = document.getElementById("login-form");
  if (form && window.location.hash.indexOf("#key=") === 0) {
    var key = decodeURIComponent(window.location.hash.slice(5));
    history.replaceState(null, "", window.location.pathname + window.location.search);
    if (key) {
      form.querySelector("input[name=key]").value = key;
      form.submit();
    }
  }
})();
