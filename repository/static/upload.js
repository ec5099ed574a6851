// Per-file upload progress, then background-processing status, for the admin pages view.
// Without JavaScript the form still posts all files at once.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest) return;
  var input = form.querySelector("input[type=file]");
  var zone = document.getElementById("dropzone");
  var table = document.getElementById("uploads");
  var body = table.querySelector("tbody");
  var token = form.querySelector("input[name=csrf_token]").value;
  var label = function (status) { return table.getAttribute("data-label-" + status) || status; };
  var byTask = {};
  var refused = document.getElementById("refused");
  // Files refused before they reached the server have no task to remember them:
  // they are kept over the reload that shows the new pages.
  var kept = "tangthu-refused:" + window.location.pathname;
  var lost = [];

  function listRefused(name, message) {
    if (!refused) return;
    var item = document.createElement("li");
    var strong = document.createElement("strong");
    strong.textContent = name;
    item.appendChild(strong);
    item.appendChild(document.createTextNode(": " + message));
    refused.querySelector("ul").appendChild(item);
    refused.hidden = false;
  }

  try {
    JSON.parse(window.sessionStorage.getItem(kept) || "[]").forEach(function (f) {
      listRefused(f.name, f.message);
    });
    window.sessionStorage.removeItem(kept);
  } catch (e) { /* storage unavailable: the rows above still say what failed */ }

  function refuse(view, name, message) {
    show(view, { status: "failed", message: message });
    lost.push({ name: name, message: message });
  }

  function row(name) {
    var tr = document.createElement("tr");
    var cells = [document.createElement("td"), document.createElement("td"), document.createElement("td")];
    cells[0].textContent = name;
    var bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    var note = document.createElement("span");
    note.className = "bar-text";
    cells[1].className = "bar";
    cells[1].appendChild(bar);
    cells[1].appendChild(document.createTextNode(" "));
    cells[1].appendChild(note);
    cells[2].className = "status";
    cells[2].textContent = label("uploading");
    cells.forEach(function (c) { tr.appendChild(c); });
    body.insertBefore(tr, body.firstChild);
    return { tr: tr, bar: bar, note: note, cell: cells[1], status: cells[2] };
  }

  function show(view, task) {
    var failed = task.status === "failed";
    view.status.className = "status status-" + task.status;
    view.status.textContent = label(task.status) + (task.message ? ": " + task.message : "");
    view.bar.value = task.status === "done" || failed ? 100 : 50;
    // A failed file's bar must never look like a finished one: red, and it says so.
    view.bar.classList.toggle("failed", failed);
    view.cell.classList.toggle("bar-failed", failed);
    view.note.textContent = failed ? label("bar-failed") : "";
  }

  function send(file) {
    return new Promise(function (resolve) {
      var view = row(file.name);
      var data = new FormData();
      data.append("csrf_token", token);
      data.append("pages", file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action || window.location.href);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) view.bar.value = Math.round((e.loaded / e.total) * 50);
      };
      xhr.onload = function () {
        if (xhr.status === 200) {
          JSON.parse(xhr.responseText).tasks.forEach(function (t) { byTask[t.id] = view; show(view, t); });
        } else {
          refuse(view, file.name, xhr.status === 413 ? label("too-large") : "HTTP " + xhr.status);
        }
        resolve();
      };
      xhr.onerror = function () { refuse(view, file.name, label("network")); resolve(); };
      xhr.send(data);
    });
  }

  function poll() {
    fetch(form.getAttribute("data-status-url"), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (state) {
        var busy = false;
        state.tasks.forEach(function (t) {
          if (byTask[t.id]) show(byTask[t.id], t);
          if (t.status === "queued" || t.status === "processing") busy = true;
        });
        if (busy) {
          setTimeout(poll, 1000);
          return;
        }
        var saved = true;
        try { window.sessionStorage.setItem(kept, JSON.stringify(lost)); } catch (e) { saved = false; }
        if (saved || !lost.length) window.location.reload();  // else the rows stay to be read
      });
  }

  function upload(files) {
    // Natural order (2 before 10) and one at a time, so pages keep the curator's order.
    var list = Array.prototype.slice.call(files).sort(function (a, b) {
      return a.name.localeCompare(b.name, undefined, { numeric: true, sensitivity: "base" });
    });
    list.reduce(function (chain, file) {
      return chain.then(function () { return send(file); });
    }, Promise.resolve()).then(poll);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (input.files.length) upload(input.files);
  });
  ["dragover", "dragenter"].forEach(function (name) {
    zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (e) {
    e.preventDefault();
    if (e.dataTransfer.files.length) upload(e.dataTransfer.files);
  });
})();
