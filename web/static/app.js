// Satchel's only script: progressive enhancement. Every screen works without it.
// - the quick search box shows results as you type (a fragment rendered and escaped by the server);
// - "/" jumps to the search box from anywhere, Escape closes the results, arrows move through them;
// - an INN or a KPP typed into a form (inputs with data-check) is checked as it is typed, with the
//   rules of crm/validation.py, and the problem is shown beside the field. The messages come from
//   the page (data-* attributes, in the user's language). The server checks again and decides.
// - the new letter's contact person fills in "To" with their email (<select data-fills>, each
//   <option data-email>) while "To" is empty or still holds the previous pick's address.
// Every address comes from the page: the screens may live under a prefix (a laptop's /u/<secret>),
// given by <body data-base> and already part of the search box's data-results.
(function () {
  "use strict";
  var INN10 = [2, 4, 10, 3, 5, 9, 4, 6, 8];
  var INN11 = [7, 2, 4, 10, 3, 5, 9, 4, 6, 8];
  var INN12 = [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8];

  function digit(digits, weights) {  // weighted sum mod 11, then mod 10 (crm.validation._inn_digit)
    var total = 0;
    for (var i = 0; i < weights.length; i++) { total += Number(digits.charAt(i)) * weights[i]; }
    return String(total % 11 % 10);
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, name) { return name in values ? values[name] : all; });
  }

  // The problem with an INN, or "" when there is none yet; ``done`` when the person left the field.
  function innProblem(input, done) {
    var inn = input.value.replace(/\s+/g, "");
    if (!inn) { return ""; }
    if (!/^[0-9]+$/.test(inn)) { return input.dataset.digits; }
    if (inn.length !== 10 && inn.length !== 12) {
      return done || inn.length > 12 ? fill(input.dataset.length, { n: inn.length }) : "";
    }
    var expected = inn.length === 10 ? digit(inn, INN10) : digit(inn, INN11);
    if (inn.length === 12) { expected += digit(inn, INN12); }
    var got = inn.slice(-expected.length);
    return got === expected ? "" : fill(input.dataset.checksum, { expected: expected, got: got });
  }

  function kppProblem(input, done) {
    var kpp = input.value.replace(/\s+/g, "").toUpperCase();
    if (!kpp) { return ""; }
    var inn = input.form && input.form.querySelector("[data-check=inn]");
    if (inn && inn.value.replace(/\s+/g, "").length === 12) { return input.dataset.sole; }
    if (kpp.length !== 9) { return done || kpp.length > 9 ? fill(input.dataset.length, { n: kpp.length }) : ""; }
    return /^[0-9]{4}[0-9A-Z]{2}[0-9]{3}$/.test(kpp) ? "" : input.dataset.pattern;
  }

  function show(input, message) {
    var id = input.id + "-error";
    var note = document.getElementById(id);
    // The server's word on the value it was shown with stays until the value changes.
    if (!message && note && input.value === input.defaultValue) { return; }
    if (message) {
      if (!note) {
        note = document.createElement("span");
        note.className = "field-error";
        note.id = id;
        note.setAttribute("aria-live", "polite");
        input.insertAdjacentElement("afterend", note);
      }
      note.textContent = message;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", id);
    } else {
      if (note) { note.remove(); }
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    }
    if (input.parentElement) { input.parentElement.classList.toggle("invalid", Boolean(message)); }
  }

  function check(input, done) {
    show(input, input.dataset.check === "inn" ? innProblem(input, done) : kppProblem(input, done));
    if (input.dataset.check === "inn" && input.form) {  // a 12-digit INN has no KPP: look at the KPP again
      var kpp = input.form.querySelector("[data-check=kpp]");
      if (kpp && kpp.value) { show(kpp, kppProblem(kpp, true)); }
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll("input[data-check]"), function (field) {
    field.addEventListener("input", function () { check(field, false); });
    field.addEventListener("change", function () { check(field, true); });
  });
})();

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

(function () {
  "use strict";
  // A contact person picked on the new letter form: their first email goes to "To", unless the
  // person typed addresses of their own there. Without the script the server does the same when
  // "To" is left empty.
  Array.prototype.forEach.call(document.querySelectorAll("select[data-fills]"), function (select) {
    var to = document.getElementById(select.dataset.fills);
    if (!to) { return; }
    function picked() {
      var option = select.options[select.selectedIndex];
      return (option && option.dataset.email) || "";
    }
    var previous = picked();
    select.addEventListener("change", function () {
      var address = picked();
      var current = to.value.trim();
      if (!current || current === previous) {
        to.value = address;
        to.dispatchEvent(new Event("input", { bubbles: true }));
      }
      previous = address;
    });
  });
})();
