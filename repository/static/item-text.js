// The "Text of this page" panel on an item page: the recognised text of one page at a
// time, fetched from the item's page-text.json (as open as the pages' images), turned
// with its own buttons or by the page number, and following the page shown in Mirador.
(function () {
  "use strict";

  function start(panel) {
    var url = panel.getAttribute("data-url");
    var pages = parseInt(panel.getAttribute("data-pages"), 10) || 1;
    var body = panel.querySelector(".page-text-body");
    var number = panel.querySelector("#page-text-number");
    var label = panel.querySelector(".page-label");
    var current = panel.getAttribute("data-image");
    var asked = 0;

    function say(message) {
      body.textContent = message;
      body.classList.remove("vertical");
    }

    function load(query, fromViewer) {
      var ticket = ++asked;
      panel.setAttribute("aria-busy", "true");
      label.textContent = panel.getAttribute("data-loading");
      fetch(url + "?" + new URLSearchParams(query), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.json();
        })
        .then(function (page) {
          if (ticket !== asked) return;  // a later page was asked for meanwhile
          current = page.image;
          panel.setAttribute("data-image", page.image);
          number.value = page.page;
          label.textContent = page.label && page.label !== String(page.page) ? page.label : "";
          if (page.text) {
            body.textContent = page.text;
            body.classList.toggle("vertical", !!page.vertical);
            if (page.lang) body.setAttribute("lang", page.lang); else body.removeAttribute("lang");
          } else {
            say(panel.getAttribute("data-none"));
          }
          if (!fromViewer) showInViewer(page.image);
        })
        .catch(function () {
          if (ticket !== asked) return;
          label.textContent = "";
          say(panel.getAttribute("data-failed"));
        })
        .then(function () {
          if (ticket === asked) panel.removeAttribute("aria-busy");
        });
    }

    function turnTo(page) {
      page = Math.min(Math.max(1, page), pages);
      number.value = page;
      load({ page: page }, false);
    }

    panel.querySelector(".text-previous").addEventListener("click", function () {
      turnTo((parseInt(number.value, 10) || 1) - 1);
    });
    panel.querySelector(".text-next").addEventListener("click", function () {
      turnTo((parseInt(number.value, 10) || 1) + 1);
    });
    number.addEventListener("change", function () {
      turnTo(parseInt(number.value, 10) || 1);
    });

    // Mirador (viewer/static/tangthu-viewer.js keeps it as window.tangthuMirador): its
    // canvas ids end in /canvas/<image id>, the id page-text.json takes.
    function viewerWindow() {
      var instance = window.tangthuMirador;
      if (!instance || !instance.store) return null;
      var state = instance.store.getState();
      var windowId = Object.keys(state.windows || {})[0];
      return windowId ? { instance: instance, id: windowId, window: state.windows[windowId] } : null;
    }

    function imageOf(canvasId) {
      var parts = String(canvasId || "").split("/canvas/");
      return parts.length === 2 ? decodeURIComponent(parts[1]) : "";
    }

    function showInViewer(image) {
      var found = viewerWindow();
      var setCanvas = window.Mirador && (Mirador.setCanvas || (Mirador.actions && Mirador.actions.setCanvas));
      if (!found || !setCanvas || !found.window.canvasId) return;
      if (imageOf(found.window.canvasId) === image) return;
      var canvas = found.window.canvasId.split("/canvas/")[0] + "/canvas/" + encodeURIComponent(image);
      found.instance.store.dispatch(setCanvas(found.id, canvas));
    }

    function follow() {
      var found = viewerWindow();
      if (!found) return false;
      var shown = "";
      found.instance.store.subscribe(function () {
        var now = viewerWindow();
        var image = now && imageOf(now.window.canvasId);
        if (!image || image === shown) return;
        shown = image;
        if (image !== current) load({ image: image }, true);
      });
      return true;
    }

    if (!follow()) {
      // The viewer starts on DOMContentLoaded too; look again a few times if it is late.
      var tries = 0;
      var timer = window.setInterval(function () {
        if (follow() || ++tries > 20) window.clearInterval(timer);
      }, 250);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var panel = document.getElementById("page-text");
    if (panel) start(panel);
  });
})();
