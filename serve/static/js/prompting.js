// Prompts from the mouse, in image pixels: hover (the stream), clicks and boxes (HTTP predict), and on
// the webcam a click or box that starts tracking (the stream).
//
// Hover: while no point or box is placed, the mouse position is sent as a stream point message; at
// most one is in flight and the newest position waits for its reply (latest wins: LatestWins).
// The reply is the top-scored of SAM's three masks. Clicks and boxes: the prompts so far go to
// POST /v1/images/{id}/predict (multimask for a single point, SAM's advice; then the top-scored
// mask), again one request in flight. Clear (or Escape) removes the prompts and hover resumes.

import { record } from "./stats.js";
import * as server from "./server.js";
import { ServerError } from "./server.js";
import { LatestWins } from "./stream.js";

export class Prompting {
  constructor(page) {
    this.page = page;
    this.state = page.state;
    this.stream = page.stream;
    this.hover = new LatestWins((job) => this.sendHover(job));
    this.predictions = new LatestWins((job) => this.sendPredict(job));
    this.ids = 0;
    this.selected = null; // "session:image_id" the stream session has as its current image
    this.selecting = null; // the selection under way, shared by whoever needs it
    this.pointer = null; // the last mouse event's client coordinates over the stage
    this.firstMask = null; // {opened_t, uploaded_t, selected_t, encode_ms} until a new image's first mask is drawn
  }

  handlers() {
    return {
      onHover: (point, t, event) => this.onHover(point, t, event),
      onClick: (point, label) => this.onClick(point, label),
      onDrag: (box) => this.page.layers.drawPrompts(this.state.points, this.state.labels, box),
      onBox: (box) => this.onBox(box),
      onLeave: () => {
        this.pointer = null;
      },
    };
  }

  hasPrompts() {
    return this.state.points.length > 0 || this.state.box !== null;
  }

  reset() {
    this.state.points = [];
    this.state.labels = [];
    this.state.box = null;
    this.state.mask = null;
    this.hover.clear();
    this.predictions.clear();
    this.page.layers.drawMask(null);
    this.page.layers.drawPrompts([], [], null);
  }

  clear() {
    const tracking = this.state.mode === "webcam";
    this.reset();
    if (tracking && this.stream.isOpen) this.stream.send({ type: "track", on: false });
    this.page.render();
  }

  undo() {
    if (this.state.box !== null) this.state.box = null;
    else if (this.state.points.length > 0) {
      this.state.points.pop();
      this.state.labels.pop();
    }
    if (this.hasPrompts()) this.promptsChanged();
    else this.clear();
  }

  streamClosed() {
    this.selected = null;
  }

  /** A new image is shown: select it on the stream and, with the mouse over it, hover there at once. */
  async imageOpened(firstMask) {
    this.firstMask = firstMask;
    try {
      await this.ensureSelected();
      firstMask.selected_t = performance.now();
    } catch (error) {
      this.firstMask = null;
      this.page.showFailure(error);
      return;
    }
    const point = this.pointer && this.page.layers.pointAt(this.pointer);
    if (point) this.hover.offer({ point, t: performance.now(), generation: this.state.generation, opened: true });
    else this.firstMask = null; // no pointer over the image: a later hover is not the image's first mask
  }

  /** The stream session is open and its current image is this page's image (re-uploaded if the server forgot it). */
  ensureSelected() {
    if (!this.selecting) {
      this.selecting = this.select().finally(() => {
        this.selecting = null;
      });
    }
    return this.selecting;
  }

  async select() {
    await this.stream.ensure();
    // A loop: another image may be opened while one is being selected.
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const image = this.state.image;
      if (this.state.mode !== "image" || image === null) return;
      if (this.selected === `${this.stream.sessions}:${image.id}`) return;
      let reply = await this.stream.ask({ type: "image", image_id: image.id }, "image");
      if (reply.type === "error" && reply.error.startsWith("unknown image_id")) {
        await this.page.reupload();
        reply = await this.stream.ask({ type: "image", image_id: image.id }, "image");
      }
      if (reply.type === "error") throw new Error(reply.error);
      this.selected = `${this.stream.sessions}:${reply.image_id}`;
    }
  }

  /** fn(image_id) over HTTP; on a 404 (a restarted server forgot the image) upload it again and retry once. */
  async withImage(fn) {
    try {
      return await fn(this.state.image.id);
    } catch (error) {
      if (!(error instanceof ServerError) || error.status !== 404) throw error;
      return fn(await this.page.reupload());
    }
  }

  // Hover

  onHover(point, t, event) {
    this.pointer = { clientX: event.clientX, clientY: event.clientY };
    if (this.state.mode !== "image" || this.state.image === null || this.hasPrompts()) return;
    this.hover.offer({ point, t, generation: this.state.generation, opened: false });
  }

  async sendHover(job) {
    try {
      await this.ensureSelected();
      this.ids += 1;
      const id = `hover-${this.ids}`;
      const sent = performance.now();
      const reply = await this.stream.request({ type: "point", x: job.point.x, y: job.point.y, label: 1, id });
      if (reply.type === "error") {
        if (!reply.timeout) this.page.showMessage(reply.error);
        return;
      }
      if (job.generation !== this.state.generation || this.hasPrompts() || this.state.mode !== "image") return;
      const drawn = this.page.showMask(reply, "hover", { points: [[job.point.x, job.point.y]], labels: [1] });
      this.state.roundTripMs = drawn - job.t;
      const sample = { move_t: job.t, sent_t: sent, drawn_t: drawn, round_trip_ms: drawn - job.t };
      Object.assign(sample, { decode_ms: reply.decode_ms, latency_ms: reply.latency_ms });
      if (!job.opened) record(this.page.stats.hover, sample);
      this.noteFirstMask(drawn, reply);
      this.page.render();
    } catch (error) {
      this.page.showFailure(error);
    }
  }

  noteFirstMask(drawn, reply) {
    if (this.firstMask === null) return;
    const { opened_t, uploaded_t, selected_t, encode_ms } = this.firstMask;
    this.firstMask = null;
    const steps = { upload_ms: uploaded_t - opened_t, select_ms: selected_t - uploaded_t, decode_ms: reply.decode_ms };
    record(this.page.stats.firstMask, { opened_t, drawn_t: drawn, ms: drawn - opened_t, encode_ms, ...steps });
  }

  // Clicks and boxes

  onClick(point, label) {
    if (this.state.mode === "webcam") {
      this.track({ point });
      return;
    }
    if (this.state.image === null) return;
    this.state.points.push([point.x, point.y]);
    this.state.labels.push(label);
    this.promptsChanged();
  }

  onBox(box) {
    if (this.state.mode === "webcam") {
      this.track({ box });
      return;
    }
    if (this.state.image === null) return;
    this.state.box = box;
    this.promptsChanged();
  }

  predictBody() {
    const { points, labels, box } = this.state;
    const body = { multimask: points.length === 1 && box === null };
    if (points.length > 0) Object.assign(body, { points: points.map((p) => [...p]), labels: [...labels] });
    if (box !== null) body.box = [...box];
    return body;
  }

  promptsChanged() {
    this.hover.clear();
    this.page.layers.drawPrompts(this.state.points, this.state.labels, this.state.box);
    this.predictions.offer({ body: this.predictBody(), generation: this.state.generation, t: performance.now() });
  }

  async sendPredict(job) {
    try {
      const reply = await this.withImage((id) => server.predict(id, job.body));
      if (job.generation !== this.state.generation || !this.hasPrompts()) return;
      const best = reply.masks.reduce((a, b) => (b.score > a.score ? b : a));
      const drawn = this.page.showMask({ ...best, decode_ms: reply.decode_ms }, job.body.box ? "box" : "click", job.body);
      this.state.roundTripMs = drawn - job.t;
      this.page.render();
    } catch (error) {
      this.page.showFailure(error);
    }
  }

  // Tracking on the webcam

  async track({ point, box }) {
    try {
      await this.stream.ensure();
      const on = await this.stream.ask({ type: "track", on: true }, "track");
      if (on.type === "error") throw new Error(on.error);
      this.ids += 1;
      const id = `track-${this.ids}`;
      const message = box ? { type: "box", box, id } : { type: "point", x: point.x, y: point.y, label: 1, id };
      const sent = performance.now();
      const reply = await this.stream.request(message);
      if (reply.type === "error") throw new Error(reply.error);
      if (this.state.mode !== "webcam") return;
      const drawn = this.page.showMask(reply, "track", box ? { box } : { points: [[point.x, point.y]], labels: [1] });
      this.state.roundTripMs = drawn - sent;
      this.page.render();
    } catch (error) {
      this.page.showFailure(error);
    }
  }
}
