// Start Mirador on every element marked data-manifest. No inline script, so a strict CSP holds.
(function () {
  "use strict";
  function start(element) {
    var manifest = element.getAttribute("data-manifest");
    window.tangthuMirador = Mirador.viewer({
      id: element.id,
      language: element.getAttribute("data-locale") || "vi",
      windows: [{ manifestId: manifest, thumbnailNavigationPosition: "far-bottom" }],
      window: {
        allowClose: false,
        allowMaximize: false,
        defaultSideBarPanel: "info",
        sideBarOpenByDefault: false,
      },
      workspaceControlPanel: { enabled: false },
      workspace: { type: "mosaic", showZoomControls: true },
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var nodes = document.querySelectorAll("[data-manifest]");
    for (var i = 0; i < nodes.length; i++) start(nodes[i]);
  });
})();
