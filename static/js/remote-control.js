// Take control: while this viewer holds control of the agent's browser, mouse, wheel, keyboard and paste on
// the live view go up the frames socket as input events. Points are fractions of the frame as shown
// (0..1 from its top left), so the viewer's screen size does not matter: the server maps them onto the
// page's own pixels. Moves and wheel turns are sent at most once per animation frame.

const IS_MAC = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
const BUTTONS = ["left", "middle", "right"];
const LINE_PX = 40; // wheel deltas given in lines (deltaMode 1)

export class RemoteControl {
  constructor({ frame, img, send }) {
    this.frame = frame;
    this.img = img;
    this.send = send;
    this.enabled = false;
    this.pressed = new Set();
    this.move = null;
    this.wheel = null;
    this.scheduled = false;
    this.downDetail = new Map();
    const on = (target, type, fn, options) => target.addEventListener(type, (e) => this.enabled && fn.call(this, e), options);
    on(img, "mousemove", this.onMove);
    on(img, "mousedown", this.onDown);
    on(window, "mouseup", this.onUp);
    on(img, "contextmenu", (e) => e.preventDefault());
    on(img, "dragstart", (e) => e.preventDefault());
    on(frame, "wheel", this.onWheel, { passive: false });
    on(frame, "keydown", this.onKeyDown);
    on(frame, "keyup", this.onKeyUp);
    on(frame, "paste", this.onPaste);
    on(frame, "blur", this.releaseKeys);
  }

  enable() {
    if (this.enabled) return;
    this.enabled = true;
    this.frame.tabIndex = 0;
    this.frame.setAttribute("aria-label", "The agent's browser: you have control. Click to focus, then type.");
  }

  disable() {
    if (!this.enabled) return;
    this.releaseKeys();
    this.enabled = false;
    this.frame.removeAttribute("tabindex");
    this.frame.removeAttribute("aria-label");
  }

  point(e) {
    const rect = this.img.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return { x: clamp((e.clientX - rect.left) / rect.width), y: clamp((e.clientY - rect.top) / rect.height) };
  }

  flushSoon() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      if (this.move) this.send({ t: "move", ...this.move });
      if (this.wheel) this.send({ t: "wheel", ...this.wheel });
      this.move = null;
      this.wheel = null;
    });
  }

  flushNow() {
    if (this.move) this.send({ t: "move", ...this.move });
    if (this.wheel) this.send({ t: "wheel", ...this.wheel });
    this.move = null;
    this.wheel = null;
  }

  onMove(e) {
    this.move = this.point(e);
    this.flushSoon();
  }

  onDown(e) {
    e.preventDefault();
    this.frame.focus({ preventScroll: true });
    this.flushNow();
    const button = BUTTONS[e.button] || "left";
    const clicks = Math.min(3, Math.max(1, e.detail || 1));
    this.downDetail.set(button, clicks);
    this.send({ t: "down", ...this.point(e), button, clicks });
  }

  onUp(e) {
    const button = BUTTONS[e.button] || "left";
    if (!this.downDetail.has(button)) return; // pressed outside the view
    const clicks = this.downDetail.get(button);
    this.downDetail.delete(button);
    this.flushNow();
    this.send({ t: "up", ...this.point(e), button, clicks });
  }

  onWheel(e) {
    e.preventDefault();
    const scale = e.deltaMode === 1 ? LINE_PX : e.deltaMode === 2 ? 800 : 1;
    const at = this.point(e);
    const previous = this.wheel || { dx: 0, dy: 0 };
    this.wheel = { ...at, dx: previous.dx + e.deltaX * scale, dy: previous.dy + e.deltaY * scale };
    this.flushSoon();
  }

  key(e) {
    // A Mac operator's Command shortcuts (copy, select all, …) are Control ones on the agent's Linux browser.
    return IS_MAC && e.key === "Meta" ? "Control" : e.key;
  }

  onKeyDown(e) {
    const shortcut = e.ctrlKey || e.metaKey;
    if (shortcut && e.key.toLowerCase() === "v") return; // let the paste event carry the clipboard text
    e.preventDefault();
    if (e.isComposing || e.key === "Process" || e.key === "Dead" || e.key === "Unidentified") return;
    const key = this.key(e);
    this.pressed.add(key);
    this.send({ t: "keydown", key });
  }

  onKeyUp(e) {
    const key = this.key(e);
    if (!this.pressed.has(key)) return;
    e.preventDefault();
    this.pressed.delete(key);
    this.send({ t: "keyup", key });
  }

  onPaste(e) {
    e.preventDefault();
    const text = e.clipboardData ? e.clipboardData.getData("text/plain") : "";
    if (text) this.send({ t: "paste", text: text.slice(0, 10000) });
  }

  releaseKeys() {
    for (const key of this.pressed) this.send({ t: "keyup", key });
    this.pressed.clear();
  }
}
