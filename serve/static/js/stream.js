// One WebSocket session on /v1/stream (docs/protocol.md): opened on demand, reopened on the next action
// after it closed, with replies matched to what asked for them.
//
// request(message) waits for the mask or error carrying the message's id (point, box); ask(message,
// type) waits for the next reply of that type or an error in reply to the message's type (image,
// track); everything else (frame, track masks, lost tracks) goes to onMessage. A closed socket fails
// every waiting reply with StreamClosed and calls onClose once.

export class StreamClosed extends Error {}

const RETRY_AFTER_MS = 1000; // a failed connection is not retried on every mouse move

export class Stream {
  constructor(url, { onMessage, onClose }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onClose = onClose;
    this.socket = null;
    this.opening = null;
    this.waiting = new Map(); // id -> {resolve, reject, timer}
    this.asks = new Map(); // reply type -> {resolve, reject, timer, about}
    this.framesSent = 0; // the server's frame_id of the next binary message (counted per session)
    this.failedAt = -Infinity;
    this.lastFailure = null;
    this.sessions = 0;
  }

  get isOpen() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  /** Resolves true once a new session is ready, false when one already was; rejects if it cannot connect. */
  async ensure() {
    if (this.isOpen) return false;
    if (this.opening) return this.opening;
    if (performance.now() - this.failedAt < RETRY_AFTER_MS) throw this.lastFailure;
    this.opening = this.connect().finally(() => {
      this.opening = null;
    });
    return this.opening;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url);
      socket.binaryType = "arraybuffer";
      let ready = false;
      socket.onmessage = (event) => {
        const message = JSON.parse(event.data);
        if (!ready && message.type === "ready") {
          ready = true;
          this.socket = socket;
          this.framesSent = 0;
          this.sessions += 1;
          this.ready = message;
          resolve(true);
          return;
        }
        this.dispatch(message);
      };
      socket.onclose = (event) => {
        if (!ready) {
          this.failedAt = performance.now();
          this.lastFailure = new StreamClosed(`cannot open the stream ${this.url} (closed with code ${event.code})`);
          reject(this.lastFailure);
          return;
        }
        if (this.socket === socket) this.closed(event.code, event.reason);
      };
    });
  }

  closed(code, reason) {
    this.socket = null;
    const error = new StreamClosed(`the connection to the server closed (code ${code}${reason ? `: ${reason}` : ""})`);
    for (const entry of [...this.waiting.values(), ...this.asks.values()]) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
    this.waiting.clear();
    this.asks.clear();
    this.onClose(error);
  }

  dispatch(message) {
    const id = message.id;
    if (id !== undefined && this.waiting.has(id) && (message.type === "mask" || message.type === "error")) {
      this.settle(this.waiting, id, message);
      return;
    }
    if (this.asks.has(message.type)) {
      this.settle(this.asks, message.type, message);
      return;
    }
    if (message.type === "error" && message.in_reply_to) {
      for (const [type, entry] of this.asks) {
        if (entry.about === message.in_reply_to) {
          this.settle(this.asks, type, message);
          return;
        }
      }
    }
    this.onMessage(message);
  }

  settle(table, key, message) {
    const entry = table.get(key);
    table.delete(key);
    clearTimeout(entry.timer);
    entry.resolve(message);
  }

  send(message) {
    if (!this.isOpen) throw new StreamClosed("the connection to the server is closed");
    this.socket.send(JSON.stringify(message));
  }

  /** A binary video frame; returns the frame_id the server gives it. */
  sendFrame(blob) {
    if (!this.isOpen) throw new StreamClosed("the connection to the server is closed");
    this.socket.send(blob);
    const frameId = this.framesSent;
    this.framesSent += 1;
    return frameId;
  }

  /** Send a message with an id; resolves with the mask or error that carries the id. */
  request(message, timeoutMs = 60000) {
    return this.waitFor(this.waiting, message.id, message, timeoutMs, undefined);
  }

  /** Send a message; resolves with the next reply of ``replyType`` or an error in reply to it. */
  ask(message, replyType, timeoutMs = 15000) {
    return this.waitFor(this.asks, replyType, message, timeoutMs, message.type);
  }

  waitFor(table, key, message, timeoutMs, about) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        table.delete(key);
        resolve({ type: "error", error: `no reply to ${message.type} within ${timeoutMs} ms`, timeout: true });
      }, timeoutMs);
      table.set(key, { resolve, reject, timer, about });
      try {
        this.send(message);
      } catch (error) {
        table.delete(key);
        clearTimeout(timer);
        reject(error);
      }
    });
  }
}

/** Latest wins: at most one job runs; a job offered meanwhile replaces the waiting one, and runs next. */
export class LatestWins {
  constructor(run) {
    this.run = run;
    this.pending = null;
    this.busy = false;
    this.replaced = 0; // jobs replaced before they ran
  }

  offer(job) {
    if (this.pending !== null) this.replaced += 1;
    this.pending = job;
    this.pump();
  }

  clear() {
    this.pending = null;
  }

  async pump() {
    if (this.busy || this.pending === null) return;
    const job = this.pending;
    this.pending = null;
    this.busy = true;
    try {
      await this.run(job);
    } finally {
      this.busy = false;
      this.pump();
    }
  }
}
