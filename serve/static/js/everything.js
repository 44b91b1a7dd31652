// "Everything": the automatic masks of the current image (POST /v1/images/{id}/everything), each drawn
// in its own colour on the everything layer. Records are painted largest area first (ties in the
// server's order), so smaller masks stay visible on top; the colour of the k-th painted is regionColour(k).

import { regionColour } from "./layers.js";
import { decodeRle } from "./rle.js";
import * as server from "./server.js";
import { record } from "./stats.js";

const $ = (selector) => document.querySelector(selector);

/** The generator settings sent: the grid from #points-per-side (1..32); thresholds by model. */
export function everythingSettings(info) {
  const input = $("#points-per-side");
  const side = Math.min(32, Math.max(1, Math.round(Number(input.value) || 16)));
  input.value = String(side);
  // The bundled nano never predicts an IoU above ~0.45 (docs/everything.md): the official thresholds keep nothing.
  const nano = info && info.model && info.model.type === "nano";
  return nano ? { points_per_side: side, pred_iou_thresh: 0.2, stability_score_thresh: 0.5 } : { points_per_side: side };
}

/** Indices of the records in drawing order: largest area first, ties in the server's order. */
export function drawingOrder(records) {
  return records.map((_, i) => i).sort((a, b) => records[b].area - records[a].area || a - b);
}

/** Show the everything masks of the current image, or hide them when shown. */
export async function toggleEverything(page) {
  const { state, layers } = page;
  if (state.everything !== null) {
    state.everything = null;
    layers.drawEverything([]);
    page.render();
    return;
  }
  if (state.mode !== "image" || state.image === null) {
    page.showMessage("open an image first: everything runs on an image, not on the webcam");
    return;
  }
  const generation = state.generation;
  const settings = everythingSettings(state.info);
  const busy = $("#busy");
  busy.textContent = "segmenting everything…";
  try {
    const reply = await page.prompting.withImage((id) => server.everything(id, settings));
    if (generation !== state.generation) return;
    const order = drawingOrder(reply.records);
    const regions = order.map((index, rank) => ({
      bits: decodeRle(reply.records[index].segmentation).bits,
      colour: regionColour(rank),
    }));
    layers.drawEverything(regions);
    state.everything = { records: reply.records, settings, counts: reply.counts, generate_ms: reply.generate_ms, order };
    record(page.stats.everything, reply.generate_ms);
    if (reply.records.length === 0) {
      page.showMessage(`everything: no mask survived the filters (${JSON.stringify(reply.counts.removed)})`, "info");
    } else page.clearMessage();
    busy.textContent = `everything: ${reply.records.length} masks in ${reply.generate_ms.toFixed(0)} ms`;
  } catch (error) {
    page.showFailure(error);
    busy.textContent = "";
  }
  page.render();
}
