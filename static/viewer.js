// The image as it is, on the review page: Fit or 1:1 (one image pixel to one screen pixel), panned by dragging
// or with the arrow keys when larger than the frame, a checkerboard behind transparency (viewer.css), and the
// focal point: shown as a marker, set by clicking the image in "Set focal point" mode (static/crops.js and the
// focal-point form in review/channel_crops.html do the rest). Keys: Z switches Fit and 1:1, F the focal mode,
// Escape leaves it.
document.addEventListener("DOMContentLoaded", () => {
  const viewer = document.getElementById("viewer");
  if (!viewer) return;
  const frame = document.getElementById("viewer-frame");
  const image = document.getElementById("viewer-image");
  const marker = document.getElementById("focal-marker");
  const level = document.getElementById("zoom-level");
  const focalButton = document.getElementById("focal-mode");
  const focalHint = document.getElementById("focal-mode-hint");

  const showLevel = () => {
    if (!image.naturalWidth || !level) return;
    const percent = Math.round((image.getBoundingClientRect().width * window.devicePixelRatio * 100) / image.naturalWidth);
    level.textContent = `${percent}%`;
  };

  const zoom = (mode) => {
    viewer.dataset.zoom = mode;
    for (const button of viewer.querySelectorAll("[data-zoom-to]")) {
      button.setAttribute("aria-pressed", String(button.dataset.zoomTo === mode));
    }
    if (mode === "actual" && image.naturalWidth) {
      // CSS pixels are device pixels divided by devicePixelRatio: this is 1:1 on any screen.
      image.style.width = `${image.naturalWidth / window.devicePixelRatio}px`;
      image.style.height = `${image.naturalHeight / window.devicePixelRatio}px`;
      // Start where the focal point is, or at the centre.
      const [fx, fy] = focal() || [0.5, 0.5];
      frame.scrollLeft = fx * image.offsetWidth - frame.clientWidth / 2;
      frame.scrollTop = fy * image.offsetHeight - frame.clientHeight / 2;
    } else if (image.naturalWidth) {
      // The whole image in the frame, enlarged or reduced to fill its width or 75% of the window's height.
      const scale = Math.min(frame.clientWidth / image.naturalWidth, (window.innerHeight * 0.75) / image.naturalHeight);
      image.style.width = `${image.naturalWidth * scale}px`;
      image.style.height = `${image.naturalHeight * scale}px`;
    }
    showLevel();
  };

  const focal = () => {
    const section = document.getElementById("channel-crops");
    if (!section || section.dataset.focalX === "" || section.dataset.focalY === "") return null;
    const point = [Number(section.dataset.focalX), Number(section.dataset.focalY)];
    return point.every(Number.isFinite) ? point : null;
  };

  const showFocal = () => {
    const point = focal();
    if (!marker) return;
    marker.hidden = point === null;
    if (point) {
      marker.style.left = `${point[0] * 100}%`;
      marker.style.top = `${point[1] * 100}%`;
    }
  };

  const focalMode = (on) => {
    if (!focalButton) return;
    viewer.classList.toggle("focal-mode", on);
    focalButton.setAttribute("aria-pressed", String(on));
    if (focalHint) focalHint.hidden = !on;
  };

  const setFocalAt = (event) => {
    const form = document.getElementById("focal-form");
    if (!form) return;
    const rect = image.getBoundingClientRect();
    const clamp = (value) => Math.min(1, Math.max(0, value));
    form.querySelector("[name=x]").value = clamp((event.clientX - rect.left) / rect.width).toFixed(4);
    form.querySelector("[name=y]").value = clamp((event.clientY - rect.top) / rect.height).toFixed(4);
    form.requestSubmit(form.querySelector("#focal-set"));
    focalMode(false);
  };

  for (const button of viewer.querySelectorAll("[data-zoom-to]")) {
    button.addEventListener("click", () => zoom(button.dataset.zoomTo));
  }
  if (focalButton) focalButton.addEventListener("click", () => focalMode(!viewer.classList.contains("focal-mode")));

  // Drag to pan at 1:1; a click that did not move sets the focal point in focal mode.
  let drag = null;
  frame.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    // The capture below retargets pointerup to the frame: remember whether the press was on the image.
    const onImage = event.target === image;
    drag = { x: event.clientX, y: event.clientY, left: frame.scrollLeft, top: frame.scrollTop, moved: false, onImage };
    frame.setPointerCapture(event.pointerId);
  });
  frame.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    if (drag.moved && viewer.dataset.zoom === "actual") {
      frame.scrollLeft = drag.left - dx;
      frame.scrollTop = drag.top - dy;
      viewer.classList.add("panning");
    }
  });
  const endDrag = (event) => {
    if (!drag) return;
    const clicked = !drag.moved && drag.onImage;
    drag = null;
    viewer.classList.remove("panning");
    if (clicked && event.type === "pointerup" && viewer.classList.contains("focal-mode")) {
      setFocalAt(event);
    }
  };
  frame.addEventListener("pointerup", endDrag);
  frame.addEventListener("pointercancel", endDrag);

  frame.addEventListener("keydown", (event) => {
    const step = event.shiftKey ? 200 : 40;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    const move = moves[event.key];
    if (!move || viewer.dataset.zoom !== "actual") return;
    event.preventDefault();
    frame.scrollBy(move[0], move[1]);
  });

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const typing = target instanceof HTMLElement && target.closest("input, textarea, select, [contenteditable]");
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.toLowerCase();
    if (key === "z") {
      event.preventDefault();
      zoom(viewer.dataset.zoom === "actual" ? "fit" : "actual");
    } else if (key === "f" && focalButton) {
      event.preventDefault();
      focalMode(!viewer.classList.contains("focal-mode"));
    } else if (event.key === "Escape" && viewer.classList.contains("focal-mode")) {
      focalMode(false);
    }
  });

  const refit = () => { if (viewer.dataset.zoom === "fit") zoom("fit"); else showLevel(); };
  if (image.complete) refit();
  image.addEventListener("load", refit);
  window.addEventListener("resize", refit);
  showFocal();
  document.addEventListener("htmx:afterSettle", showFocal);
});
