// The screenshot lightbox: a <dialog> over the gallery; ← and → step through the screenshots in the
// grid's order, Esc closes (the dialog's own behaviour) and focus returns to the thumbnail.

const links = [...document.querySelectorAll("[data-gallery] a.shot")];
const dialog = document.getElementById("lightbox");

if (links.length && dialog) {
  const img = document.getElementById("lightbox-img");
  const caption = document.getElementById("lightbox-caption");
  const position = document.getElementById("lightbox-position");
  const download = document.getElementById("lightbox-download");
  const prev = dialog.querySelector('[data-lightbox="prev"]');
  const next = dialog.querySelector('[data-lightbox="next"]');
  let index = 0;

  function show(i) {
    index = Math.max(0, Math.min(links.length - 1, i));
    const link = links[index];
    img.src = link.dataset.full;
    img.alt = link.dataset.caption;
    caption.textContent = link.dataset.caption;
    position.textContent = `${index + 1} of ${links.length}`;
    download.href = link.dataset.download;
    prev.disabled = index === 0;
    next.disabled = index === links.length - 1;
    dialog.dataset.index = String(index);
  }

  links.forEach((link, i) => {
    link.addEventListener("click", (event) => {
      if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return; // new tab etc.
      event.preventDefault();
      show(i);
      if (!dialog.open) dialog.showModal();
    });
  });

  dialog.addEventListener("keydown", (event) => {
    if (event.key === "ArrowRight") {
      event.preventDefault();
      show(index + 1);
    } else if (event.key === "ArrowLeft") {
      event.preventDefault();
      show(index - 1);
    }
  });
  prev.addEventListener("click", () => show(index - 1));
  next.addEventListener("click", () => show(index + 1));
  dialog.querySelector('[data-lightbox="close"]').addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (event) => { if (event.target === dialog) dialog.close(); });
  dialog.addEventListener("close", () => links[index].focus());
}
