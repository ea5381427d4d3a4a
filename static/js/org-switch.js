// The organization switcher submits as soon as another organization is picked (no inline handler, so the
// pages' Content-Security-Policy can forbid inline scripts).
const select = document.getElementById("org-select");
if (select) select.addEventListener("change", () => select.form.submit());
