// COCO compressed RLE (the server's mask format, docs/protocol.md) decoded in the browser.
//
// A record is {"size": [H, W], "counts": string}: pycocotools' string of run lengths over the
// column-major pixels, starting with a run of zeros. decodeRle returns a Uint8Array of H * W bytes in
// row-major order (index y * W + x, the order of a canvas' ImageData), 1 inside the mask, 0 outside.

/** pycocotools' rleFrString: the counts string -> run lengths (numbers). */
export function runLengths(text) {
  const counts = [];
  let position = 0;
  while (position < text.length) {
    let value = 0;
    let shift = 0;
    let more = true;
    while (more) {
      const code = text.charCodeAt(position) - 48;
      if (code < 0 || code > 63) throw new Error("RLE counts hold a character outside '0'..'o'");
      value |= (code & 0x1f) << shift;
      more = (code & 0x20) !== 0;
      position += 1;
      shift += 5;
      if (!more && (code & 0x10) !== 0) value |= -1 << shift;
      if (more && position >= text.length) throw new Error("RLE counts end in the middle of a number");
    }
    if (counts.length > 2) value += counts[counts.length - 2];
    counts.push(value);
  }
  return counts;
}

/** {"size": [H, W], "counts": string} -> {width, height, bits: Uint8Array(H * W) row-major, area}. */
export function decodeRle(rle) {
  const [height, width] = rle.size;
  const bits = new Uint8Array(height * width);
  const counts = runLengths(rle.counts);
  let index = 0; // column-major: pixel (x, y) is index x * H + y
  let area = 0;
  counts.forEach((run, i) => {
    if (i % 2 === 1) {
      fillColumnMajor(bits, index, run, width, height);
      area += run;
    }
    index += run;
  });
  if (index !== height * width) throw new Error(`RLE covers ${index} pixels; its size says ${height * width}`);
  return { width, height, bits, area };
}

function fillColumnMajor(bits, start, length, width, height) {
  let k = start;
  let left = length;
  while (left > 0) {
    const x = Math.floor(k / height);
    const y0 = k % height;
    const n = Math.min(left, height - y0);
    for (let y = y0; y < y0 + n; y += 1) bits[y * width + x] = 1;
    k += n;
    left -= n;
  }
}
