// Channel crops on the review page. A crop counts as seen once its image has loaded and at least half of it
// has been on screen; each seen crop adds crops_seen=<channel>:<token> to the decide form, and the server
// refuses an approval that lacks the current crop of any destination channel. After the focal point moves
// the section is swapped in anew: crops whose token changed must be seen again.
(() => {
  const seen = new Set();
  let observer = null;

  function items() {
    return [...document.querySelectorAll("#channel-crops .channel-crop[data-seen-value]")];
  }

  function sync() {
    const current = new Set(items().map((item) => item.dataset.seenValue));
    const form = document.getElementById("decide-form");
    if (form) {
      const present = new Set();
      form.querySelectorAll("input[name=crops_seen]").forEach((input) => {
        if (current.has(input.value) && seen.has(input.value)) present.add(input.value);
        else input.remove();
      });
      for (const value of seen) {
        if (!current.has(value) || present.has(value)) continue;
        const input = document.createElement("input");
        input.type = "hidden";
        input.name = "crops_seen";
        input.value = value;
        form.append(input);
      }
    }
    let unseen = 0;
    for (const item of items()) {
      const isSeen = seen.has(item.dataset.seenValue);
      item.classList.toggle("seen", isSeen);
      const badge = item.querySelector(".crop-seen");
      if (badge) badge.hidden = !isSeen;
      if (!isSeen) unseen += 1;
    }
    const count = document.getElementById("crops-unseen-count");
    if (count) count.textContent = String(unseen);
    const section = document.getElementById("channel-crops");
    if (section) section.dataset.unseen = String(unseen);
  }

  function watch(image) {
    const item = image.closest(".channel-crop");
    const done = () => {
      if (image.naturalWidth > 0) {
        seen.add(item.dataset.seenValue);
        sync();
      }
    };
    if (image.complete && image.naturalWidth > 0) done();
    else image.addEventListener("load", done, { once: true });
  }

  function start() {
    if (observer) observer.disconnect();
    observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        observer.unobserve(entry.target);
        watch(entry.target);
      }
    }, { threshold: 0.5 });
    for (const item of items()) {
      const image = item.querySelector("img.crop-image");
      if (!image) continue;
      image.addEventListener("error", () => {
        const failed = item.querySelector(".crop-failed");
        if (failed) failed.hidden = false;
      }, { once: true });
      observer.observe(image);
    }
    sync();
  }

  document.addEventListener("DOMContentLoaded", start);
  // The focal-point form swaps the whole section (hx-target="#channel-crops").
  document.addEventListener("htmx:afterSettle", start);
  // A refused focal point (400 or 409) comes back as the section saying why: show it rather than nothing.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const status = event.detail.xhr.status;
    if ((status === 400 || status === 409) && event.detail.target?.id === "channel-crops") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
