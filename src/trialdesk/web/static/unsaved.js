/* Unsaved values are never lost without a warning (issue 13).
 *
 * Forms marked data-unsaved-guard are compared with what they held when the page was shown
 * (data-unsaved-guard="dirty": the page is a form sent back unsaved, so it counts as unsaved
 * from the start). Leaving the page with such a form changed asks first (the browser's own
 * "Leave site?" dialog, HTML Living Standard, "beforeunload"); submitting another form of the
 * page while one is changed asks too, since that submit would leave the typed values behind.
 * An external file: the Content-Security-Policy forbids inline script.
 */
(function () {
  "use strict";

  var initial = new Map();
  var submitting = false;

  function guarded() {
    return Array.prototype.slice.call(document.querySelectorAll("form[data-unsaved-guard]"));
  }

  function snapshot(form) {
    return new URLSearchParams(new FormData(form)).toString();
  }

  function isUnsaved(form) {
    return initial.has(form) && snapshot(form) !== initial.get(form);
  }

  function unsavedExcept(form) {
    return guarded().filter(function (f) { return f !== form && isUnsaved(f); });
  }

  function showState() {
    guarded().forEach(function (form) {
      var note = form.querySelector(".unsaved-note");
      if (note) { note.hidden = !isUnsaved(form); }
    });
  }

  function remember() {
    guarded().forEach(function (form) {
      var dirty = form.getAttribute("data-unsaved-guard") === "dirty";
      initial.set(form, dirty ? "\u0000sent back unsaved" : snapshot(form));
    });
    showState();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", remember);
  } else {
    remember();
  }

  document.addEventListener("input", showState, true);
  document.addEventListener("change", showState, true);

  document.addEventListener("submit", function (event) {
    var others = unsavedExcept(event.target);
    if (others.length > 0 && !window.confirm(
      "Another form on this page has values that are not saved. Submitting this one leaves " +
      "them behind. Continue?")) {
      event.preventDefault();
      return;
    }
    submitting = true;
  }, true);

  window.addEventListener("beforeunload", function (event) {
    if (submitting || unsavedExcept(null).length === 0) { return; }
    event.preventDefault();
    event.returnValue = "";  // older Chromium needs a value to show the dialog
  });
})();
