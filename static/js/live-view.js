// The live browser view: JPEG frames from the frames websocket (latest wins, shown through object URLs),
// or the latest screenshot artifact before frames arrive and after the run ends.
// A frame message is an 8-byte big-endian float64 (capture time, ms since the epoch) and then the JPEG.

const HEADER_BYTES = 8;

const FRAME_FRESH_MS = 3000;

export class LiveView {
  constructor({ img, empty, caption }) {
    this.img = img;
    this.empty = empty;
    this.caption = caption;
    this.objectUrl = null;
    this.pending = null;
    this.loading = false;
    this.lastFrameAt = 0;
  }

  frame(message) {
    if (message.size <= HEADER_BYTES) return;
    this.lastFrameAt = Date.now();
    // Frames that arrive while one decodes are dropped: only the newest matters.
    this.pending = message;
    if (!this.loading) this.showNextFrame();
  }

  showNextFrame() {
    const blob = this.pending;
    this.pending = null;
    if (!blob) return;
    this.loading = true;
    this.stamp(blob.slice(0, HEADER_BYTES));
    const url = URL.createObjectURL(blob.slice(HEADER_BYTES, blob.size, "image/jpeg"));
    const previous = this.objectUrl;
    this.objectUrl = url;
    this.img.onload = this.img.onerror = () => {
      if (previous) URL.revokeObjectURL(previous);
      this.loading = false;
      this.showNextFrame();
    };
    this.reveal(url, "Live", "live");
  }

  // The capture time goes in the caption's tooltip (the browser's clock may differ from the server's).
  async stamp(header) {
    const ms = new DataView(await header.arrayBuffer()).getFloat64(0, false);
    if (ms > 0) this.caption.title = `Frame captured at ${new Date(ms).toLocaleTimeString()}`;
  }

  // A screenshot artifact: shown unless live frames are flowing.
  screenshot(url, label = "Latest screenshot") {
    if (Date.now() - this.lastFrameAt < FRAME_FRESH_MS) return;
    this.img.onload = this.img.onerror = null;
    this.pending = null;
    this.loading = false;
    if (this.objectUrl) {
      URL.revokeObjectURL(this.objectUrl);
      this.objectUrl = null;
    }
    this.caption.title = "";
    this.reveal(url, label, "screenshot");
  }

  // The run is over: if live frames were showing, fall back to the last screenshot (or say the frame is old).
  ended(latestUrl, label = "Last screenshot") {
    this.lastFrameAt = 0;
    if (this.caption.dataset.mode !== "live") return;
    if (latestUrl) this.screenshot(latestUrl, label);
    else this.setCaption("Last frame", "screenshot");
  }

  reveal(url, label, mode) {
    this.img.src = url;
    this.img.hidden = false;
    if (this.empty) this.empty.hidden = true;
    this.setCaption(label, mode);
  }

  setCaption(label, mode) {
    this.caption.textContent = label;
    this.caption.dataset.mode = mode;
  }
}
