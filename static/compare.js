// Before/after comparison on the asset page: the range input (keyboard and pointer alike) sets how much of
// the "before" image, stacked on top, is shown. Without script the frame shows half of each.
document.addEventListener("DOMContentLoaded", () => {
  for (const compare of document.querySelectorAll("[data-compare]")) {
    const frame = compare.querySelector(".compare-frame");
    const range = compare.querySelector("input[type=range]");
    if (!frame || !range) continue;
    const show = () => {
      frame.style.setProperty("--position", `${range.value}%`);
      range.setAttribute("aria-valuetext", `${range.value}% before, ${100 - Number(range.value)}% after`);
    };
    range.addEventListener("input", show);
    // A click or drag on the picture moves the divider there too.
    const moveTo = (event) => {
      const rect = frame.getBoundingClientRect();
      range.value = String(Math.round(Math.min(100, Math.max(0, ((event.clientX - rect.left) / rect.width) * 100))));
      show();
    };
    frame.addEventListener("pointerdown", (event) => {
      frame.setPointerCapture(event.pointerId);
      moveTo(event);
    });
    frame.addEventListener("pointermove", (event) => {
      if (frame.hasPointerCapture(event.pointerId)) moveTo(event);
    });
    show();
  }
  // A revision's comparison offers side by side and the slider; without script, side by side alone.
  for (const modes of document.querySelectorAll("[data-compare-modes]")) {
    const buttons = modes.querySelectorAll("[data-compare-mode]");
    const choose = (mode) => {
      for (const view of modes.querySelectorAll("[data-compare-view]")) view.hidden = view.dataset.compareView !== mode;
      for (const button of buttons) button.setAttribute("aria-pressed", String(button.dataset.compareMode === mode));
    };
    for (const button of buttons) button.addEventListener("click", () => choose(button.dataset.compareMode));
    const group = modes.querySelector(".compare-modes");
    if (group) group.hidden = false;
  }
});
