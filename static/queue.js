// The review queue's keyboard: J/K move a cursor through the rows, X ticks the row's checkbox, O or Enter opens
// the image (its link keeps ?from=queue and the filters), / goes to the search field, ? lists the shortcuts
// and Esc closes that list. Nothing fires while typing in a field.
(() => {
  "use strict";

  const CURSOR_KEY = "studio-queue-cursor";

  function rows() {
    return Array.from(document.querySelectorAll("#queue-table tbody .queue-row"));
  }

  function current() {
    return document.querySelector("#queue-table .queue-row.is-current");
  }

  function setCurrent(row, { scroll = true } = {}) {
    const previous = current();
    if (previous) { previous.classList.remove("is-current"); previous.removeAttribute("aria-current"); }
    if (!row) return;
    row.classList.add("is-current");
    row.setAttribute("aria-current", "true");
    if (scroll) row.scrollIntoView({ block: "nearest" });
    try { sessionStorage.setItem(CURSOR_KEY, row.dataset.assetId); } catch (error) { /* storage off: no memory */ }
  }

  function move(step) {
    const all = rows();
    if (!all.length) return;
    const index = all.indexOf(current());
    const next = index === -1 ? (step > 0 ? 0 : all.length - 1) : Math.min(Math.max(index + step, 0), all.length - 1);
    setCurrent(all[next]);
  }

  function toggle() {
    const row = current();
    if (!row) return;
    const box = row.querySelector(".queue-pick");
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function open() {
    const row = current();
    const link = row && row.querySelector(".queue-open");
    if (link) window.location.assign(link.href);
  }

  function showShortcuts() {
    const dialog = document.getElementById("queue-shortcuts");
    if (dialog && !dialog.open) dialog.showModal();
  }

  function updateSelection() {
    const boxes = Array.from(document.querySelectorAll("#queue-table .queue-pick"));
    const ticked = boxes.filter((box) => box.checked);
    for (const box of boxes) box.closest(".queue-row").classList.toggle("is-selected", box.checked);
    const count = document.getElementById("queue-selected-count");
    if (count) count.textContent = ticked.length ? `${ticked.length} selected` : "";
    const all = document.getElementById("queue-select-all");
    if (all) {
      all.checked = boxes.length > 0 && ticked.length === boxes.length;
      all.indeterminate = ticked.length > 0 && ticked.length < boxes.length;
    }
  }

  // Typing: a text field, a text area, a select or an editable element. A focused checkbox is not typing.
  function typing(target) {
    if (!(target instanceof HTMLElement)) return false;
    if (target.isContentEditable || target.closest("textarea, select")) return true;
    const input = target.closest("input");
    return Boolean(input) && !["checkbox", "radio", "button", "submit", "reset"].includes(input.type);
  }

  document.addEventListener("keydown", (event) => {
    if (!document.querySelector("[data-shortcuts=queue]")) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const dialog = document.getElementById("queue-shortcuts");
    if (dialog && dialog.open) return; // the dialog closes itself on Esc
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    // Enter on a link, a button or a checkbox does what it does there.
    const onControl = event.target instanceof HTMLElement && event.target.closest("a, button, input, summary");
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    switch (key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "x": toggle(); break;
      case "o": open(); break;
      case "Enter": if (onControl || !current()) return; open(); break;
      case "?": showShortcuts(); break;
      case "/": { const search = document.getElementById("id_q"); if (!search) return; search.focus(); search.select(); break; }
      default: return;
    }
    event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", () => {
    if (!document.querySelector("[data-shortcuts=queue]")) return;
    const help = document.getElementById("queue-help-button");
    if (help) { help.hidden = false; help.addEventListener("click", showShortcuts); }

    const table = document.getElementById("queue-table");
    if (!table) return;
    table.addEventListener("change", (event) => {
      if (event.target.matches(".queue-pick")) updateSelection();
    });
    // A click in a row (not on its link or checkbox) puts the cursor there.
    table.addEventListener("click", (event) => {
      const row = event.target.closest(".queue-row");
      if (row) setCurrent(row, { scroll: false });
    });
    const all = document.getElementById("queue-select-all");
    if (all) {
      all.hidden = false;
      all.addEventListener("change", () => {
        for (const box of table.querySelectorAll(".queue-pick")) box.checked = all.checked;
        updateSelection();
      });
    }
    updateSelection();
    // Back from an image's page, the cursor is where it was (if that image is still listed).
    let remembered = null;
    try { remembered = sessionStorage.getItem(CURSOR_KEY); } catch (error) { /* storage off */ }
    const row = remembered && document.getElementById(`queue-row-${remembered}`);
    if (row) setCurrent(row, { scroll: false });
  });
})();
