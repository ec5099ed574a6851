// Warn before leaving a page whose form has changes not yet saved. The warning is off
// once the form itself is submitted (its buttons save), so saving never asks.
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-unsaved-warning]");
  if (!forms.length) return;
  var changed = false;
  var leaving = false;
  Array.prototype.forEach.call(forms, function (form) {
    form.addEventListener("input", function () { changed = true; });
    form.addEventListener("change", function () { changed = true; });
    form.addEventListener("submit", function () { leaving = true; });
  });
  window.addEventListener("beforeunload", function (event) {
    if (!changed || leaving) return;
    event.preventDefault();
    event.returnValue = "";  // older browsers show their own text only when this is set
  });
  // Back from the next page (bfcache): the form shows what was saved, so start afresh.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { changed = false; leaving = false; }
  });
})();
