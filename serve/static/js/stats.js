// Timing samples, kept on window.samEdgeStats for benchmarks (bench/browser_bench.py) and shown in the
// status line. Times are performance.now() milliseconds of this page.
//
//   hover:      one per hover mask drawn: {move_t, sent_t, drawn_t, round_trip_ms, decode_ms, latency_ms}
//               round trip = drawn_t - move_t, move_t the mouse move whose position the mask answers
//   firstMask:  one per image opened with the pointer over the stage: {opened_t, drawn_t, ms, encode_ms,
//               upload_ms (file chosen to upload answered: decode, hash and encode on the server),
//               select_ms (the stream's image message answered), decode_ms (the first mask's)}
//   encodeMs, decodeMs: every encode (uploads and webcam frames) and decode the server reported
//   frames:     {sent, encoded, skipped, serverDropped, trackMasks}

export function createStats() {
  const stats = {
    hover: [],
    firstMask: [],
    encodeMs: [],
    decodeMs: [],
    everything: [],
    frames: { sent: 0, encoded: 0, skipped: 0, serverDropped: 0, trackMasks: 0 },
    reset() {
      stats.hover.length = 0;
      stats.firstMask.length = 0;
      stats.encodeMs.length = 0;
      stats.decodeMs.length = 0;
      stats.everything.length = 0;
    },
  };
  window.samEdgeStats = stats;
  return stats;
}

const MAX_SAMPLES = 10000; // a long session must not grow the page without bound

export function record(list, value) {
  if (list.length >= MAX_SAMPLES) list.shift();
  list.push(value);
}

/** Fill the status line: the last encode ("cached" for an image the server kept), decode, round trip, drops. */
export function renderStatus(stats, state) {
  const last = (list) => (list.length ? list[list.length - 1] : null);
  const text = (value) => (value === null || value === undefined ? "–" : `${value.toFixed(1)} ms`);
  document.querySelector("#stat-encode").textContent = state.encodeCached ? "cached" : text(last(stats.encodeMs));
  document.querySelector("#stat-decode").textContent = text(last(stats.decodeMs));
  document.querySelector("#stat-rtt").textContent = text(state.roundTripMs);
  const frames = stats.frames;
  document.querySelector("#stat-dropped").textContent = String(frames.skipped + frames.serverDropped);
}
