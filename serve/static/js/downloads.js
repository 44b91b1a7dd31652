// Downloads: the current mask as a PNG (white inside, black outside, the image's size) and the
// session's prompts and masks as JSON (the server's records: COCO RLE, score, bbox, area).

function save(blob, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

/** mask: {width, height, bits} (rle.js). Resolves once the download has been handed to the browser. */
export function downloadMaskPng(mask, name) {
  const canvas = document.createElement("canvas");
  canvas.width = mask.width;
  canvas.height = mask.height;
  const context = canvas.getContext("2d");
  const pixels = context.createImageData(mask.width, mask.height);
  for (let i = 0; i < mask.bits.length; i += 1) {
    const value = mask.bits[i] ? 255 : 0;
    pixels.data.set([value, value, value, 255], 4 * i);
  }
  context.putImageData(pixels, 0, 0);
  return new Promise((resolve) =>
    canvas.toBlob((blob) => {
      save(blob, name);
      resolve();
    }, "image/png"),
  );
}

/** The JSON record of the session: image, prompts, current mask and everything records. */
export function sessionRecord(state) {
  const image = state.image
    ? { image_id: state.image.id, width: state.image.width, height: state.image.height, name: state.image.name }
    : null;
  const mask = state.mask ? { source: state.mask.source, prompt: state.mask.prompt, ...state.mask.record } : null;
  return {
    format: "sam-edge browser demo session",
    image,
    prompts: { points: state.points, labels: state.labels, box: state.box },
    mask,
    everything: state.everything ? state.everything.records : null,
  };
}

export function downloadJson(state, name) {
  const text = JSON.stringify(sessionRecord(state), null, 2);
  save(new Blob([text], { type: "application/json" }), name);
}
