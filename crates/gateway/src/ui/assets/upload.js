// "Upload Object": each chosen or dropped file is sent by XMLHttpRequest with a progress bar
// of its own: a small file as the body of one POST, a large one in parts of PART_SIZE, each
// its own request (retried a few times), then completed; a failure aborts the upload.
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

    if (file.size > MULTIPART_THRESHOLD) {
      uploadInParts(file, path, bar, note, item, done);
      return;
    }
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

  var PART_SIZE = 8 * 1024 * 1024;
  var MULTIPART_THRESHOLD = PART_SIZE;
  var PART_TRIES = 3;

  // POST `body` to the upload step `step` with `query`; calls back (ok, text).
  function send(step, query, body, onprogress, callback) {
    var url = section.dataset.url.replace("/upload?", "/upload/" + step + "?") + "&" + query;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRF-Token", section.dataset.csrf);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    if (onprogress) xhr.upload.onprogress = onprogress;
    xhr.onload = function () { callback(xhr.status >= 200 && xhr.status < 300, xhr.responseText); };
    xhr.onerror = function () { callback(false, "the connection failed"); };
    xhr.send(body);
  }

  function uploadInParts(file, path, bar, note, item, done) {
    var count = Math.ceil(file.size / PART_SIZE), etags = [], sent = 0;
    function fail(message, id) {
      note.textContent = " " + message;
      item.className = "error";
      if (id) send("abort", "upload=" + encodeURIComponent(id), null, null, function () {});
      done(false);
    }
    send("start", "path=" + encodeURIComponent(path), null, null, function (ok, id) {
      if (!ok) return fail(id || "could not start the upload");
      function partNo(n, tries) {
        if (n > count) {
          var list = etags.map(function (e, i) { return (i + 1) + " " + e; }).join("\n");
          send("complete", "upload=" + encodeURIComponent(id), list, null, function (ok2, answer) {
            if (!ok2) return fail(answer || "could not complete the upload", id);
            bar.value = 100;
            note.textContent = " " + answer;
            item.className = "ok";
            done(true);
          });
          return;
        }
        var blob = file.slice((n - 1) * PART_SIZE, Math.min(n * PART_SIZE, file.size));
        var query = "upload=" + encodeURIComponent(id) + "&n=" + n;
        send("part", query, blob, function (e) {
          if (e.lengthComputable) {
            bar.value = Math.round(((sent + e.loaded) / file.size) * 100);
            note.textContent = " " + bar.value + "% (part " + n + " of " + count + ")";
          }
        }, function (okPart, etag) {
          if (!okPart) {
            if (tries + 1 < PART_TRIES) return partNo(n, tries + 1);
            return fail("part " + n + ": " + (etag || "failed"), id);
          }
          etags[n - 1] = etag;
          sent += blob.size;
          partNo(n + 1, 0);
        });
      }
      partNo(1, 0);
    });
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
