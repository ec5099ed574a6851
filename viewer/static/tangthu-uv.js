// Start Universal Viewer 4 on the element marked data-uv-manifest; no inline script.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var element = document.getElementById("uv");
    window.tangthuUV = UV.init("uv", {
      manifest: element.getAttribute("data-uv-manifest"),
      embedded: true,
    });
  });
})();
