// Live status badges on the task list: while any visible task is not finished, re-fetch the statuses of
// the visible rows every few seconds (one small JSON request for the page, stopping when all are final).

import { statusLabel } from "./dom.js";

const table = document.querySelector("table.tasks[data-status-url]");
const POLL_MS = 3000;

async function poll() {
  const pending = [...table.querySelectorAll('tr[data-task-id][data-final="0"]')];
  if (!pending.length) return;
  if (!document.hidden) {
    const query = new URLSearchParams(pending.map((row) => ["id", row.dataset.taskId]));
    try {
      const response = await fetch(`${table.dataset.statusUrl}?${query}`, { credentials: "same-origin" });
      if (response.ok) {
        const { tasks } = await response.json();
        for (const task of tasks) update(task);
      }
    } catch {
      // offline for a moment: try again on the next tick
    }
  }
  setTimeout(poll, POLL_MS);
}

function update(task) {
  const row = table.querySelector(`tr[data-task-id="${CSS.escape(task.id)}"]`);
  if (!row) return;
  const badge = row.querySelector('[data-role="status"]');
  if (badge.textContent !== statusLabel(task.status)) {
    badge.className = `badge status-${task.status}`;
    badge.textContent = task.label;
  }
  row.querySelector('[data-role="duration"]').textContent = task.duration;
  row.querySelector('[data-role="steps"]').textContent = task.steps;
  row.dataset.final = task.final ? "1" : "0";
}

if (table) setTimeout(poll, POLL_MS);
