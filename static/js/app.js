/* tracker's own behaviour on top of htmx: messages for failed requests and focus after swaps.
   No inline scripts anywhere: the Content-Security-Policy forbids them. */
(function () {
  "use strict";

  function messages() {
    return document.getElementById("messages");
  }

  // A failed htmx request shows the server's German message in the live region.
  document.addEventListener("htmx:responseError", function (evt) {
    var box = messages();
    var xhr = evt.detail.xhr;
    if (!box) return;
    var type = (xhr.getResponseHeader("Content-Type") || "").toLowerCase();
    if (type.indexOf("text/html") === 0 && xhr.responseText && xhr.responseText.length < 5000) {
      box.innerHTML = xhr.responseText;
    } else {
      box.textContent = document.body.dataset.msgError || "Die Aktion ist fehlgeschlagen.";
    }
  });

  // A boosted form answered 422 carries the same page with German messages next to the
  // fields: show it, as the browser would without JavaScript, instead of a generic error.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    if (evt.detail.boosted && evt.detail.xhr.status === 422) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });

  document.addEventListener("htmx:sendError", function () {
    var box = messages();
    if (box) {
      box.textContent = document.body.dataset.msgOffline ||
        "Keine Verbindung zum Server. Bitte prüfen Sie die Netzwerkverbindung.";
    }
  });

  // Old messages go when a new request succeeds, so the live region only says what is new.
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var box = messages();
    if (box && !evt.detail.boosted) box.innerHTML = "";
  });

  // Keep keyboard focus sensible: a swapped widget that held focus gets it back on the
  // element marked data-focus (or on the first button) inside the new content.
  document.addEventListener("htmx:afterSwap", function (evt) {
    var target = evt.detail.target;
    if (!target || evt.detail.boosted) return;
    var active = document.activeElement;
    if (active && active !== document.body && document.contains(active)) return;
    var swapped = evt.detail.elt && document.contains(evt.detail.elt) ? evt.detail.elt : target;
    var focusable = (swapped.matches && swapped.matches("[data-focus]")) ? swapped :
      swapped.querySelector && (swapped.querySelector("[data-focus]") ||
        swapped.querySelector("button:not([disabled]), a[href], input:not([type=hidden])"));
    if (focusable) focusable.focus();
  });

  // Boosted navigation: move focus to the main content like a page load would announce it.
  document.addEventListener("htmx:afterSettle", function (evt) {
    if (evt.detail.boosted) {
      var main = document.getElementById("main");
      if (main) main.focus({ preventScroll: true });
    }
  });

  // Buttons that ask before they act: data-confirm="Text" (no inline handlers allowed).
  // Listening in the capture phase on the document runs before htmx's own submit listener on
  // the form; a "no" must stop the event there, since htmx does not look at defaultPrevented.
  // (Elements that use htmx's own hx-confirm are asked by htmx.)
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    var submitter = evt.submitter;
    var text = (submitter && submitter.dataset.confirm) || form.dataset.confirm;
    if (text && !window.confirm(text)) {
      evt.preventDefault();
      evt.stopPropagation();
    }
  }, true);

  // Print buttons: data-print, rendered hidden (they need JavaScript) and shown here.
  document.addEventListener("click", function (evt) {
    if (evt.target.closest && evt.target.closest("[data-print]")) window.print();
  });
  function showPrintButtons() {
    document.querySelectorAll("[data-print][hidden]").forEach(function (b) { b.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", showPrintButtons);
  document.addEventListener("htmx:afterSettle", showPrintButtons);

  // Rows of buttons worked through with the keyboard (e.g. the attendance sheet): while focus
  // is on a button in a [data-key-row], a key listed in a button's data-key presses it and moves
  // focus to the same button in the next row; ArrowUp/ArrowDown move between rows. Active only
  // while such a button has focus (WCAG 2.1.4).
  function keyButton(row, key) {
    return row && row.querySelector('button[data-key~="' + key + '"]');
  }
  function keyRow(row, step) {
    var next = row;
    do { next = step > 0 ? next.nextElementSibling : next.previousElementSibling; }
    while (next && !next.querySelector("button[data-key]"));
    return next;
  }
  document.addEventListener("keydown", function (evt) {
    if (evt.altKey || evt.ctrlKey || evt.metaKey || evt.shiftKey || evt.isComposing) return;
    var button = evt.target.closest && evt.target.closest("button[data-key]");
    var row = button && button.closest("[data-key-row]");
    if (!row) return;
    var key = (evt.key || "").toLowerCase();
    var own = button.dataset.key.split(" ")[0];
    if (key === "arrowdown" || key === "arrowup") {
      var target = keyButton(keyRow(row, key === "arrowdown" ? 1 : -1), own);
      if (target) { evt.preventDefault(); target.focus(); }
      return;
    }
    var choice = keyButton(row, key);
    if (!choice) return;
    evt.preventDefault();
    var onward = keyButton(keyRow(row, 1), choice.dataset.key.split(" ")[0]);
    choice.click();
    // Focus waits in the next row while the answer replaces this one.
    if (onward) onward.focus();
  });
})();
