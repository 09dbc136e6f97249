// Keyboard shortcuts: Ctrl+Enter submits the form being typed in; on a review page, a single key presses the
// button marked data-key (A approve, C request changes, R reject, J back to the queue). C and R need a
// comment first: they put the cursor in it, and Ctrl+Enter then sends that decision.
let pendingDecision = null;
document.addEventListener("keydown", (event) => {
  const target = event.target;
  // Ticking a checkbox or pressing a button is not typing: the single-key shortcuts still work there.
  const typing = target instanceof HTMLElement
    && target.closest("textarea, select, [contenteditable], input:not([type=checkbox]):not([type=radio]):not([type=button]):not([type=submit])");
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    const form = typing && target.closest("form");
    if (!form) return;
    event.preventDefault();
    const submitter = pendingDecision && pendingDecision.form === form ? pendingDecision : null;
    form.requestSubmit(submitter);
    return;
  }
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  if (!document.querySelector("[data-shortcuts=review]")) return;
  const control = document.querySelector(`[data-key="${event.key.toLowerCase()}"]`);
  if (!control) return;
  event.preventDefault();
  const comment = document.querySelector("#decide-form textarea[name=comment]");
  const needsComment = control.value === "reject" || control.value === "request_changes";
  if (needsComment && comment && !comment.value.trim()) {
    pendingDecision = control;
    comment.focus();
    comment.placeholder = `Say why, then press Ctrl+Enter to ${control.value === "reject" ? "reject" : "request changes"}`;
    return;
  }
  control.click();
});

// Copy buttons for embed codes.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  await navigator.clipboard.writeText(source.textContent);
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = "Copy"; }, 1500);
});

// The custom width/height fields matter only for a custom size.
document.addEventListener("DOMContentLoaded", () => {
  const size = document.getElementById("id_size");
  const custom = document.querySelector(".custom-size");
  if (!size || !custom) return;
  const sync = () => { custom.hidden = size.value !== "custom"; };
  size.addEventListener("change", sync); sync();
});

// The phone menu: the button opens and closes the navigation (its aria-expanded is the state studio.css reads);
// Esc closes it and gives the focus back to the button. Without script the button stays hidden and the
// navigation open.
(() => {
  const button = document.getElementById("menu-button");
  if (!button) return;
  const isOpen = () => button.getAttribute("aria-expanded") === "true";
  button.hidden = false;
  button.addEventListener("click", () => button.setAttribute("aria-expanded", String(!isOpen())));
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !isOpen()) return;
    button.setAttribute("aria-expanded", "false");
    button.focus();
  });
})();
