// The task page: timeline over a websocket (replayed from 0, then live), live browser view, controls
// posted with fetch, the approval panel, and the facts/result re-fetched when the run changes.

import { installCopyButtons, statusLabel } from "./dom.js";
import { LiveView } from "./live-view.js";
import { RemoteControl } from "./remote-control.js";
import { FramesSocket, TimelineSocket } from "./socket.js";
import { Timeline } from "./timeline.js";

const root = document.querySelector(".task-page");
const ACTIVE = new Set(["created", "queued", "running", "paused", "awaiting_approval", "awaiting_input"]);
const TICKING = new Set(["running", "paused", "awaiting_approval", "awaiting_input"]);
const CONTROLLABLE = new Set(["running", "paused", "awaiting_input"]);
// Everything up to this seq is already reflected in the server-rendered header; the replay only
// rebuilds the timeline. Later events also update the header, controls and panels.
const renderedSeq = Number(root.dataset.lastSeq || 0);
let status = root.dataset.status;
let latestScreenshot = document.getElementById("live-view").getAttribute("src");
let latestLabel = "Last screenshot";

const badge = document.getElementById("task-status");
const connState = document.getElementById("conn-state");
const feedback = document.getElementById("control-feedback");
const approvalPanel = document.getElementById("approval-panel");
const approvalChecks = document.getElementById("approval-checks");
const questionPanel = document.getElementById("question-panel");
const questionText = document.getElementById("question-text");
const liveFrame = document.getElementById("live-frame");
const controlState = document.getElementById("control-state");
const takeForm = document.getElementById("take-control-form");
const releaseForm = document.getElementById("release-control-form");
const emptyNote = document.getElementById("timeline-empty");
const countNote = document.getElementById("timeline-count");

const live = new LiveView({
  img: document.getElementById("live-view"),
  empty: document.getElementById("live-empty"),
  caption: document.getElementById("live-caption"),
});

const timeline = new Timeline(document.getElementById("timeline"), {
  artifactBase: root.dataset.artifactBase,
  onScreenshot(artifact) {
    latestScreenshot = artifact.url;
    latestLabel = artifact.kind === "screenshot_final" ? "Final screenshot" : "Last screenshot";
    live.screenshot(artifact.url, artifact.kind === "screenshot_final" ? "Final screenshot" : "Latest screenshot");
  },
  onEmpty(empty, count) {
    emptyNote.hidden = !empty;
    countNote.textContent = `${count} event${count === 1 ? "" : "s"}`;
  },
});

// ---- take control -----------------------------------------------------------------------------
// Who holds control comes down the frames socket (on connect, so a reload keeps it, and on every change).

const control = { holder: "", you: liveFrame.dataset.holding === "1", ready: false };
let frames = null;
const remote = new RemoteControl({
  frame: liveFrame,
  img: document.getElementById("live-view"),
  send: (message) => frames && frames.send(message),
});

function showControl() {
  const you = control.you && CONTROLLABLE.has(status);
  root.dataset.holding = liveFrame.dataset.holding = you ? "1" : "0";
  if (you) remote.enable();
  else remote.disable();
  if (takeForm) takeForm.hidden = you || !CONTROLLABLE.has(status);
  if (releaseForm) releaseForm.hidden = !you;
  let text = "";
  if (you && control.ready) text = "You have control: the agent is paused. Click into the browser view to use it.";
  else if (you) text = "You have control. Waiting for the agent to pause at its next checkpoint…";
  else if (control.holder && CONTROLLABLE.has(status)) text = `${control.holder} has control of the browser.`;
  controlState.textContent = text;
  controlState.dataset.ready = you && control.ready ? "1" : "0";
}

function onLiveMessage(message) {
  if (message.type === "control") {
    control.holder = message.holder || "";
    control.you = Boolean(message.you);
    control.ready = Boolean(message.ready);
    showControl();
  } else if (message.type === "refused") {
    say(message.message, "error");
  }
}

frames = new FramesSocket(root.dataset.framesPath, { onFrame: (blob) => live.frame(blob), onMessage: onLiveMessage });

// ---- status ---------------------------------------------------------------------------------

function applyStatus(next) {
  status = next;
  root.dataset.status = next;
  badge.className = `badge big status-${next}`;
  badge.textContent = statusLabel(next);
  for (const el of root.querySelectorAll("[data-when]")) {
    el.hidden = !el.dataset.when.split(" ").includes(next);
  }
  approvalPanel.hidden = next !== "awaiting_approval";
  questionPanel.hidden = next !== "awaiting_input";
  showControl();
  if (ACTIVE.has(next)) {
    frames.start();
  } else {
    frames.stop();
    live.ended(latestScreenshot, latestLabel);
  }
}

function showApproval(checks) {
  approvalChecks.replaceChildren(
    ...checks.map((c) => {
      const li = document.createElement("li");
      const code = document.createElement("code");
      code.textContent = c.code || "check";
      li.append(code, " ", c.message || "");
      return li;
    }),
  );
  approvalPanel.hidden = false;
}

// ---- facts and result -------------------------------------------------------------------------

let refreshTimer = null;
function refreshSummary(delay = 300) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    try {
      const response = await fetch(root.dataset.summaryUrl, { credentials: "same-origin" });
      if (!response.ok) return;
      const fragment = document.createElement("template");
      fragment.innerHTML = await response.text(); // our own server-rendered, escaped template
      for (const id of ["task-facts", "task-result"]) {
        const fresh = fragment.content.getElementById(id);
        const current = document.getElementById(id);
        if (fresh && current) current.replaceWith(fresh);
      }
    } catch {
      // offline for a moment: the next event or tick tries again
    }
  }, delay);
}
setInterval(() => { if (TICKING.has(status) && !document.hidden) refreshSummary(0); }, 10000);

// ---- the timeline socket -----------------------------------------------------------------------

const CONN_LABELS = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", closed: "", revoked: "no access" };
const socket = new TimelineSocket(root.dataset.wsPath, {
  onEvent(event) {
    timeline.handle(event);
    const fresh = event.seq === null || event.seq === undefined || event.seq > renderedSeq;
    if (!fresh) return;
    if (event.type === "task.status") applyStatus(event.data.status);
    if (event.type === "approval.pending") showApproval(event.data.checks || []);
    if (event.type === "approval.resolved") approvalPanel.hidden = true;
    if (event.type === "input.requested") questionText.textContent = event.data.question || "";
    if (["task.status", "step.started", "step.finished", "approval.resolved"].includes(event.type)) refreshSummary();
  },
  onState(state) {
    connState.dataset.state = state;
    connState.textContent = CONN_LABELS[state] ?? state;
    if (state === "revoked") {
      frames.stop();
      say("You no longer have access to this task.", "error");
    }
  },
});
socket.start();
applyStatus(status);
// For tests and the curious: the page's sockets (e.g. lookout.timeline.ws.close() to try a reconnect).
window.lookout = { timeline: socket, frames, control };

// ---- controls ------------------------------------------------------------------------------------

function say(message, kind) {
  feedback.className = `feedback ${kind}`;
  feedback.textContent = message;
}

root.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-control]");
  if (!form) return;
  event.preventDefault();
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
  const button = form.querySelector("button");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { "X-Requested-With": "fetch" },
      credentials: "same-origin",
    });
    let answer;
    try {
      answer = await response.json();
    } catch {
      answer = { ok: false, message: `The server answered ${response.status}; reload the page and try again.` };
    }
    say(answer.message, answer.ok ? "success" : "error");
    if (answer.ok && form.dataset.control === "answer") form.reset();
    if (answer.ok && answer.redirect) window.location.assign(answer.redirect);
  } catch {
    say("Could not reach the server; check the connection and try again.", "error");
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
});

installCopyButtons();
// The script page's "Run again without the model" links here: open the replay box.
if (window.location.hash === "#replay-box") document.getElementById("replay-box")?.setAttribute("open", "");
