// The stage: four canvases stacked at the image's own resolution (W x H pixels), scaled together by CSS.
//
//   image-layer       the image, or the webcam frame whose mask is shown
//   everything-layer  every automatic mask in its own opaque colour, transparent elsewhere
//   mask-layer        the current mask, MASK_COLOUR where the mask is, transparent elsewhere
//   prompt-layer      points and the box being dragged or sent
//
// Masks are written with putImageData (no blending), so reading a layer's pixels back gives exactly
// the mask that was drawn; the translucency is the layers' CSS opacity. Coordinates are image pixels.

export const MASK_COLOUR = [30, 144, 255];

export class Layers {
  constructor(stage) {
    this.stage = stage;
    this.image = stage.querySelector("#image-layer");
    this.everything = stage.querySelector("#everything-layer");
    this.mask = stage.querySelector("#mask-layer");
    this.prompts = stage.querySelector("#prompt-layer");
    this.width = 0;
    this.height = 0;
  }

  /** Resize every layer to width x height and clear them. */
  resize(width, height) {
    this.width = width;
    this.height = height;
    for (const canvas of [this.image, this.everything, this.mask, this.prompts]) {
      canvas.width = width;
      canvas.height = height;
    }
  }

  /** Draw an ImageBitmap, canvas or video frame as the image (resizing the layers if its size differs). */
  drawImage(source, width, height) {
    if (width !== this.width || height !== this.height) this.resize(width, height);
    this.image.getContext("2d").drawImage(source, 0, 0, width, height);
  }

  /** Image pixels (x, y) of a mouse event over the stage, rounded to 0.1 px and clamped into the image. */
  imagePoint(event) {
    const rect = this.prompts.getBoundingClientRect();
    const x = ((event.clientX - rect.left) * this.width) / rect.width;
    const y = ((event.clientY - rect.top) * this.height) / rect.height;
    const clamp = (value, high) => Math.min(Math.max(Math.round(value * 10) / 10, 0), high);
    return { x: clamp(x, this.width), y: clamp(y, this.height) };
  }

  /** Image pixels under client coordinates {clientX, clientY}, or null when they lie outside the stage. */
  pointAt(client) {
    const rect = this.prompts.getBoundingClientRect();
    const inside = client.clientX >= rect.left && client.clientX <= rect.right;
    if (!inside || client.clientY < rect.top || client.clientY > rect.bottom) return null;
    return this.imagePoint(client);
  }

  /** bits: Uint8Array(H * W) row-major (rle.js), or null to clear. */
  drawMask(bits) {
    paint(this.mask, bits ? [{ bits, colour: MASK_COLOUR }] : []);
  }

  /** regions: [{bits, colour: [r, g, b]}], painted in order (a later one covers an earlier one). */
  drawEverything(regions) {
    paint(this.everything, regions);
  }

  /** points [[x, y]], labels [1|0], box [x0, y0, x1, y1] or null (image pixels). */
  drawPrompts(points, labels, box) {
    const context = this.prompts.getContext("2d");
    context.clearRect(0, 0, this.width, this.height);
    const scale = this.width / Math.max(1, this.prompts.getBoundingClientRect().width); // image px per CSS px
    context.lineWidth = 2 * scale;
    if (box) {
      context.strokeStyle = "#ffd400";
      context.strokeRect(box[0], box[1], box[2] - box[0], box[3] - box[1]);
    }
    points.forEach(([x, y], i) => {
      context.beginPath();
      context.arc(x, y, 6 * scale, 0, 2 * Math.PI);
      context.fillStyle = labels[i] === 1 ? "#2ecc40" : "#ff4136";
      context.fill();
      context.strokeStyle = "#ffffff";
      context.stroke();
    });
  }
}

function paint(canvas, regions) {
  const context = canvas.getContext("2d");
  const pixels = context.createImageData(canvas.width, canvas.height);
  const words = new Uint32Array(pixels.data.buffer);
  for (const { bits, colour } of regions) {
    const word = packRgba(colour);
    for (let i = 0; i < bits.length; i += 1) if (bits[i]) words[i] = word;
  }
  context.putImageData(pixels, 0, 0);
}

function packRgba([r, g, b]) {
  // ImageData is RGBA in memory; a Uint32Array view reads it in the platform's byte order.
  const bytes = new Uint8ClampedArray([r, g, b, 255]);
  return new Uint32Array(bytes.buffer)[0];
}

/** A distinct opaque colour for region i (golden-angle hues, two lightness bands): [r, g, b]. */
export function regionColour(i) {
  const hue = (i * 137.508) % 360;
  const lightness = i % 2 === 0 ? 0.55 : 0.4;
  return hslToRgb(hue, 0.75, lightness);
}

function hslToRgb(hue, saturation, lightness) {
  const chroma = (1 - Math.abs(2 * lightness - 1)) * saturation;
  const h = hue / 60;
  const x = chroma * (1 - Math.abs((h % 2) - 1));
  const [r, g, b] = h < 1 ? [chroma, x, 0] : h < 2 ? [x, chroma, 0] : h < 3 ? [0, chroma, x]
    : h < 4 ? [0, x, chroma] : h < 5 ? [x, 0, chroma] : [chroma, 0, x];
  const m = lightness - chroma / 2;
  return [r, g, b].map((value) => Math.round((value + m) * 255));
}
