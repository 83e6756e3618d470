/* Attendance sheet: keyboard shortcuts for entering a paper list fast, and the print button.
   Letter keys act only while focus is on a status button (WCAG 2.1.4: active on focus only). */
(function () {
  "use strict";

  var KEYS = { a: "present", e: "excused", u: "absent", "1": "present", "2": "excused", "3": "absent" };

  function rowButton(row, status) {
    return row && row.querySelector('[data-status-button][value="' + status + '"]');
  }

  function siblingRow(row, step) {
    var next = step > 0 ? row.nextElementSibling : row.previousElementSibling;
    while (next && !next.querySelector("[data-status-button]")) {
      next = step > 0 ? next.nextElementSibling : next.previousElementSibling;
    }
    return next;
  }

  document.addEventListener("keydown", function (evt) {
    if (evt.altKey || evt.ctrlKey || evt.metaKey || evt.shiftKey) return;
    var button = evt.target && evt.target.closest && evt.target.closest("[data-status-button]");
    if (!button) return;
    var row = button.closest("[data-sheet-row]");
    if (!row) return;
    var key = (evt.key || "").toLowerCase();
    if (key === "arrowdown" || key === "arrowup") {
      var other = siblingRow(row, key === "arrowdown" ? 1 : -1);
      var target = rowButton(other, button.value);
      if (target) {
        evt.preventDefault();
        target.focus();
      }
      return;
    }
    var status = KEYS[key];
    if (!status) return;
    evt.preventDefault();
    var choice = rowButton(row, status);
    var next = siblingRow(row, 1);
    if (choice) choice.click();
    // Move on at once: the answer swaps the old row while focus already waits in the next one.
    var onward = rowButton(next, status);
    if (onward) onward.focus();
  });

  document.addEventListener("click", function (evt) {
    if (evt.target.closest && evt.target.closest("[data-print]")) window.print();
  });

  function showPrintButtons() {
    document.querySelectorAll("[data-print][hidden]").forEach(function (b) { b.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", showPrintButtons);
  document.addEventListener("htmx:afterSettle", showPrintButtons);
})();
