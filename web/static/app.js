// Satchel's only script: progressive enhancement. Every screen works without it.
// - the quick search box shows results as you type (a fragment rendered and escaped by the server);
// - "/" jumps to the search box from anywhere, Escape closes the results, arrows move through them.
// Every address comes from the page: the screens may live under a prefix (a laptop's /u/<secret>),
// given by <body data-base> and already part of the search box's data-results.
(function () {
  "use strict";
  var input = document.getElementById("quick-search");
  var box = document.getElementById("quick-results");
  if (!input || !box) { return; }
  var base = document.body.dataset.base || "";
  var timer = null;
  var asked = 0;

  function close() { box.replaceChildren(); box.classList.remove("open"); }

  function ask() {
    var q = input.value.trim();
    var mine = ++asked;
    if (!q) { close(); return; }
    fetch(input.dataset.results + "?q=" + encodeURIComponent(q), {
      credentials: "same-origin",
      headers: { "X-Satchel-Fragment": "1" }
    }).then(function (r) {
      if (r.status === 401) { window.location.assign(base + "/signin"); return null; }
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html === null || mine !== asked) { return; }  // a later keystroke already asked again
      var doc = new DOMParser().parseFromString(html, "text/html");
      box.replaceChildren.apply(box, Array.prototype.slice.call(doc.body.childNodes));
      box.classList.toggle("open", box.childNodes.length > 0);
    }).catch(function () { /* offline or server gone: the form still submits */ });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 120);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "ArrowDown") {
      var first = box.querySelector("a");
      if (first) { e.preventDefault(); first.focus(); }
    } else if (e.key === "Escape") { close(); }
  });
  box.addEventListener("keydown", function (e) {
    var links = Array.prototype.slice.call(box.querySelectorAll("a"));
    var at = links.indexOf(document.activeElement);
    if (e.key === "ArrowDown" && at < links.length - 1) { e.preventDefault(); links[at + 1].focus(); }
    if (e.key === "ArrowUp") { e.preventDefault(); (at > 0 ? links[at - 1] : input).focus(); }
    if (e.key === "Escape") { close(); input.focus(); }
  });
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    var typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
    if (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      input.focus();
      input.select();
    }
  });
  document.addEventListener("click", function (e) {
    if (!box.contains(e.target) && e.target !== input) { close(); }
  });
})();
