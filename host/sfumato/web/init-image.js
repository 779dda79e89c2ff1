// The init image: the file as sent, its adjustments (sent for the server to apply, and
// previewed here the same way), and outpainting's larger canvas.

export const ADJUSTMENT_KINDS = {
  blur: { label: "Blur", fields: [["sigma", "Sigma (px)", 0, 64, 0.5, 2]] },
  invert: { label: "Invert", fields: [] },
  levels: {
    label: "Levels",
    fields: [
      ["inputLow", "Input low", 0, 1, 0.01, 0],
      ["inputHigh", "Input high", 0, 1, 0.01, 1],
      ["outputLow", "Output low", 0, 1, 0.01, 0],
      ["outputHigh", "Output high", 0, 1, 0.01, 1],
    ],
  },
};

export function bytesToBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

export function base64ToBlob(base64, mime) {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return new Blob([bytes], { type: mime });
}

export async function loadInit(blob) {
  const bitmap = await createImageBitmap(blob, { imageOrientation: "from-image" });
  const base64 = bytesToBase64(new Uint8Array(await blob.arrayBuffer()));
  return { bitmap, base64, width: bitmap.width, height: bitmap.height };
}

// The init image padded by `pad` pixels on every side (edges stretched outwards, a
// neutral start for the engine), as a PNG blob; the original sits at (pad, pad).
export async function padded(init, pad) {
  const canvas = new OffscreenCanvas(init.width + 2 * pad, init.height + 2 * pad);
  const context = canvas.getContext("2d");
  context.drawImage(init.bitmap, 0, 0, canvas.width, canvas.height);
  context.filter = "blur(16px)";
  context.drawImage(canvas, 0, 0);
  context.filter = "none";
  context.drawImage(init.bitmap, pad, pad);
  return canvas.convertToBlob({ type: "image/png" });
}

// Draws the init image with its adjustments applied on `canvas`: what the engine will start from.
export function drawAdjusted(canvas, init, adjustments) {
  canvas.width = init.width;
  canvas.height = init.height;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(init.bitmap, 0, 0);
  for (const adjustment of adjustments) {
    const [kind, values] = Object.entries(adjustment)[0];
    if (kind === "blur" && values.sigma > 0) {
      const copy = new OffscreenCanvas(canvas.width, canvas.height);
      copy.getContext("2d").drawImage(canvas, 0, 0);
      context.filter = `blur(${values.sigma}px)`;
      context.drawImage(copy, 0, 0);
      context.filter = "none";
    } else if (kind === "invert" || kind === "levels") {
      const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
      const map = kind === "invert" ? (v) => 255 - v : levelsMap(values);
      const data = pixels.data;
      for (let i = 0; i < data.length; i += 4) {
        data[i] = map(data[i]);
        data[i + 1] = map(data[i + 1]);
        data[i + 2] = map(data[i + 2]);
      }
      context.putImageData(pixels, 0, 0);
    }
  }
}

function levelsMap({ inputLow = 0, inputHigh = 1, outputLow = 0, outputHigh = 1 }) {
  const span = Math.max(inputHigh - inputLow, 1e-6);
  return (value) => {
    const t = Math.min(1, Math.max(0, (value / 255 - inputLow) / span));
    return Math.round((outputLow + t * (outputHigh - outputLow)) * 255);
  };
}
