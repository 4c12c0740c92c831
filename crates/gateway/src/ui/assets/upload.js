// "Upload Object": each chosen or dropped file is sent by XMLHttpRequest as the body of one
// POST, with a progress bar of its own. The server streams the body into the branch.
(function () {
  "use strict";
  var section = document.getElementById("upload");
  if (!section) return;
  var input = document.getElementById("files");
  var prefixInput = document.getElementById("upload-prefix");
  var button = document.getElementById("upload-button");
  var zone = document.getElementById("dropzone");
  var list = document.getElementById("upload-progress");
  var status = document.getElementById("upload-status");

  function folder() {
    var p = prefixInput.value.trim().replace(/^\/+/, "");
    if (p && p.charAt(p.length - 1) !== "/") p += "/";
    return p;
  }

  function uploadOne(file, path, done) {
    var item = document.createElement("li");
    var label = document.createElement("span");
    label.textContent = path + " ";
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + path);
    var note = document.createElement("span");
    note.className = "note";
    note.textContent = " waiting";
    item.appendChild(label);
    item.appendChild(bar);
    item.appendChild(note);
    list.appendChild(item);

    var xhr = new XMLHttpRequest();
    xhr.open("POST", section.dataset.url + "&path=" + encodeURIComponent(path));
    xhr.setRequestHeader("X-CSRF-Token", section.dataset.csrf);
    if (file.type) xhr.setRequestHeader("Content-Type", file.type);
    else xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) {
        bar.value = Math.round((e.loaded / e.total) * 100);
        note.textContent = " " + bar.value + "%";
      }
    };
    xhr.onload = function () {
      var ok = xhr.status >= 200 && xhr.status < 300;
      bar.value = ok ? 100 : bar.value;
      note.textContent = " " + (xhr.responseText || (ok ? "done" : "failed"));
      item.className = ok ? "ok" : "error";
      done(ok);
    };
    xhr.onerror = function () {
      note.textContent = " the connection failed";
      item.className = "error";
      done(false);
    };
    xhr.send(file);
  }

  function uploadAll(files) {
    if (!files || files.length === 0) {
      status.textContent = "Choose or drop at least one file.";
      return;
    }
    var total = files.length, finished = 0, good = 0, base = folder();
    status.textContent = "Uploading " + total + (total === 1 ? " file…" : " files…");
    button.disabled = true;
    Array.prototype.forEach.call(files, function (file) {
      uploadOne(file, base + file.name, function (ok) {
        finished += 1;
        if (ok) good += 1;
        if (finished === total) {
          button.disabled = false;
          status.textContent = "Uploaded " + good + " of " + total + (total === 1 ? " file." : " files.");
          var link = document.createElement("a");
          link.href = section.dataset.changes;
          link.textContent = " See them in Uncommitted Changes";
          status.appendChild(link);
        }
      });
    });
  }

  button.addEventListener("click", function () { uploadAll(input.files); });
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (e) { uploadAll(e.dataTransfer.files); });
})();
