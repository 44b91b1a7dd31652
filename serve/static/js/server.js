// The service's HTTP routes (docs/protocol.md) from the page: JSON in and out, one error type.
//
// Every failure is a ServerError whose message is one line for the page's message element: the
// server's own {"error"} line with its status, or what kept the request from reaching the server.

export class ServerError extends Error {
  /** status: the HTTP status, or 0 when the server could not be reached. */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, path, body, contentType) {
  let response;
  try {
    const headers = contentType ? { "Content-Type": contentType } : {};
    response = await fetch(path, { method, body, headers });
  } catch (error) {
    throw new ServerError(0, `the server cannot be reached (${error.message}); is sam-edge serve running?`);
  }
  const text = await response.text();
  let value = null;
  try {
    value = JSON.parse(text);
  } catch {
    value = null;
  }
  if (!response.ok) {
    const line = value && typeof value.error === "string" ? value.error : `HTTP ${response.status}`;
    throw new ServerError(response.status, line);
  }
  return value;
}

/** GET /v1/info: model, engines, limits. */
export function info() {
  return call("GET", "/v1/info");
}

/** POST /v1/images with a File or Blob: {image_id, width, height, encode_ms, cached}. */
export function uploadImage(blob) {
  return call("POST", "/v1/images", blob, "application/octet-stream");
}

/** POST /v1/images/{id}/predict: body {points, labels, box, multimask} -> {masks, decode_ms}. */
export function predict(imageId, body) {
  return call("POST", `/v1/images/${encodeURIComponent(imageId)}/predict`, JSON.stringify(body), "application/json");
}

/** POST /v1/images/{id}/everything: settings -> {records, counts, generate_ms}. */
export function everything(imageId, settings) {
  return call("POST", `/v1/images/${encodeURIComponent(imageId)}/everything`, JSON.stringify(settings), "application/json");
}
