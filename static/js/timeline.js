// Renders timeline events ({seq, type, ts, data}) into the task page: steps with the model's thinking
// (growing with llm.delta), their actions and results, screenshots, status changes and approvals.
// Events arrive in seq order (replay, then live); each handler only adds or updates its own elements.

import { formatDuration, formatTime, h, shorten, statusLabel } from "./dom.js";
import { extractThinking } from "./thinking.js";

const KIND_LABELS = {
  screenshot_llm: "screenshot sent to the model",
  screenshot_action: "screenshot after an action",
  screenshot_final: "final screenshot",
  html_scrape: "page HTML",
  html_action: "page HTML after an action",
  element_tree_full: "element tree",
  element_tree_prompt: "elements in the prompt",
  llm_prompt: "prompt",
  llm_request: "model request",
  llm_response: "model reply",
  recording: "video recording",
  trace: "Playwright trace",
  har: "HAR",
  download: "download",
};
const SCREENSHOT_KINDS = new Set(["screenshot_llm", "screenshot_action", "screenshot_final"]);
const HIDDEN_PARAMS = new Set(["action_type", "element_id", "reasoning"]);

function safeHref(url) {
  return /^https?:\/\//i.test(String(url || "")) ? url : null;
}

function paramText(key, value) {
  if (key === "text") return `“${shorten(value, 80)}”`;
  if (key === "errors" && Array.isArray(value)) {
    return value.map((e) => (e && e.error_code ? e.error_code : shorten(JSON.stringify(e), 60))).join(", ");
  }
  const shown = typeof value === "string" ? value : JSON.stringify(value);
  return `${key.replace(/_/g, " ")}: ${shorten(shown, 80)}`;
}

// How a replay ran a step: from the script, or by asking the model (and why it had to).
function modeTag(d) {
  if (d.mode === "replayed") return h("span", { class: "mode-tag replayed", title: "Replayed from the script: no model call" }, "replayed");
  if (d.mode === "model") return h("span", { class: "mode-tag model", title: d.why || "" }, "asked the model");
  return null;
}

function money(cost) {
  const n = Number(cost);
  if (!n) return "";
  return n < 1 ? `$${n.toFixed(4)}` : `$${n.toFixed(2)}`;
}

export class Timeline {
  constructor(list, { artifactBase, onScreenshot = () => {}, onEmpty = () => {} }) {
    this.list = list;
    this.artifactBase = artifactBase;
    this.onScreenshot = onScreenshot;
    this.onEmpty = onEmpty;
    this.steps = new Map(); // step_id -> step record
    this.byOrder = new Map(); // "order.retry_index" -> step record
    this.actions = new Map(); // action_id -> action record
    this.waiting = new Map(); // action_id -> artifacts that arrived before their action (defensive)
    this.count = 0;
  }

  handle(event) {
    const handler = this[`on_${event.type.replace(/\./g, "_")}`];
    if (!handler) return;
    handler.call(this, event.data || {}, event);
    if (event.seq !== null && event.seq !== undefined) {
      this.count += 1;
      this.onEmpty(false, this.count);
    }
  }

  viewerUrl(artifactId) {
    return `${this.artifactBase}${artifactId}/`;
  }

  add(el) {
    this.list.append(el);
    return el;
  }

  time(event) {
    const t = formatTime(event.ts);
    return t ? h("time", { class: "tl-time", datetime: event.ts }, t) : null;
  }

  // ---- task -------------------------------------------------------------------------------

  on_task_status(d, event) {
    const badge = h("span", { class: `badge status-${d.status}` }, statusLabel(d.status));
    const ended = ["failed", "terminated", "canceled", "timed_out"].includes(d.status);
    const plain = !d.by && !d.retry_step && !(d.failure_reason && ended);
    // Consecutive plain transitions (created → queued → running) share one line.
    const last = this.list.lastElementChild;
    if (plain && last && last.dataset.chain === "1") {
      last.querySelector(".tl-time")?.remove();
      last.append(" → ", badge, this.time(event));
      return;
    }
    const parts = [badge];
    if (d.retry_step) parts.push(" retry step");
    if (d.by) parts.push(` by ${d.by}`);
    parts.push(this.time(event));
    if (d.failure_reason && ended) parts.push(h("div", { class: "tl-note bad" }, d.failure_reason));
    this.add(h("li", { class: "tl-status", dataset: { status: d.status, chain: plain ? "1" : "0" } }, parts));
  }

  on_approval_pending(d, event) {
    const checks = (d.checks || []).map((c) => h("li", {}, h("code", {}, c.code || "check"), " ", c.message || ""));
    this.add(
      h("li", { class: "tl-status tl-approval" },
        h("div", { class: "tl-note warn" }, "The model asks for approval before its next action", this.time(event)),
        h("ul", { class: "checks" }, checks)),
    );
  }

  on_approval_resolved(d, event) {
    const verdict = d.approved ? "Safety checks approved" : "Safety checks denied";
    this.add(h("li", { class: "tl-status" }, h("span", { class: `tl-note ${d.approved ? "" : "bad"}` }, `${verdict}${d.by ? ` by ${d.by}` : ""}`), this.time(event)));
  }

  on_script_recorded(d, event) {
    const text = d.reason === "repaired"
      ? `Script repaired: version ${d.version} (${d.steps} actions; the model redid step${(d.healed_steps || []).length === 1 ? "" : "s"} ${(d.healed_steps || []).join(", ")})`
      : `Script recorded: version ${d.version} (${d.steps} actions), replayable without the model`;
    this.add(h("li", { class: "tl-status tl-script", dataset: { reason: d.reason } }, h("span", { class: "tl-note" }, text), this.time(event)));
  }

  on_replay_finished(d, event) {
    const text = `Replay: ${d.steps_replayed} step${d.steps_replayed === 1 ? "" : "s"} replayed, ${d.steps_healed} asked the model; `
      + `${d.model_calls} model call${d.model_calls === 1 ? "" : "s"} (the recorded run made ${d.model_calls_recorded}), `
      + `${Number(d.tokens_saved || 0).toLocaleString()} tokens saved`;
    this.add(h("li", { class: "tl-status tl-replay" }, h("span", { class: "tl-note" }, text), this.time(event)));
  }

  on_profile_saved(d, event) {
    const sites = (d.sites || []).join(", ");
    const text = `Saved login ${d.profile} ${d.created ? "created" : "updated"}${sites ? ` (${sites})` : ""}`;
    this.add(h("li", { class: "tl-status" }, h("span", { class: "tl-note" }, text), this.time(event)));
  }

  on_egress_blocked(d, event) {
    const reason = String(d.reason || "").replace(/^blocked by the egress policy: /, "");
    const text = d.omitted
      ? `…and ${d.omitted} more requests were blocked by the egress policy`
      : `Blocked by the egress policy: ${reason}`;
    this.add(
      h("li", { class: "tl-status tl-egress" },
        h("span", { class: "tl-note warn" }, text),
        d.url && !d.omitted ? [" ", h("code", { class: "tl-url" }, shorten(d.url, 120))] : null,
        this.time(event)),
    );
  }

  // ---- take control and questions -----------------------------------------------------------

  on_control_taken(d, event) {
    const from = d.previous ? ` (taken over from ${d.previous})` : "";
    this.add(h("li", { class: "tl-status tl-control", dataset: { kind: "taken" } },
      h("span", { class: "tl-note warn" }, `Control taken by ${d.by}${from}`), this.time(event)));
  }

  on_control_action(d) {
    // Consecutive actions of the person in control share one compact list.
    let block = this.list.lastElementChild;
    if (!block || block.dataset.kind !== "actions") {
      block = this.add(h("li", { class: "tl-status tl-control", dataset: { kind: "actions" } },
        h("span", { class: "muted" }, `${d.by} in control:`), h("ul", { class: "tl-control-actions" })));
    }
    block.querySelector("ul").append(h("li", { dataset: { kind: d.kind } }, d.text));
  }

  on_control_released(d, event) {
    const why = { idle: " after a while without input", "taken over": ": taken over" }[d.reason] || "";
    this.add(h("li", { class: "tl-status tl-control", dataset: { kind: "released" } },
      h("span", { class: "tl-note" }, `Control released by ${d.by}${why}`), this.time(event)));
  }

  on_input_requested(d, event) {
    this.add(h("li", { class: "tl-status tl-question" },
      h("div", { class: "tl-note warn" }, "The agent asks a person", this.time(event)),
      h("blockquote", { class: "question-text" }, d.question || "")));
  }

  on_input_answered(d, event) {
    const text = d.handled ? `${d.by} took control and handled it` : `Answered by ${d.by}: “${shorten(d.answer, 200)}”`;
    this.add(h("li", { class: "tl-status tl-question" }, h("span", { class: "tl-note" }, text), this.time(event)));
  }

  // ---- steps ------------------------------------------------------------------------------

  on_step_started(d, event) {
    const key = `${d.order}.${d.retry_index}`;
    const thinkingText = h("p", { class: "thinking-text" });
    const thinking = h("div", { class: "thinking", hidden: true }, h("span", { class: "thinking-label" }, "Thinking"), thinkingText);
    const actions = h("ol", { class: "tl-actions" });
    const error = h("p", { class: "step-error", hidden: true });
    const links = h("div", { class: "step-artifacts", hidden: true }, "Artifacts:");
    const modelShot = h("a", { class: "model-shot", hidden: true });
    const state = h("span", { class: "step-state" }, "running…");
    const meta = h("span", { class: "step-meta" });
    const href = safeHref(d.url);
    const el = h("li", { class: "tl-step", id: `step-${d.step_id}`, dataset: { state: "running", order: d.order, retry: d.retry_index, mode: d.mode || "" } },
      h("div", { class: "step-head" },
        h("h3", {}, `Step ${d.order}`, d.retry_index ? ` (retry ${d.retry_index})` : ""),
        modeTag(d), state, meta, this.time(event)),
      d.mode === "model" && d.why ? h("p", { class: "step-why" }, `Why the model was asked: ${d.why}`) : null,
      d.url ? h("p", { class: "step-url" }, "on ", href ? h("a", { href, target: "_blank", rel: "noopener noreferrer" }, shorten(d.url, 100)) : shorten(d.url, 100)) : null,
      h("div", { class: "step-body" },
        h("div", { class: "step-main" }, thinking, actions, error, links),
        modelShot),
    );
    const record = { el, key, thinking, thinkingText, actions, error, links, modelShot, state, meta, delta: "" };
    this.steps.set(d.step_id, record);
    this.byOrder.set(key, record);
    this.add(el);
  }

  stepFor(d) {
    return (d.step_id && this.steps.get(d.step_id)) || this.byOrder.get(`${d.order}.${d.retry_index}`);
  }

  on_llm_delta(d) {
    const step = this.stepFor(d);
    if (!step || step.answered) return;
    step.delta += d.text || "";
    const thinking = extractThinking(step.delta);
    step.thinking.hidden = false;
    step.thinking.classList.add("streaming");
    step.thinkingText.textContent = thinking === null ? "" : thinking;
    if (thinking === null) step.thinkingText.dataset.placeholder = "The model is replying…";
  }

  on_llm_response(d) {
    const step = this.stepFor(d);
    if (!step) return;
    step.answered = true;
    step.thinking.classList.remove("streaming");
    const parsed = d.parsed;
    if (parsed && typeof parsed === "object") {
      step.thinking.hidden = !parsed.thinking;
      step.thinkingText.textContent = parsed.thinking || "";
      if (parsed.goal_achieved) step.thinking.append(h("span", { class: "goal-flag" }, "✓ The model says the goal is reached"));
    } else {
      step.thinking.hidden = false;
      step.thinkingText.textContent = "The model's reply could not be read as the expected JSON.";
      if (d.raw) step.thinking.append(h("details", { class: "raw-reply" }, h("summary", {}, "Show the reply"), h("pre", { class: "code" }, d.raw)));
    }
  }

  on_step_finished(d) {
    const step = this.stepFor(d);
    if (!step) return;
    step.el.dataset.state = d.success ? "ok" : "failed";
    step.state.textContent = d.success ? "done" : "failed";
    step.thinking.classList.remove("streaming");
    const tokens = (d.input_tokens || 0) + (d.output_tokens || 0);
    step.meta.textContent = [
      formatDuration(d.duration_ms),
      tokens ? `${tokens.toLocaleString()} tokens` : "",
      money(d.cost),
    ].filter(Boolean).join(" · ");
    if (!d.success && d.error) {
      step.error.hidden = false;
      step.error.textContent = `This step failed: ${d.error}`;
    }
    for (const action of step.el.querySelectorAll('.tl-action[data-state="running"]')) {
      action.dataset.state = "stopped";
      action.querySelector(".action-state").textContent = "not finished";
    }
  }

  // ---- actions ----------------------------------------------------------------------------

  on_action_started(d) {
    const step = this.steps.get(d.step_id);
    if (!step) return;
    const action = d.action || {};
    const params = Object.entries(action)
      .filter(([key, value]) => !HIDDEN_PARAMS.has(key) && value !== null && value !== undefined && value !== "")
      .map(([key, value]) => paramText(key, value));
    const state = h("span", { class: "action-state" }, "running…");
    const shot = h("a", { class: "action-shot", hidden: true });
    const body = h("div", { class: "action-main" },
      h("div", { class: "action-title" },
        h("span", { class: "muted" }, `${(d.index ?? 0) + 1}. `),
        h("strong", {}, action.action_type || "action"),
        action.element_id ? [" ", h("code", {}, action.element_id)] : null,
        params.length ? h("span", { class: "action-params" }, ` ${params.join(" · ")}`) : null,
        state),
      action.reasoning ? h("p", { class: "action-reason" }, action.reasoning) : null);
    if (d.mode && !step.el.dataset.mode) {
      // the engine marked the action rather than the step: mark the step once from its first action
      step.el.dataset.mode = d.mode;
      step.el.querySelector(".step-head h3").after(modeTag(d));
      if (d.mode === "model" && d.why) step.el.querySelector(".step-head").after(h("p", { class: "step-why" }, `Why the model was asked: ${d.why}`));
    }
    const el = h("li", { class: "tl-action", id: `action-${d.action_id}`, dataset: { state: "running", mode: d.mode || "" } }, body, shot);
    step.actions.append(el);
    const record = { el, body, state, shot };
    this.actions.set(d.action_id, record);
    for (const artifact of this.waiting.get(d.action_id) || []) this.on_artifact_created(artifact);
    this.waiting.delete(d.action_id);
  }

  on_action_finished(d) {
    const action = this.actions.get(d.action_id);
    if (!action) return;
    action.el.dataset.state = d.success ? "ok" : "failed";
    const took = formatDuration(d.duration_ms);
    action.state.textContent = d.success
      ? `done${took ? ` in ${took}` : ""}${d.navigated ? " · page changed" : ""}`
      : "failed";
    if (!d.success) {
      action.body.append(h("p", { class: "action-error" }, d.error ? `Failed: ${d.error}` : "Failed."));
    }
    // What the action changed on the page (the dom engine's change report), as the model read it next.
    let data = d.data;
    const changes = data && typeof data === "object" && !Array.isArray(data) ? data.changes : null;
    if (changes && changes.summary) {
      const quiet = changes.summary.startsWith("no visible change");
      action.body.append(h("p", { class: `action-changes${quiet ? " quiet" : ""}` }, changes.summary));
      data = Object.fromEntries(Object.entries(data).filter(([key]) => key !== "changes"));
      if (!Object.keys(data).length) data = null;
    }
    if (data !== null && data !== undefined && data !== "") {
      const text = typeof data === "string" ? data : JSON.stringify(data, null, 2);
      action.body.append(h("details", { class: "action-data" }, h("summary", {}, "Result data"), h("pre", { class: "code" }, text)));
    }
  }

  // ---- artifacts --------------------------------------------------------------------------

  on_artifact_created(d) {
    const label = KIND_LABELS[d.kind] || d.kind;
    const thumb = d.thumbnail_url || d.url;
    if (SCREENSHOT_KINDS.has(d.kind)) this.onScreenshot(d);
    if (d.kind === "screenshot_action" && d.action_id) {
      const action = this.actions.get(d.action_id);
      if (!action) {
        this.waiting.set(d.action_id, [...(this.waiting.get(d.action_id) || []), d]);
        return;
      }
      action.shot.replaceChildren(h("img", { src: thumb, alt: "Screenshot after this action", loading: "lazy" }));
      action.shot.href = this.viewerUrl(d.id);
      action.shot.hidden = false;
      return;
    }
    const step = d.step_id ? this.steps.get(d.step_id) : null;
    if (d.kind === "screenshot_llm" && step) {
      step.modelShot.replaceChildren(h("img", { src: thumb, alt: `What the model saw in this step`, loading: "lazy" }), "sent to the model");
      step.modelShot.href = this.viewerUrl(d.id);
      step.modelShot.hidden = false;
      return;
    }
    if (step) {
      step.links.hidden = false;
      step.links.append(h("a", { href: this.viewerUrl(d.id) }, label));
      return;
    }
    this.add(h("li", { class: "tl-status" }, h("span", { class: "tl-note" }, "Saved ", h("a", { href: this.viewerUrl(d.id) }, label))));
  }
}
