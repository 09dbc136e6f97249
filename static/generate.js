// The Generate page: the size menu offers what the selected model makes (the server sends each model's menu
// as JSON), the width and height show only for a custom size, and only the selected model's notice shows.
// Without this script the page still works: the menu is the selected model's, and the form says what a
// model makes when a size does not fit it.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-generate-form]");
  if (!form) return;
  const menus = JSON.parse(document.getElementById("size-menus").textContent);
  const model = form.elements.model;
  const size = form.elements.size;
  const customSize = form.querySelector("[data-custom-size]");

  const showCustomSize = () => { customSize.hidden = size.value !== "custom"; };

  const showModel = () => {
    const menu = menus[model.value];
    if (!menu) return;
    const kept = menu.sizes.some(([key]) => key === size.value) ? size.value : menu.default;
    size.replaceChildren(...menu.sizes.map(([key, label]) => new Option(label, key, false, key === kept)));
    for (const notice of document.querySelectorAll("[data-model-notice]")) {
      notice.hidden = notice.dataset.modelNotice !== model.value;
    }
    showCustomSize();
  };

  model.addEventListener("change", showModel);
  size.addEventListener("change", showCustomSize);
  showCustomSize();
});
