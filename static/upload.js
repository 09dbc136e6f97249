// The Upload page: files dropped or chosen are sent one request each, one after another, so each gets its
// own progress bar and its own answer (201 with the asset, or 400 naming the file and the reason). Without
// this script the form still works: it posts every file at once and the page lists the results.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-upload]");
  if (!form) return;
  const input = form.querySelector("input[type=file]");
  const zone = form.querySelector("[data-dropzone]");
  const list = document.querySelector("[data-upload-results]");
  const csrfToken = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  let queue = Promise.resolve();

  // Files start as soon as they are chosen or dropped, so the button is only needed without script.
  form.querySelector("[data-upload-submit]").hidden = true;

  const enqueue = (files) => {
    for (const file of files) {
      const row = addRow(file.name);
      queue = queue.then(() => send(file, row));
    }
  };

  input.addEventListener("change", () => { enqueue(input.files); input.value = ""; });
  form.addEventListener("submit", (event) => { event.preventDefault(); enqueue(input.files); input.value = ""; });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    enqueue(event.dataTransfer.files);
  });

  function addRow(name) {
    const row = document.createElement("li");
    row.className = "upload pending";
    const label = document.createElement("span");
    label.className = "upload-name";
    label.textContent = name;
    const progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    const status = document.createElement("span");
    status.className = "meta";
    status.textContent = "waiting";
    row.append(label, progress, status);
    list.append(row);
    return { row, label, progress, status };
  }

  function send(file, { row, label, progress, status }) {
    return new Promise((resolve) => {
      const data = new FormData();
      data.append("files", file);
      data.append("campaign", form.elements.campaign.value);
      data.append("product", form.elements.product.value);
      const request = new XMLHttpRequest();
      request.open("POST", form.action || window.location.href);
      request.setRequestHeader("X-CSRFToken", csrfToken);
      request.setRequestHeader("Accept", "application/json");
      request.responseType = "json";
      status.textContent = "uploading";
      request.upload.onprogress = (event) => {
        if (event.lengthComputable) progress.value = (100 * event.loaded) / event.total;
      };
      // Sent: the server now checks, cleans and stores it.
      request.upload.onload = () => { progress.value = 100; status.textContent = "checking"; };
      request.onload = () => {
        const answer = request.response;
        if (request.status === 201 && answer) {
          done(answer);
        } else {
          // A signed-out session is redirected to the login page, which is not JSON.
          refused((answer && answer.error) || `${file.name}: the server answered ${request.status}; reload the page and try again`);
        }
        resolve();
      };
      request.onerror = () => { refused(`${file.name}: the upload failed (network error)`); resolve(); };
      request.send(data);

      function done(asset) {
        row.className = "upload done";
        const link = document.createElement("a");
        link.href = asset.asset_url;
        const thumbnail = document.createElement("img");
        thumbnail.src = asset.thumbnail_url;
        thumbnail.alt = "";
        link.append(thumbnail);
        const name = document.createElement("a");
        name.href = asset.asset_url;
        name.textContent = asset.name;
        label.replaceChildren(name);
        status.textContent = `uploaded, ${asset.width} x ${asset.height} px`;
        progress.remove();
        row.prepend(link);
      }

      function refused(message) {
        row.className = "upload refused";
        progress.remove();
        status.className = "error";
        status.textContent = `refused: ${message}`;
      }
    });
  }
});
