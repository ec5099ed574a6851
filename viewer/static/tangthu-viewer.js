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

  // Mirador 4.0.0's own Vietnamese swaps zoom in and out and reads like a machine's:
  // ours replaces it key by key (Mirador merges these over its built-in strings).
  var VIETNAMESE = {
    aboutMirador: "Về Mirador",
    aboutThisItem: "Thông tin về tài liệu",
    annotationCanvasLabel_1: "Trang: [{{label}}]",
    "annotationCanvasLabel_1/1": "Trang: [{{label}}]",
    "annotationCanvasLabel_1/2": "Trang trái: [{{label}}]",
    "annotationCanvasLabel_2/2": "Trang phải: [{{label}}]",
    annotations: "Chú giải",
    attribution: "Ghi nguồn",
    attributionTitle: "Quyền sử dụng",
    authenticationFailed: "Đăng nhập không thành công.",
    authenticationRequired: "Cần đăng nhập để xem đầy đủ",
    backToResults: "Quay lại kết quả",
    book: "Sách (hai trang một lần)",
    bottom: "Dưới",
    cancel: "Huỷ",
    canvasIndex: "Danh sách trang",
    changeTheme: "Đổi giao diện",
    clearSearch: "Xoá",
    close: "Đóng",
    closeCompanionWindow: "Đóng ngăn",
    closeWindow: "Đóng cửa sổ",
    collapseSection: "Thu gọn mục {{section}}",
    collapseSidePanel: "Thu gọn thanh bên",
    collection: "Bộ sưu tập",
    continue: "Tiếp tục",
    copy: "Sao chép",
    currentItem: "Trang đang xem",
    "currentItem_1/1": "Trang đang xem",
    "currentItem_1/2": "Trang trái",
    "currentItem_2/2": "Trang phải",
    dark: "Giao diện tối",
    digitizedView: "Cách xem",
    dismiss: "Bỏ qua",
    displayNoAnnotations: "Không tô sáng",
    elastic: "Tự do",
    error: "Lỗi",
    errorDialogTitle: "Đã có lỗi",
    exitFullScreen: "Thoát toàn màn hình",
    expandSection: "Mở rộng mục {{section}}",
    expandSidePanel: "Mở rộng thanh bên",
    fullScreen: "Toàn màn hình",
    gallery: "Lưới ảnh thu nhỏ",
    hideZoomControls: "Ẩn nút phóng to, thu nhỏ",
    highlightAllAnnotations: "Tô sáng tất cả",
    iiif_homepage: "Về tài liệu này",
    iiif_manifest: "Manifest IIIF",
    iiif_renderings: "Các định dạng khác",
    iiif_seeAlso: "Xem thêm",
    item: "Tài liệu: {{label}}",
    itemList: "Danh sách trang",
    jsError: "Chi tiết kỹ thuật",
    language: "Ngôn ngữ",
    layer_hide: "Ẩn lớp",
    layer_move: "Di chuyển lớp",
    layer_opacity: "Độ trong của lớp",
    layer_show: "Hiện lớp",
    layers: "Lớp ảnh",
    light: "Giao diện sáng",
    links: "Liên kết",
    listAllOpenWindows: "Chuyển tới cửa sổ",
    login: "Đăng nhập",
    logout: "Đăng xuất",
    manifestError: "Không mở được tài liệu:",
    maximizeWindow: "Phóng to cửa sổ",
    minimizeWindow: "Thu nhỏ cửa sổ",
    more: "thêm…",
    moreResults: "Thêm kết quả",
    mosaic: "Ghép cửa sổ",
    moveCompanionWindowToBottom: "Chuyển xuống dưới",
    moveCompanionWindowToRight: "Chuyển sang phải",
    nextCanvas: "Trang sau",
    noItemSelected: "Chưa chọn trang nào",
    off: "Tắt",
    openCompanionWindow_annotations: "Chú giải",
    openCompanionWindow_attribution: "Quyền sử dụng",
    openCompanionWindow_canvas: "Danh sách trang",
    openCompanionWindow_info: "Thông tin",
    openCompanionWindow_layers: "Lớp ảnh",
    openCompanionWindow_search: "Tìm trong tài liệu",
    openInCompanionWindow: "Mở ở ngăn bên",
    openWindows: "Các cửa sổ đang mở",
    pagination: "{{current}} / {{total}}",
    position: "Vị trí",
    previousCanvas: "Trang trước",
    related: "Liên quan",
    resource: "Tài nguyên",
    retry: "Thử lại",
    right: "Phải",
    rights: "Giấy phép",
    scroll: "Cuộn liên tục",
    searchInputLabel: "Từ cần tìm",
    searchNextResult: "Kết quả sau",
    searchNoResults: "Không tìm thấy kết quả nào",
    searchPreviousResult: "Kết quả trước",
    searchSubmitAria: "Tìm",
    searchTitle: "Tìm trong tài liệu",
    showCollection: "Hiện bộ sưu tập",
    showZoomControls: "Hiện nút phóng to, thu nhỏ",
    sidebarPanelsNavigation: "Các ngăn bên",
    single: "Từng trang",
    startHere: "Bắt đầu từ đây",
    suggestSearch: "Tìm “{{ query }}” trong tài liệu này",
    tableOfContentsList: "Mục lục",
    theme: "Giao diện",
    thumbnailList: "Ảnh thu nhỏ",
    thumbnailNavigation: "Ảnh thu nhỏ",
    thumbnails: "Ảnh thu nhỏ",
    toggleWindowSideBar: "Bật, tắt thanh bên",
    tryAgain: "Thử lại",
    untitled: "[Không nhan đề]",
    view: "Cách xem",
    welcome: "Chào mừng đến với Mirador",
    window: "Cửa sổ: {{label}}",
    windowMenu: "Cách xem và ảnh thu nhỏ",
    windowNavigation: "Chuyển trang",
    windowPluginButtons: "Tuỳ chọn",
    windowPluginMenu: "Tuỳ chọn cửa sổ",
    workspace: "Không gian làm việc",
    workspaceFullScreen: "Toàn màn hình",
    workspaceMenu: "Cài đặt không gian làm việc",
    workspaceNavigation: "Điều hướng không gian làm việc",
    workspaceOptions: "Tuỳ chọn không gian làm việc",
    zoomIn: "Phóng to",
    zoomOut: "Thu nhỏ",
    zoomReset: "Về cỡ ban đầu",
  };

  // -- IIIF Content State 1.0: "open this book at this page, on this region" ------------

  function decodeContentState(value) {
    // A content state is JSON, base64url-encoded (the spec's form), or given plain.
    var text = value.trim();
    if (text.charAt(0) !== "{" && text.indexOf("http") !== 0) {
      var padded = text.replace(/-/g, "+").replace(/_/g, "/");
      while (padded.length % 4) padded += "=";
      var bytes = atob(padded);
      text = decodeURIComponent(Array.prototype.map.call(bytes, function (c) {
        return "%" + ("00" + c.charCodeAt(0).toString(16)).slice(-2);
      }).join(""));
    }
    return text.charAt(0) === "{" ? JSON.parse(text) : { target: text };
  }

  function encodeContentState(state) {
    var utf8 = unescape(encodeURIComponent(JSON.stringify(state)));
    return btoa(utf8).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // The canvas and region a content state names, if it is about this manifest; else null.
  function readContentState(manifest) {
    var raw = new URLSearchParams(window.location.search).get("iiif-content");
    if (!raw || raw.length > 4000) return null;
    var state;
    try { state = decodeContentState(raw); } catch (e) { return null; }
    var target = state && (state.target || state);
    if (Array.isArray(target)) target = target[0];
    var source = typeof target === "string" ? target : target && (target.id || target.source);
    if (typeof source !== "string") return null;
    var partOf = target && target.partOf;
    if (Array.isArray(partOf)) partOf = partOf[0];
    var about = partOf && (partOf.id || partOf);
    if (about && about !== manifest) return null;  // a state about another book
    var parts = source.split("#xywh=");
    var canvas = parts[0];
    if (canvas.indexOf(manifest.replace(/\/manifest$/, "/canvas/")) !== 0) return null;
    var region = null;
    if (parts[1]) {
      var numbers = parts[1].split(",").map(Number);
      if (numbers.length === 4 && numbers.every(function (n) { return isFinite(n) && n >= 0; })
          && numbers[2] > 0 && numbers[3] > 0) {
        region = { x: numbers[0], y: numbers[1], w: numbers[2], h: numbers[3] };
      }
    }
    return { canvas: canvas, region: region };
  }

  // Mirador's viewport: the centre in canvas pixels, and a zoom of 1 / the width shown.
  function viewportOf(region) {
    return { x: region.x + region.w / 2, y: region.y + region.h / 2, zoom: 1 / region.w };
  }

  // The share box follows the reader: the page turned to and the region on screen.
  function keepShareLink(instance, manifest, field, element) {
    var last = "";
    instance.store.subscribe(function () {
      var state = instance.store.getState();
      var windowId = Object.keys(state.windows)[0];
      var current = windowId && state.windows[windowId];
      if (!current || !current.canvasId) return;
      var viewer = state.viewers[windowId];
      var target = current.canvasId;
      if (viewer && viewer.zoom) {
        var shownWidth = 1 / viewer.zoom;
        var screen = element.querySelector(".openseadragon-canvas") || element;
        var aspect = screen.clientWidth ? screen.clientHeight / screen.clientWidth : 0.75;
        var shownHeight = shownWidth * aspect;
        target += "#xywh=" + [viewer.x - shownWidth / 2, viewer.y - shownHeight / 2, shownWidth, shownHeight]
          .map(function (n) { return Math.max(0, Math.round(n)); }).join(",");
      }
      if (target === last) return;
      last = target;
      var content = {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        id: window.location.origin + window.location.pathname + "#state",
        type: "Annotation",
        motivation: ["contentState"],
        target: { id: target, type: "Canvas", partOf: [{ id: manifest, type: "Manifest" }] },
      };
      field.value = window.location.origin + window.location.pathname + "?iiif-content="
        + encodeContentState(content);
    });
  }

  // Mirador's own defaultSearchQuery sends the search twice (once as "a%20b", once as
  // "a+b") and lists every hit twice; ask once, in the form its search panel uses.
  function searchOnce(instance, words) {
    var done = false;
    var unsubscribe = instance.store.subscribe(function () {
      if (done) return;
      var state = instance.store.getState();
      var windowId = Object.keys(state.windows)[0];
      var win = windowId && state.windows[windowId];
      var manifest = win && state.manifests[win.manifestId];
      var json = manifest && manifest.json;
      if (!json) return;
      var panel = (win.companionWindowIds || []).map(function (id) {
        return state.companionWindows[id];
      }).find(function (c) { return c && c.content === "search"; });
      var services = [].concat(json.service || []);
      function offering(pattern) {
        return services.find(function (s) {
          return pattern.test([s.type, s["@type"], s.profile].join(" "));
        });
      }
      // The service Mirador's panel reads: Content Search 1.0, else 2.0.
      var search = offering(/SearchService1|search\/1\/search/) || offering(/SearchService2/);
      if (!panel || !search) return;
      done = true;
      unsubscribe();
      var id = search.id || search["@id"];
      var fetchSearch = Mirador.fetchSearch || (Mirador.actions && Mirador.actions.fetchSearch);
      // Once the panel's own form is on the page: Mirador's window fails if results
      // arrive while it is still being put together.
      var tries = 0;
      (function whenDrawn() {
        if (!document.getElementById("search-" + panel.id) && tries++ < 100) {
          window.setTimeout(whenDrawn, 200);
          return;
        }
        instance.store.dispatch(fetchSearch(
          windowId, panel.id, id + "?" + new URLSearchParams({ q: words }), words));
      })();
    });
  }

  function start(element) {
    var manifest = element.getAttribute("data-manifest");
    var wanted = readContentState(manifest);
    var windowConfig = { manifestId: manifest, thumbnailNavigationPosition: "far-bottom" };
    if (wanted) {
      windowConfig.canvasId = wanted.canvas;
      if (wanted.region) windowConfig.initialViewerConfig = viewportOf(wanted.region);
    }
    // From a search result: the words searched, looked up inside the book, the first hit
    // shown and highlighted (Mirador's own Content Search panel).
    var words = new URLSearchParams(window.location.search).get("q");
    words = words && words.trim().length && words.length <= 200 ? words.trim() : "";
    if (words) windowConfig.sideBarPanel = "search";
    var instance = Mirador.viewer({
      id: element.id,
      language: element.getAttribute("data-locale") || "vi",
      translations: { vi: VIETNAMESE },
      windows: [windowConfig],
      window: {
        allowClose: false,
        allowFullscreen: true,
        allowMaximize: false,
        defaultSideBarPanel: "info",
        sideBarOpenByDefault: !!words,
      },
      workspaceControlPanel: { enabled: false },
      workspace: { type: "mosaic", showZoomControls: true },
      requests: { preprocessors: [withCredentialsFor(element.getAttribute("data-image-base"))] },
    });
    reloadAfterSignIn(instance);
    demoteHeadings(element);
    if (words) searchOnce(instance, words);
    var share = document.getElementById("share-link");
    if (share) keepShareLink(instance, manifest, share, element);
    window.tangthuMirador = instance;
  }

  // Mirador titles its workspace with a hidden <h1>; the page has its own. Screen readers
  // then hear two top headings, so Mirador's become level 2 (its DOM is left to React).
  function demoteHeadings(element) {
    function demote() {
      var found = element.querySelectorAll("h1:not([aria-level])");
      for (var i = 0; i < found.length; i++) found[i].setAttribute("aria-level", "2");
    }
    demote();
    new MutationObserver(demote).observe(element, { childList: true, subtree: true });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var nodes = document.querySelectorAll("[data-manifest]");
    for (var i = 0; i < nodes.length; i++) start(nodes[i]);
  });
})();
