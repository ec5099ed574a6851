// Drag pages to reorder them; the hidden "order" inputs follow the cards, so saving the
// form sends the new order. The arrow buttons do the same without a mouse.
(function () {
  "use strict";
  var list = document.getElementById("page-list");
  if (!list) return;
  var dragged = null;
  list.addEventListener("dragstart", function (e) {
    dragged = e.target.closest(".page");
    if (dragged) { dragged.classList.add("dragging"); e.dataTransfer.effectAllowed = "move"; }
  });
  list.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
  });
  list.addEventListener("dragover", function (e) {
    e.preventDefault();
    var over = e.target.closest(".page");
    if (!dragged || !over || over === dragged) return;
    var box = over.getBoundingClientRect();
    var after = (e.clientX - box.left) > box.width / 2;
    list.insertBefore(dragged, after ? over.nextSibling : over);
  });
})();
