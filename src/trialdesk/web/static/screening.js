// The screening form (external script: the Content-Security-Policy forbids inline script).
// - Enter in a field does not submit the whole screening (only the Save button does);
// - questions asked of women only (pregnancy, nursing, pregnancy test) are not offered when
//   the candidate is male; the server ignores them for a man in any case.
(function () {
  "use strict";
  function form() { return document.getElementById("screening-form"); }

  function showForSex() {
    var f = form();
    var sex = document.getElementById("f-sex");
    if (!f || !sex) { return; }
    var male = sex.value === "M";
    f.querySelectorAll("[data-female-only]").forEach(function (el) {
      el.hidden = male;
      el.querySelectorAll("input, select, textarea").forEach(function (input) {
        input.disabled = male;
      });
    });
  }

  function keepEnter(event) {
    if (event.key !== "Enter") { return; }
    var target = event.target;
    var tag = target.tagName;
    if (tag === "TEXTAREA" || tag === "BUTTON" || target.type === "submit") { return; }
    if (tag === "INPUT" || tag === "SELECT") { event.preventDefault(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var f = form();
    if (!f) { return; }
    f.addEventListener("keydown", keepEnter);
    f.addEventListener("change", function (event) {
      if (event.target && event.target.id === "f-sex") { showForSex(); }
    });
    showForSex();
  });
}());
