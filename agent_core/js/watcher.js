// Lookout page watcher: knows what a document is busy with, so settling after an action is observed rather
// than guessed. Installed as an init script (every document, before its own scripts) and, lazily, by the
// settle call on documents that started without it. Installs `window.__lookoutWatch` once per document:
//  - DOM mutations (a MutationObserver; our own data-lookout-* attributes ignored),
//  - timers (setTimeout <= 1 s), animation frames and fetch/XHR still pending,
//  - which elements listen for key events (read by the scraper: `keysOf`) and for clicks (`clickTargets`,
//    `clickRefs`, `docClicks`: the scraper lists what has a click listener, and finds jQuery's delegated ones).
// Every callback is run with its *root*: the time the chain of timers / frames / intervals it belongs to was
// started from outside any callback. A clock ticking since page load has an old root and never counts as
// activity caused by an action; a debounce timer set by a keydown handler has a root after the action.
// Times are wall-clock milliseconds (Date.now), comparable with the agent's clock: the browser is local.
(() => {
  "use strict";
  if (window.__lookoutWatch) return;
  const realSetTimeout = window.setTimeout;
  const realClearTimeout = window.clearTimeout;
  const realSetInterval = window.setInterval;
  const realRAF = window.requestAnimationFrame;
  const realCancelRAF = window.cancelAnimationFrame;
  const realFetch = window.fetch;
  const realAdd = EventTarget.prototype.addEventListener;
  const now = Date.now.bind(Date);
  const TIMER_CAP = 1000; // longer timers (a toast's auto-hide, a poll) are not waited for
  const ANIMATION_CAP = 2000;
  const AFTER_LOAD = 30; // the quiet window after a new document's load event, ms (the usual one: opts.quiet)
  const KEY_TYPES = new Set(["keydown", "keyup", "keypress"]);
  // What a person's click or tap sets off (a slider's handle answers mousedown, a card pointerdown).
  const CLICK_TYPES = new Set([
    "click", "dblclick", "contextmenu", "mousedown", "mouseup", "pointerdown", "pointerup", "touchstart", "touchend",
  ]);
  const CLICK_REFS = 5000; // listener targets remembered for the scraper's jQuery lookup
  const ACTIVITY_LOG = 256;

  const W = {
    started: now(),
    fromStart: document.readyState === "loading", // false: installed late, key listeners unknown
    current: null, // the record of the callback running now
    timers: new Map(), // pending setTimeout id -> record
    frames: new Map(), // pending first-generation requestAnimationFrame id -> record
    requests: new Set(), // pending fetch / XHR records
    activity: [], // [time, root] of DOM mutations and finished requests, newest last
    keyTargets: new WeakSet(),
    docKeys: false, // a key listener on window / document / html / body
    clickTargets: new WeakSet(), // elements with a click-like listener of their own
    clickRefs: [], // WeakRefs to every click listener target (documents too), oldest first
    docClicks: false, // a click-like listener on window / document / html / body: it may delegate anywhere
  };
  const clickSeen = new WeakSet();
  window.__lookoutWatch = W;

  function record(extra) {
    const t = now();
    return Object.assign({ t, root: W.current ? W.current.root : t }, extra);
  }
  function noteActivity(root) {
    W.activity.push([now(), root]);
    if (W.activity.length > ACTIVITY_LOG) W.activity.splice(0, W.activity.length - ACTIVITY_LOG);
  }

  // ---- DOM mutations ------------------------------------------------------------------------------------
  function relevant(records) {
    for (const r of records) {
      if (r.type !== "attributes" || !r.attributeName || !r.attributeName.startsWith("data-lookout-")) return true;
    }
    return false;
  }
  const observer = new MutationObserver((records) => {
    if (relevant(records)) noteActivity(now()); // outside any tracked callback: caused now
  });
  observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
  function run(rec, fn, self, args) {
    const previous = W.current;
    W.current = rec;
    try {
      return fn.apply(self, args);
    } finally {
      // What the callback changed synchronously belongs to its chain (a ticking clock stays background).
      const records = observer.takeRecords();
      if (records.length && relevant(records)) noteActivity(rec.root);
      W.current = previous;
    }
  }

  // ---- timers and frames ----------------------------------------------------------------------------------
  window.setTimeout = function (fn, delay, ...args) {
    if (typeof fn !== "function") return realSetTimeout.apply(this, arguments);
    const rec = record({ delay: Number(delay) || 0 });
    const id = realSetTimeout.call(window, function () {
      W.timers.delete(id);
      return run(rec, fn, this, args);
    }, delay);
    if (rec.delay <= TIMER_CAP) W.timers.set(id, rec);
    return id;
  };
  window.clearTimeout = function (id) {
    W.timers.delete(id);
    return realClearTimeout.call(window, id);
  };
  window.setInterval = function (fn, delay, ...args) {
    if (typeof fn !== "function") return realSetInterval.apply(this, arguments);
    const rec = record({});
    return realSetInterval.call(window, function () {
      return run(rec, fn, this, args);
    }, delay);
  };
  if (realRAF) {
    window.requestAnimationFrame = function (fn) {
      const rec = record({ frame: true });
      const first = !(W.current && W.current.frame); // an animation loop is waited for through its mutations
      const id = realRAF.call(window, function (ts) {
        W.frames.delete(id);
        return run(rec, fn, this, [ts]);
      });
      if (first) W.frames.set(id, rec);
      return id;
    };
    window.cancelAnimationFrame = function (id) {
      W.frames.delete(id);
      return realCancelRAF.call(window, id);
    };
  }

  // ---- requests -------------------------------------------------------------------------------------------
  if (realFetch) {
    window.fetch = function () {
      const rec = record({});
      W.requests.add(rec);
      const done = () => {
        W.requests.delete(rec);
        noteActivity(rec.root); // the page reads and renders the answer next
      };
      let promise;
      try {
        promise = realFetch.apply(this, arguments);
      } catch (error) {
        W.requests.delete(rec);
        throw error;
      }
      promise.then(done, done);
      return promise;
    };
  }
  if (window.XMLHttpRequest) {
    const realSend = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.send = function () {
      const rec = record({});
      W.requests.add(rec);
      realAdd.call(this, "loadend", () => {
        W.requests.delete(rec);
        noteActivity(rec.root);
      });
      return realSend.apply(this, arguments);
    };
  }

  // ---- key listeners --------------------------------------------------------------------------------------
  EventTarget.prototype.addEventListener = function (type, listener, options) {
    // A bare `addEventListener(...)` in a page script calls this with no receiver: that is the window.
    const target = this == null ? window : this;
    if (KEY_TYPES.has(type)) {
      if (target === window || target === document || target === document.documentElement || target === document.body) {
        W.docKeys = true;
      } else if (typeof target === "object" || typeof target === "function") {
        W.keyTargets.add(target);
      }
    }
    return realAdd.call(target, type, listener, options);
  };
  function handles(el) {
    return W.keyTargets.has(el) || !!(el.onkeydown || el.onkeyup || el.onkeypress);
  }
  // "own": the element itself listens for keys; "delegated": an ancestor or the document does; "none": nobody
  // does; "unknown": the watcher arrived after the page's scripts.
  W.keysOf = function (el) {
    if (handles(el)) return "own";
    for (let p = el.parentNode || el.host; p; p = p.parentNode || p.host) {
      if (p.nodeType === 1 && handles(p)) return "delegated";
    }
    if (W.docKeys || window.onkeydown || document.onkeydown || window.onkeyup || document.onkeyup) return "delegated";
    return W.fromStart ? "none" : "unknown";
  };

  // ---- click listeners ------------------------------------------------------------------------------------
  // What listens for a person's clicks, taps and drags (read by the scraper, which lists those elements).
  const keyedAdd = EventTarget.prototype.addEventListener;
  function noteClicks(target) {
    if (!target || typeof target !== "object" || clickSeen.has(target)) return;
    clickSeen.add(target);
    if (target === window || target === document || target === document.documentElement || target === document.body) {
      W.docClicks = true;
    } else if (target.nodeType === 1) {
      W.clickTargets.add(target);
    }
    if (typeof WeakRef === "function") {
      if (W.clickRefs.length >= CLICK_REFS) W.clickRefs = W.clickRefs.filter((ref) => ref.deref());
      if (W.clickRefs.length < CLICK_REFS) W.clickRefs.push(new WeakRef(target));
    }
  }
  EventTarget.prototype.addEventListener = function (type, listener, options) {
    const target = this == null ? window : this; // a bare addEventListener(...) in a page script
    if (CLICK_TYPES.has(type)) noteClicks(target);
    return keyedAdd.call(target, type, listener, options);
  };

  // ---- settling -------------------------------------------------------------------------------------------
  function runningAnimations() {
    if (!document.getAnimations) return 0;
    let n = 0;
    for (const a of document.getAnimations()) {
      if (a.playState !== "running" && !a.pending) continue;
      const timing = a.effect && a.effect.getComputedTiming ? a.effect.getComputedTiming() : null;
      if (!timing || !isFinite(timing.endTime)) continue; // a spinner turns forever: not waited for
      const remaining = timing.endTime - (timing.localTime || 0);
      if (remaining > 0 && remaining <= ANIMATION_CAP) n++;
    }
    return n;
  }
  function pending(map, since) {
    let n = 0;
    for (const rec of map.values ? map.values() : map) if (rec.root >= since) n++;
    return n;
  }
  function lastActivity(since, after) {
    for (let i = W.activity.length - 1; i >= 0; i--) {
      const [t, root] = W.activity[i];
      if (t < since || t <= after) break;
      if (root >= since) return t;
    }
    return 0;
  }
  // When this document's load event ended (wall clock), 0 while it has not.
  function loadEnded() {
    const entry = performance.getEntriesByType && performance.getEntriesByType("navigation")[0];
    return entry && entry.loadEventEnd > 0 ? performance.timeOrigin + entry.loadEventEnd : 0;
  }
  // Resolve once nothing the action started is pending (timers <= 1 s, first animation frames, fetch/XHR,
  // finite animations) and for `quiet` ms neither has the DOM changed because of it nor was anything
  // pending; or after `budget` ms. `since`: when the action began (a document born later counts from now: its navigation was
  // awaited already); `idleFrom`: the agent saw network activity end then. One task-queue turn always
  // passes first, so whatever the action's handlers scheduled as tasks has run.
  W.settle = function (opts) {
    const quiet = opts.quiet || 100;
    const start = now();
    const end = start + (opts.budget || 2000);
    const born = W.started > (opts.since || 0); // a document the action led to
    const since = born ? start : opts.since || start;
    let idleFrom = opts.idleFrom || 0;
    return new Promise((resolve) => {
      const check = () => {
        const t = now();
        const busy = {
          loading: document.readyState === "complete" ? 0 : 1, // the load event (images, frames) is awaited
          timers: pending(W.timers, since),
          frames: pending(W.frames, since),
          requests: pending(W.requests, since),
          animations: runningAnimations(),
        };
        const waiting = busy.loading + busy.timers + busy.frames + busy.requests + busy.animations > 0;
        // What ends something pending (a transition's transitionend, a timer's promise) comes a frame or a
        // task later: once nothing is pending, still give it the quiet window.
        if (busy.timers + busy.frames + busy.requests + busy.animations > 0 || (busy.loading && !born)) idleFrom = t;
        // A document the action led to: building it (the parser, its scripts up to the load event) is
        // loading, not activity; what its load handlers started is pending like anything else, and a shorter
        // window after the load (AFTER_LOAD ms) catches work they handed to a task (a framework's scheduler).
        const loaded = born && !busy.loading ? loadEnded() || t : 0;
        const last = Math.max(lastActivity(since, loaded), idleFrom, loaded ? loaded - (quiet - AFTER_LOAD) : 0);
        const calm = !waiting && (last === 0 || t - last >= quiet);
        if (calm || t >= end) {
          resolve(Object.assign({ quiet: calm, waited: t - start, changed: last > 0 }, busy));
          return;
        }
        const delay = waiting ? 16 : quiet - (t - last);
        realSetTimeout.call(window, check, Math.max(1, Math.min(delay, end - t)));
      };
      const channel = new MessageChannel();
      channel.port1.onmessage = () => realSetTimeout.call(window, check, 0);
      channel.port2.postMessage(0);
    });
  };
})();
