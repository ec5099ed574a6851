// The admin item list: one box ticks every item on the page. Without JavaScript the box
// stays hidden and each item is ticked alone; the bulk form works the same either way.
(function () {
  "use strict";
  var all = document.getElementById("pick-all");
  if (!all) return;
  var boxes = Array.prototype.slice.call(document.querySelectorAll('#bulk input[name="item"]'));
  all.parentNode.hidden = false;
  all.addEventListener("change", function () {
    boxes.forEach(function (box) { box.checked = all.checked; });
  });
  boxes.forEach(function (box) {
    box.addEventListener("change", function () {
      var ticked = boxes.filter(function (b) { return b.checked; }).length;
      all.checked = ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    });
  });
})();
