// The Generate page: the size and style menus offer what the selected model makes and draws (the server
// sends each model's menus as JSON), the width and height show only for a custom size, and only the
// selected model's notice shows. Without this script the page still works: the menus are the selected
// model's, and the form says what a model makes or draws when a size or style does not fit it.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-generate-form]");
  if (!form) return;
  const menus = JSON.parse(document.getElementById("size-menus").textContent);
  const styleMenus = JSON.parse(document.getElementById("style-menus").textContent);
  const model = form.elements.model;
  const size = form.elements.size;
  const style = form.elements.style;
  const customSize = form.querySelector("[data-custom-size]");

  const showCustomSize = () => { customSize.hidden = size.value !== "custom"; };

  // The style kept when the new model draws it too, else its menu's first.
  const showStyles = () => {
    const styles = styleMenus[model.value];
    if (!styles) return;
    const kept = styles.some(([key]) => key === style.value) ? style.value : styles[0]?.[0];
    style.replaceChildren(...styles.map(([key, label]) => new Option(label, key, false, key === kept)));
  };

  const showModel = () => {
    const menu = menus[model.value];
    if (!menu) return;
    const kept = menu.sizes.some(([key]) => key === size.value) ? size.value : menu.default;
    size.replaceChildren(...menu.sizes.map(([key, label]) => new Option(label, key, false, key === kept)));
    showStyles();
    for (const notice of document.querySelectorAll("[data-model-notice]")) {
      notice.hidden = notice.dataset.modelNotice !== model.value;
    }
    showCustomSize();
  };

  model.addEventListener("change", showModel);
  size.addEventListener("change", showCustomSize);
  showCustomSize();
});
