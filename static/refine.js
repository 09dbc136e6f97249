// The Refine page (templates/generation/refine.html): the operation picker shows the fields the chosen
// operation uses, and a mask painter sits on the image for the operations that take a mask.
//
// The canvas has the image's own pixel size (CSS scales it), so the mask it exports has the image's size.
// Strokes are kept as a list, which makes undo a redraw and lets the same strokes be replayed in black and
// white for the mask the server gets (white = change, black = keep).
//
// Without this script the form still posts (with an uploaded mask file, if one is chosen).
document.addEventListener("DOMContentLoaded", () => {
  const painterRoot = document.querySelector("[data-painter]");
  let form = document.querySelector("form[data-refine-form]");
  if (!form || !painterRoot) return;
  const painter = createPainter(painterRoot);
  bindForm(form);

  function currentOperation() {
    const radio = form.querySelector("input[name=operation]:checked");
    if (!radio) return { key: "", prompt: "none", mask: "none", task: "" };
    return { key: radio.value, prompt: radio.dataset.prompt, mask: radio.dataset.mask, task: radio.dataset.task };
  }

  function bindForm(newForm) {
    form = newForm;
    const radios = [...form.querySelectorAll("input[name=operation]")];
    if (radios.length && !radios.some((radio) => radio.checked)) radios[0].checked = true;
    for (const radio of radios) radio.addEventListener("change", sync);
    bindAspect();
    bindColour();
    for (const name of ["scale", "aspect", "pad_left", "pad_top", "pad_right", "pad_bottom"]) {
      const input = form.elements[name];
      if (input) input.addEventListener("input", showResultSize);
    }
    form.addEventListener("submit", submit);
    sync();
  }

  function shown(when, operation) {
    if (when === "prompt") return operation.prompt !== "none";
    if (when === "model") return Boolean(operation.task);
    if (when === "mask") return operation.mask !== "none";
    return when === operation.key;
  }

  // Show what the chosen operation uses. A group holding an error from the server stays in view.
  function sync() {
    const operation = currentOperation();
    for (const group of form.querySelectorAll("[data-when]")) {
      group.hidden = !shown(group.dataset.when, operation) && !group.querySelector(".errorlist");
    }
    const optional = form.querySelector("[data-prompt-optional]");
    if (optional) optional.hidden = operation.prompt !== "optional";
    const prompt = form.elements.prompt;
    if (prompt) prompt.setAttribute("aria-required", String(operation.prompt === "required"));
    filterModels(operation.task);
    painter.setMode(operation.mask);
    showResultSize();
  }

  // Only models whose registry entry lists the operation's task can run it.
  function filterModels(task) {
    const select = form.elements.model;
    if (!select || !task) return;
    let first = null;
    for (const option of select.options) {
      const fits = (option.dataset.tasks || "").split(" ").includes(task);
      option.hidden = !fits;
      option.disabled = !fits;
      if (fits && !first) first = option;
    }
    if (select.selectedOptions[0]?.disabled && first) select.value = first.value;
  }

  function bindAspect() {
    const chips = form.querySelector("[data-aspect-presets]");
    const input = form.elements.aspect;
    if (!chips || !input) return;
    chips.hidden = false;
    const mark = () => {
      const value = input.value.trim();
      const known = [...chips.querySelectorAll("[data-aspect]")].some((chip) => chip.dataset.aspect === value);
      for (const chip of chips.querySelectorAll("[data-aspect]")) {
        const custom = chip.dataset.aspect === "";
        chip.setAttribute("aria-pressed", String(custom ? Boolean(value) && !known : chip.dataset.aspect === value));
      }
    };
    chips.addEventListener("click", (event) => {
      const chip = event.target.closest("[data-aspect]");
      if (!chip) return;
      if (chip.dataset.aspect) {
        input.value = chip.dataset.aspect;
        for (const side of ["pad_left", "pad_top", "pad_right", "pad_bottom"]) {
          if (form.elements[side]) form.elements[side].value = "";
        }
      } else {
        input.focus();
        input.select();
      }
      mark();
      showResultSize();
    });
    input.addEventListener("input", mark);
    mark();
  }

  function bindColour() {
    const text = form.elements.color;
    const picker = form.querySelector("[data-colour-picker]");
    if (!text || !picker) return;
    picker.hidden = false;
    const probe = document.createElement("canvas").getContext("2d");
    // The canvas parses any CSS colour name into #rrggbb; an invalid one leaves the probe value unchanged.
    const asHex = (value) => {
      probe.fillStyle = "#000001";
      probe.fillStyle = value.trim();
      return probe.fillStyle === "#000001" ? null : probe.fillStyle;
    };
    const fromText = () => {
      const hex = asHex(text.value);
      if (hex && hex.startsWith("#")) picker.value = hex;
    };
    picker.addEventListener("input", () => { text.value = picker.value; });
    text.addEventListener("input", fromText);
    fromText();
  }

  // What size the result will be, for the operations that change it (the server has the last word).
  function showResultSize() {
    const output = form.querySelector("[data-result-size]");
    if (!output) return;
    const { width, height } = painter.size;
    const operation = currentOperation();
    let size = null;
    if (operation.key === "upscale") {
      const scale = Number(form.elements.scale.value) || 2;
      size = [width * scale, height * scale];
    } else if (operation.key === "outpaint") {
      const pads = ["pad_left", "pad_top", "pad_right", "pad_bottom"].map((name) => Number(form.elements[name]?.value) || 0);
      const ratio = parseAspect(form.elements.aspect?.value || "");
      if (pads.some(Boolean)) size = [width + pads[0] + pads[2], height + pads[1] + pads[3]];
      else if (ratio) size = ratio > width / height ? [Math.round(height * ratio), height] : [width, Math.round(width / ratio)];
    }
    output.hidden = !size;
    output.textContent = size ? `Result: ${size[0]} x ${size[1]} px (now ${width} x ${height}).` : "";
  }

  function parseAspect(text) {
    const parts = text.trim().split(":");
    const ratio = parts.length === 2 ? Number(parts[0]) / Number(parts[1]) : Number(parts[0]);
    return Number.isFinite(ratio) && ratio > 0 ? ratio : null;
  }

  // Post with the painted mask as a file. A redirect goes to the request page; a 400 brings the form back
  // with its errors, swapped in beside the painter so the painting is kept; anything else replaces the page.
  async function submit(event) {
    event.preventDefault();
    const button = form.querySelector("[data-submit]");
    const problem = form.querySelector("[data-submit-error]");
    if (button.disabled) return;
    const operation = currentOperation();
    const data = new FormData(form);
    if (operation.mask === "none") {
      data.delete("mask");
    } else if (painter.hasPaint()) {
      data.set("mask", await painter.toBlob(), "mask.png");
    }
    const label = button.textContent;
    button.disabled = true;
    button.textContent = "Sending…";
    problem.hidden = true;
    let response;
    try {
      response = await fetch(form.action || window.location.href, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
    } catch (error) {
      button.disabled = false;
      button.textContent = label;
      problem.textContent = "Studio could not be reached; your painting is kept. Try again.";
      problem.hidden = false;
      return;
    }
    if (response.redirected) {
      window.location = response.url;
      return;
    }
    const html = await response.text();
    if (response.status === 400 && swapForm(html)) return;
    document.open();
    document.write(html);
    document.close();
  }

  function swapForm(html) {
    const fresh = new DOMParser().parseFromString(html, "text/html").querySelector("form[data-refine-form]");
    if (!fresh) return false;
    const adopted = document.importNode(fresh, true);
    form.replaceWith(adopted);
    bindForm(adopted);
    const errors = adopted.querySelector("[data-form-errors]");
    if (errors) errors.focus();
    return true;
  }

  // Shortcuts act on the painter while it is shown and nobody is typing.
  document.addEventListener("keydown", (event) => {
    if (!painter.enabled) return;
    const target = event.target;
    const typing = target instanceof HTMLElement
      && target.closest("textarea, select, [contenteditable], input:not([type=range]):not([type=radio]):not([type=checkbox]):not([type=button]):not([type=color])");
    if (typing || event.altKey) return;
    const key = event.key.toLowerCase();
    if ((event.ctrlKey || event.metaKey) && key === "z" && !event.shiftKey) {
      event.preventDefault();
      painter.undo();
      return;
    }
    if (event.ctrlKey || event.metaKey) return;
    const actions = {
      "[": () => painter.resize(-1),
      "]": () => painter.resize(1),
      e: () => painter.setEraser(true),
      b: () => painter.setEraser(false),
      x: () => painter.setEraser(!painter.erasing),
    };
    if (actions[key]) {
      event.preventDefault();
      actions[key]();
    }
  });
});

function createPainter(root) {
  const canvas = root.querySelector("[data-mask-canvas]");
  const stage = root.querySelector("[data-stage]");
  const context = canvas.getContext("2d");
  const tools = root.querySelector("[data-painter-tools]");
  const hint = root.querySelector("[data-painter-hint]");
  const keys = root.querySelector("[data-painter-keys]");
  const cursor = root.querySelector("[data-brush-cursor]");
  const sizeInput = root.querySelector("[data-brush-size]");
  const sizeOutput = root.querySelector("[data-brush-output]");
  const eraserButton = root.querySelector("[data-eraser]");
  const undoButton = root.querySelector("[data-undo]");
  const clearButton = root.querySelector("[data-clear]");
  const opacityInput = root.querySelector("[data-mask-opacity]");
  const PAINT = "#ff1f5a";
  const history = []; // strokes {size, erase, points: [[x, y], ...]} and {clear: true}
  let stroke = null;

  const painter = {
    enabled: false,
    erasing: false,
    size: { width: canvas.width, height: canvas.height },
    setMode(mask) {
      painter.enabled = mask !== "none";
      for (const element of [canvas, tools, hint, keys]) element.hidden = !painter.enabled;
      if (!painter.enabled) cursor.hidden = true;
      hint.textContent = mask === "required"
        ? "Paint over the area to change: this operation needs a mask."
        : "Painting is optional: Studio finds the subject itself; paint to choose the area yourself.";
    },
    setEraser(on) {
      painter.erasing = on;
      eraserButton.setAttribute("aria-pressed", String(on));
      stage.classList.toggle("erasing", on);
    },
    resize(direction) {
      const step = Math.max(2, Math.round(Number(sizeInput.value) * 0.2));
      sizeInput.value = String(Number(sizeInput.value) + direction * step);
      showSize();
    },
    undo() {
      if (!history.length) return;
      history.pop();
      redraw();
    },
    hasPaint() {
      const afterClear = history.slice(history.findLastIndex((item) => item.clear) + 1);
      return afterClear.some((item) => !item.erase);
    },
    toBlob() {
      const mask = document.createElement("canvas");
      mask.width = canvas.width;
      mask.height = canvas.height;
      const maskContext = mask.getContext("2d");
      maskContext.fillStyle = "#000";
      maskContext.fillRect(0, 0, mask.width, mask.height);
      for (const item of history) {
        if (item.clear) maskContext.fillRect(0, 0, mask.width, mask.height);
        else drawStroke(maskContext, item, item.erase ? "#000" : "#fff", "source-over");
      }
      return new Promise((resolve) => mask.toBlob(resolve, "image/png"));
    },
  };

  function drawStroke(target, item, colour, mode) {
    target.save();
    target.globalCompositeOperation = mode;
    target.strokeStyle = target.fillStyle = colour;
    target.lineWidth = item.size;
    target.lineCap = target.lineJoin = "round";
    const [first, ...rest] = item.points;
    if (!rest.length) {
      target.beginPath();
      target.arc(first[0], first[1], item.size / 2, 0, 2 * Math.PI);
      target.fill();
    } else {
      target.beginPath();
      target.moveTo(first[0], first[1]);
      for (const [x, y] of rest) target.lineTo(x, y);
      target.stroke();
    }
    target.restore();
  }

  function drawOnScreen(item) {
    drawStroke(context, item, PAINT, item.erase ? "destination-out" : "source-over");
  }

  function redraw() {
    context.clearRect(0, 0, canvas.width, canvas.height);
    for (const item of history) {
      if (item.clear) context.clearRect(0, 0, canvas.width, canvas.height);
      else drawOnScreen(item);
    }
    updateButtons();
  }

  function updateButtons() {
    undoButton.disabled = !history.length;
    clearButton.disabled = !painter.hasPaint();
  }

  // Pointer position in the canvas's own pixels.
  function pointAt(event) {
    const rect = canvas.getBoundingClientRect();
    return [((event.clientX - rect.left) * canvas.width) / rect.width, ((event.clientY - rect.top) * canvas.height) / rect.height];
  }

  // The brush slider is in screen pixels; strokes are stored in image pixels.
  function brushInImagePixels() {
    const rect = canvas.getBoundingClientRect();
    return (Number(sizeInput.value) * canvas.width) / (rect.width || canvas.width);
  }

  function showSize() {
    sizeOutput.textContent = sizeInput.value;
    cursor.style.width = cursor.style.height = `${sizeInput.value}px`;
  }

  function moveCursor(event) {
    if (event.pointerType === "touch") {
      cursor.hidden = true;
      return;
    }
    const rect = stage.getBoundingClientRect();
    cursor.hidden = false;
    cursor.style.left = `${event.clientX - rect.left}px`;
    cursor.style.top = `${event.clientY - rect.top}px`;
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (!painter.enabled || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    // preventDefault keeps the focus where it was; leave a text field, so shortcuts (Ctrl+Z) reach the painter.
    if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
    canvas.setPointerCapture(event.pointerId);
    stroke = { size: brushInImagePixels(), erase: painter.erasing, points: [pointAt(event)] };
    history.push(stroke);
    drawOnScreen(stroke);
    updateButtons();
  });
  canvas.addEventListener("pointermove", (event) => {
    moveCursor(event);
    if (!stroke) return;
    const events = (event.getCoalescedEvents && event.getCoalescedEvents()) || [];
    for (const each of events.length ? events : [event]) {
      const last = stroke.points[stroke.points.length - 1];
      const next = pointAt(each);
      stroke.points.push(next);
      drawOnScreen({ ...stroke, points: [last, next] });
    }
  });
  const finish = () => { stroke = null; };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  canvas.addEventListener("lostpointercapture", finish);
  canvas.addEventListener("pointerleave", () => { cursor.hidden = true; });

  sizeInput.addEventListener("input", showSize);
  eraserButton.addEventListener("click", () => painter.setEraser(!painter.erasing));
  undoButton.addEventListener("click", () => painter.undo());
  clearButton.addEventListener("click", () => {
    if (!painter.hasPaint()) return;
    history.push({ clear: true }); // undoable, like a stroke
    redraw();
  });
  const showOpacity = () => { canvas.style.opacity = String(Number(opacityInput.value) / 100); };
  opacityInput.addEventListener("input", showOpacity);
  showOpacity();
  showSize();
  updateButtons();
  return painter;
}
