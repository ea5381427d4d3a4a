// Websockets that come back: exponential backoff with jitter, and for the timeline, ?after=<last seq seen>
// so a reconnect replays exactly what was missed (the server de-duplicates by seq; so do we).

import { wsUrl } from "./dom.js";

const MAX_DELAY_MS = 15000;
// The server closes a socket with this code when the user lost access to the task (removed from the
// organization, logged out): reconnecting would be refused, so stop and say so.
export const ACCESS_REVOKED = 4403;

class Reconnecting {
  constructor({ onState = () => {} } = {}) {
    this.onState = onState;
    this.attempt = 0;
    this.ws = null;
    this.timer = null;
    this.stopped = true;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close();
      this.ws = null;
    }
    this.onState("closed");
  }

  // Reconnect now (e.g. the network came back) instead of waiting out the backoff.
  kick() {
    if (this.stopped || (this.ws && this.ws.readyState <= WebSocket.OPEN)) return;
    clearTimeout(this.timer);
    this.connect();
  }

  connect() {
    this.onState(this.attempt ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.url());
    this.configure(ws);
    ws.onopen = () => this.onState("live");
    ws.onmessage = (message) => {
      this.attempt = 0;
      this.receive(message);
    };
    ws.onclose = (event) => {
      if (this.stopped || this.ws !== ws) return;
      if (event.code === ACCESS_REVOKED) {
        this.stopped = true;
        this.ws = null;
        this.onState("revoked");
        return;
      }
      const delay = Math.min(MAX_DELAY_MS, 500 * 2 ** this.attempt) * (0.8 + Math.random() * 0.4);
      this.attempt += 1;
      this.onState("reconnecting", delay);
      this.timer = setTimeout(() => this.connect(), delay);
    };
    this.ws = ws;
  }

  configure() {}
}

export class TimelineSocket extends Reconnecting {
  constructor(path, { onEvent, onState }) {
    super({ onState });
    this.path = path;
    this.onEvent = onEvent;
    this.lastSeq = 0;
    addEventListener("online", () => this.kick());
  }

  url() {
    return wsUrl(this.path, `?after=${this.lastSeq}`);
  }

  receive(message) {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    if (event.seq !== null && event.seq !== undefined) {
      if (event.seq <= this.lastSeq) return;
      this.lastSeq = event.seq;
    }
    this.onEvent(event);
  }
}

export class FramesSocket extends Reconnecting {
  constructor(path, { onFrame, onState, onMessage = () => {} }) {
    super({ onState });
    this.path = path;
    this.onFrame = onFrame;
    this.onMessage = onMessage;
  }

  // Up the same socket: the input events of the viewer holding control. Dropped while disconnected.
  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  url() {
    return wsUrl(this.path);
  }

  configure(ws) {
    ws.binaryType = "blob";
  }

  receive(message) {
    if (message.data instanceof Blob) {
      this.onFrame(message.data);
      return;
    }
    try {
      this.onMessage(JSON.parse(message.data)); // who holds control; input refused
    } catch {
      // not ours
    }
  }
}
