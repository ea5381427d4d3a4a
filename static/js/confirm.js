// Forms with data-confirm ask before they submit (the credentials page's delete buttons). No inline
// handlers: the Content-Security-Policy allows scripts from this origin only.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
