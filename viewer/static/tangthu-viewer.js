// Start Mirador on every element marked data-manifest. No inline script, so a strict CSP holds.
(function () {
  "use strict";

  // Mirador 4 keeps the tiled image it made from the first (401) info.json even after
  // IIIF Auth succeeds. When a new access token arrives the page is loaded again: the
  // access cookie set at sign-in now goes with every request to our image server.
  function reloadAfterSignIn(instance) {
    var store = instance.store;
    store.subscribe(function () {
      var tokens = Object.values(store.getState().accessTokens || {});
      if (tokens.some(function (t) { return t.json && t.json.accessToken; })) {
        window.location.reload();
      }
    });
  }

  // Requests to our own image server carry cookies, so a signed-in reader's first
  // info.json is already the full one. Partners' servers get plain requests.
  function withCredentialsFor(imageBase) {
    return function (url, options) {
      if (imageBase && url.indexOf(imageBase) === 0) {
        return Object.assign({}, options, { credentials: "include" });
      }
      return options;
    };
  }

  function start(element) {
    var manifest = element.getAttribute("data-manifest");
    var instance = Mirador.viewer({
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
      requests: { preprocessors: [withCredentialsFor(element.getAttribute("data-image-base"))] },
    });
    reloadAfterSignIn(instance);
    window.tangthuMirador = instance;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var nodes = document.querySelectorAll("[data-manifest]");
    for (var i = 0; i < nodes.length; i++) start(nodes[i]);
  });
})();
