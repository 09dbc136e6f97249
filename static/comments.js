// The comment thread on the asset page (templates/review/comments.html): numbered markers over the image
// for pinned comments (a marker and its comment highlight each other), "Pin a comment" mode (then click the
// image), and the thread swapped back by htmx after a post, a refused one (400) included.
(() => {
  const mainImage = () => document.querySelector(".image-pane img.large");

  // The image sits in a positioned wrapper so markers can be placed in fractions of its box: the viewer's
  // stage (static/viewer.js) where there is one, else a wrapper made here.
  const layerFor = (image) => {
    const parent = image.parentElement;
    if (parent.classList.contains("pin-layer")) return parent;
    if (parent.classList.contains("viewer-stage")) {
      parent.classList.add("pin-layer");
      return parent;
    }
    const layer = document.createElement("span");
    layer.className = "pin-layer";
    image.replaceWith(layer);
    layer.append(image);
    return layer;
  };

  const imageFor = (scope) =>
    scope === "current" ? mainImage() : document.querySelector(`img[data-pin-image="${scope}"]`);

  const highlight = (scope, number, scroll) => {
    for (const element of document.querySelectorAll(".pin-highlight")) element.classList.remove("pin-highlight");
    const section = document.querySelector(`[data-pin-scope="${scope}"]`);
    const comment = section && section.querySelector(`[data-pin="${number}"]`);
    const marker = document.querySelector(`.pin-marker[data-scope="${scope}"][data-number="${number}"]`);
    for (const element of [comment, marker]) if (element) element.classList.add("pin-highlight");
    if (scroll && comment) comment.scrollIntoView({ block: "nearest", behavior: "smooth" });
    if (!scroll && marker) marker.scrollIntoView({ block: "nearest", behavior: "smooth" });
  };

  const drawPins = () => {
    for (const marker of document.querySelectorAll(".pin-marker")) marker.remove();
    for (const section of document.querySelectorAll("[data-pin-scope]")) {
      const scope = section.dataset.pinScope;
      const image = imageFor(scope);
      if (!image) continue;
      const layer = layerFor(image);
      for (const comment of section.querySelectorAll("[data-pin]")) {
        const marker = document.createElement("button");
        marker.type = "button";
        marker.className = "pin-marker";
        marker.dataset.scope = scope;
        marker.dataset.number = comment.dataset.pin;
        marker.textContent = comment.dataset.pin;
        marker.setAttribute("aria-label", `Comment ${comment.dataset.pin}`);
        marker.style.left = `${Number(comment.dataset.x) * 100}%`;
        marker.style.top = `${Number(comment.dataset.y) * 100}%`;
        layer.append(marker);
      }
    }
    const pinMode = document.getElementById("pin-mode");
    if (pinMode && mainImage()) pinMode.hidden = false;
  };

  const setPinning = (on) => {
    const button = document.getElementById("pin-mode");
    const image = mainImage();
    if (!button || !image) return;
    button.setAttribute("aria-pressed", String(on));
    button.textContent = on ? "Click the image where the comment goes (Esc cancels)" : "Pin a comment";
    layerFor(image).classList.toggle("pinning", on);
  };

  const placeDraft = (x, y) => {
    const image = mainImage();
    const layer = layerFor(image);
    let draft = layer.querySelector(".pin-draft");
    if (!draft) {
      draft = document.createElement("span");
      draft.className = "pin-marker pin-draft";
      draft.setAttribute("aria-hidden", "true");
      draft.textContent = "+";
      layer.append(draft);
    }
    draft.style.left = `${x * 100}%`;
    draft.style.top = `${y * 100}%`;
    document.getElementById("comment-x").value = x.toFixed(5);
    document.getElementById("comment-y").value = y.toFixed(5);
    document.getElementById("pin-status").hidden = false;
    document.getElementById("comment-body").focus();
  };

  const clearDraft = () => {
    for (const draft of document.querySelectorAll(".pin-draft")) draft.remove();
    for (const id of ["comment-x", "comment-y"]) {
      const input = document.getElementById(id);
      if (input) input.value = "";
    }
    const status = document.getElementById("pin-status");
    if (status) status.hidden = true;
  };

  document.addEventListener("click", (event) => {
    const target = event.target;
    if (!(target instanceof Element)) return;
    // A pointer click on a marker over the viewer lands on the viewer's frame (it captures the pointer):
    // find the marker under the pointer instead. A keyboard click targets the marker itself.
    const under = event.detail > 0 ? document.elementFromPoint(event.clientX, event.clientY) : null;
    const marker = (under || target).closest(".pin-marker:not(.pin-draft)");
    if (marker) {
      event.preventDefault(); // the earlier version's image sits in a link
      highlight(marker.dataset.scope, marker.dataset.number, true);
      return;
    }
    const badge = target.closest("[data-pin-target]");
    if (badge) {
      const section = badge.closest("[data-pin-scope]");
      highlight(section.dataset.pinScope, badge.dataset.pinTarget, false);
      return;
    }
    if (target.closest("#pin-mode")) {
      setPinning(document.getElementById("pin-mode").getAttribute("aria-pressed") !== "true");
      return;
    }
    if (target.closest("#pin-clear")) {
      clearDraft();
      return;
    }
    // By position, not target: the viewer captures the pointer, so the click lands on its frame.
    const image = document.querySelector(".pin-layer.pinning") && mainImage();
    if (image) {
      const box = image.getBoundingClientRect();
      const x = (event.clientX - box.left) / box.width;
      const y = (event.clientY - box.top) / box.height;
      if (x < 0 || x > 1 || y < 0 || y > 1) return;
      event.preventDefault();
      placeDraft(x, y);
      setPinning(false);
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && document.querySelector(".pin-layer.pinning")) setPinning(false);
  });

  document.addEventListener("htmx:beforeSwap", (event) => {
    // A refused comment comes back as a 400 with the thread and the reason: show it, keeping what was typed.
    if (event.detail.xhr.status === 400 && event.detail.target.id === "comments") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id !== "comments" && !document.getElementById("comments")?.contains(event.detail.target)) return;
    for (const draft of document.querySelectorAll(".pin-draft")) draft.remove();
    drawPins();
  });

  document.addEventListener("DOMContentLoaded", drawPins);
})();
