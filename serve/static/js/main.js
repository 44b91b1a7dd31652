// The browser demo of sam-edge serve (docs/demo.md): wiring of the page's controls to its parts.
//
// state holds what the page shows: the image (or the webcam), the prompts in image pixels, the
// current mask and the everything records. Prompting (hover, clicks, box) is in prompting.js, the
// webcam in webcam.js, the stream session in stream.js. Messages for the person go to #message.

import { downloadJson, downloadMaskPng } from "./downloads.js";
import { attachGestures } from "./gestures.js";
import { toggleEverything } from "./everything.js";
import { Layers } from "./layers.js";
import { Prompting } from "./prompting.js";
import { decodeRle } from "./rle.js";
import * as server from "./server.js";
import { createStats, record, renderStatus } from "./stats.js";
import { Stream, StreamClosed } from "./stream.js";
import { Webcam } from "./webcam.js";

const $ = (selector) => document.querySelector(selector);
const PLACEHOLDER = [640, 480]; // the empty stage's size, in pixels of no image

const stats = createStats();
const layers = new Layers($("#stage"));
const state = {
  info: null,
  image: null, // {id, width, height, name, blob, bitmap, generation}
  mode: "image", // "image" | "webcam"
  points: [],
  labels: [],
  box: null,
  mask: null, // {source, prompt, record: {rle, score, bbox, area}, width, height, bits}
  everything: null, // {records, settings, counts, generate_ms}
  generation: 0, // bumped at each image opened: replies for an older image are not drawn
  roundTripMs: null,
  encodeCached: false, // the last image opened was already kept by the server (no encode)
};

const page = {
  state,
  stats,
  layers,
  showMessage,
  clearMessage,
  showFailure,
  render,
  showMask,
  reupload,
};
window.samEdge = page;

page.stream = new Stream(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/stream`, {
  onMessage,
  onClose,
});
page.webcam = new Webcam(page.stream, { onShown: showFrame });
page.prompting = new Prompting(page);

function showMessage(text, kind = "error") {
  const element = $("#message");
  element.textContent = text;
  element.dataset.kind = kind;
  element.hidden = false;
}

function clearMessage() {
  const element = $("#message");
  element.hidden = true;
  element.textContent = "";
}

function showFailure(error) {
  if (error instanceof StreamClosed) showMessage(`${error.message}; the page reconnects on your next action`);
  else showMessage(error.message || String(error));
}

function render() {
  renderStatus(stats, state);
  $("#download-png").disabled = state.mask === null;
  $("#download-json").disabled = state.image === null && state.mask === null;
  $("#everything").disabled = state.mode !== "image" || state.image === null;
  $("#everything").setAttribute("aria-pressed", String(state.everything !== null));
  $("#webcam").setAttribute("aria-pressed", String(state.mode === "webcam"));
  $("#stage").classList.toggle("empty", state.image === null && state.mode === "image");
}

/** Draw a mask of the server ({rle, score, bbox, area, decode_ms}); returns the time it was drawn. */
function showMask(reply, source, prompt) {
  const mask = decodeRle(reply.rle);
  layers.drawMask(mask.bits);
  const kept = { rle: reply.rle, score: reply.score, bbox: reply.bbox, area: reply.area };
  state.mask = { source, prompt, record: kept, ...mask };
  if (reply.decode_ms !== undefined) record(stats.decodeMs, reply.decode_ms);
  clearMessage();
  render();
  return performance.now();
}

// Images

async function openImage(file, name) {
  if (!file || !file.type || !file.type.startsWith("image/")) {
    const kind = file && file.type ? file.type : "unknown type";
    showMessage(`${name} is not an image (${kind}): open a PNG, JPEG or WebP file`);
    return;
  }
  const opened = performance.now();
  const generation = ++state.generation;
  $("#busy").textContent = `encoding ${name}…`;
  let bitmap;
  let uploaded;
  try {
    [bitmap, uploaded] = await Promise.all([createImageBitmap(file).catch(() => null), server.uploadImage(file)]);
  } catch (error) {
    if (generation === state.generation) showMessage(`${name}: ${error.message}`);
    return;
  } finally {
    if (generation === state.generation) $("#busy").textContent = "";
  }
  if (generation !== state.generation) return; // a newer image was opened meanwhile
  if (!bitmap) {
    showMessage(`${name}: the server read it, but this browser cannot decode it for display`);
    return;
  }
  stopWebcam();
  const { image_id: id, width, height } = uploaded;
  state.image = { id, width, height, name, blob: file, bitmap, generation };
  page.prompting.reset();
  state.everything = null;
  layers.drawImage(bitmap, width, height);
  layers.drawEverything([]);
  if (!uploaded.cached) record(stats.encodeMs, uploaded.encode_ms);
  state.encodeCached = uploaded.cached;
  clearMessage();
  render();
  await page.prompting.imageOpened({ opened_t: opened, uploaded_t: performance.now(), encode_ms: uploaded.encode_ms });
}

/** Upload the current image again (a restarted server has forgotten it); returns its image_id. */
async function reupload() {
  const uploaded = await server.uploadImage(state.image.blob);
  state.image.id = uploaded.image_id;
  return uploaded.image_id;
}

async function openSample(name) {
  let blob;
  try {
    const response = await fetch(`/static/samples/${name}`);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    blob = await response.blob();
  } catch (error) {
    showMessage(`cannot fetch the sample ${name} (${error.message}); is sam-edge serve running?`);
    return;
  }
  await openImage(new File([blob], name, { type: blob.type || "image/jpeg" }), name);
}

// Webcam

async function toggleWebcam() {
  if (page.webcam.running) {
    stopWebcam();
    return;
  }
  try {
    await page.stream.ensure();
    await page.webcam.start();
  } catch (error) {
    page.webcam.stop();
    showFailure(error);
    return;
  }
  state.mode = "webcam";
  page.prompting.reset();
  state.everything = null;
  layers.resize(page.webcam.width, page.webcam.height);
  clearMessage();
  render();
}

function stopWebcam() {
  if (!page.webcam.running) return;
  page.webcam.stop();
  state.mode = "image";
  if (page.stream.isOpen) page.stream.send({ type: "track", on: false });
  page.prompting.reset();
  if (state.image) layers.drawImage(state.image.bitmap, state.image.width, state.image.height);
  else layers.resize(...PLACEHOLDER);
  render();
}

function showFrame(canvas, message) {
  if (state.mode !== "webcam") return;
  layers.drawImage(canvas, canvas.width, canvas.height);
  record(stats.encodeMs, message.encode_ms);
  state.encodeCached = false;
  stats.frames.encoded += 1;
  render();
}

// The stream's unsolicited messages

function onMessage(message) {
  const webcam = page.webcam;
  if (message.frame_id !== undefined && (message.type === "frame" || message.type === "error")) {
    webcam.onFrameAnswer(message);
    stats.frames.sent = webcam.sent;
    stats.frames.skipped = webcam.skipped;
    stats.frames.serverDropped = webcam.serverDropped;
    if (message.type === "error") showMessage(message.error);
    render();
  } else if (message.type === "mask" && message.source === "track") {
    if (state.mode !== "webcam") return;
    stats.frames.trackMasks += 1;
    const drawn = showMask(message, "track", { frame_id: message.frame_id });
    const sentAt = webcam.sentAt.get(message.frame_id);
    if (sentAt !== undefined) state.roundTripMs = drawn - sentAt;
    render();
  } else if (message.type === "track" && message.lost) {
    showMessage("the tracked object was lost: click it again", "info");
  } else if (message.type === "error") {
    showMessage(message.error);
  }
}

function onClose(error) {
  page.webcam.reset();
  page.prompting.streamClosed();
  showFailure(error);
}

// Controls

function setUp() {
  layers.resize(...PLACEHOLDER);
  attachGestures(layers, page.prompting.handlers());
  const input = $("#file");
  input.addEventListener("change", () => {
    const file = input.files[0];
    input.value = "";
    if (file) openImage(file, file.name);
  });
  document.querySelectorAll("[data-sample]").forEach((button) => {
    button.addEventListener("click", () => openSample(button.dataset.sample));
  });
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) openImage(file, file.name);
    else showMessage("drop a file: a PNG, JPEG or WebP image");
  });
  $("#clear").addEventListener("click", () => page.prompting.clear());
  $("#everything").addEventListener("click", () => toggleEverything(page));
  $("#webcam").addEventListener("click", toggleWebcam);
  $("#download-png").addEventListener("click", () => state.mask && downloadMaskPng(state.mask, "mask.png"));
  $("#download-json").addEventListener("click", () => downloadJson(state, "sam-edge-session.json"));
  document.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement) return;
    if (event.key === "Escape") page.prompting.clear();
    else if (event.key === "e" || event.key === "E") toggleEverything(page);
    else if (event.key === "z" || event.key === "Z") page.prompting.undo();
  });
  render();
  server
    .info()
    .then((info) => {
      state.info = info;
      if (info.model.type !== "nano") $("#points-per-side").value = "32"; // the official default grid
      $("#model").textContent = `${info.model.id} · ${info.engines.encoder} encoder · ${info.threads.decoder} decoder threads`;
    })
    .catch(showFailure);
}

setUp();
