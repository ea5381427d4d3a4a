// The task page's recordings section: fetched again once the run ends (recordings are stored before the
// final status is), when the page's status (data-status on .task-page, kept live by task-detail.js) says so.
const FINAL = new Set(["completed", "failed", "terminated", "canceled", "timed_out"]);
const page = document.querySelector(".task-page");
const section = document.getElementById("recordings");

async function refresh() {
  const current = document.getElementById("recordings");
  if (!current) return;
  const response = await fetch(current.dataset.recordingsUrl, { credentials: "same-origin", headers: { "x-requested-with": "fetch" } });
  if (!response.ok) return;
  const template = document.createElement("template");
  template.innerHTML = (await response.text()).trim();
  const fresh = template.content.querySelector("#recordings");
  if (fresh) current.replaceWith(fresh);
}

if (page && section && section.dataset.final === "0") {
  const observer = new MutationObserver(() => {
    if (!FINAL.has(page.dataset.status)) return;
    observer.disconnect();
    refresh().catch(() => {});
  });
  observer.observe(page, { attributes: true, attributeFilter: ["data-status"] });
}
