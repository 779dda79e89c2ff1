// The mask painter: a canvas the size of the init image, black = keep, white = regenerate.
// It is shown over the image with `mix-blend-mode: screen`, so black is invisible and
// painted areas glow; the same pixels are what the server receives.

export class MaskPainter {
  constructor(canvas) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d", { willReadFrequently: true });
    this.brushSize = 32;
    this.erasing = false;
    this.painted = false;
    this.stroke = null;
    canvas.addEventListener("pointerdown", (event) => this.#down(event));
    canvas.addEventListener("pointermove", (event) => this.#move(event));
    for (const name of ["pointerup", "pointercancel", "lostpointercapture"]) {
      canvas.addEventListener(name, () => (this.stroke = null));
    }
  }

  reset(width, height) {
    this.canvas.width = width;
    this.canvas.height = height;
    this.clear();
  }

  clear() {
    this.#fill("#000");
    this.painted = false;
    this.#changed();
  }

  fillAll() {
    this.#fill("#fff");
    this.painted = true;
    this.#changed();
  }

  invert() {
    const { width, height } = this.canvas;
    const pixels = this.context.getImageData(0, 0, width, height);
    const data = pixels.data;
    for (let i = 0; i < data.length; i += 4) {
      data[i] = data[i + 1] = data[i + 2] = 255 - data[i];
      data[i + 3] = 255;
    }
    this.context.putImageData(pixels, 0, 0);
    this.painted = true;
    this.#changed();
  }

  // Paints the frame outside the rectangle white (the area to generate when outpainting).
  outpaintFrame(left, top, width, height) {
    this.#fill("#fff");
    this.context.fillStyle = "#000";
    this.context.fillRect(left, top, width, height);
    this.painted = true;
    this.#changed();
  }

  // The mask as a PNG (base64 without the data: prefix), or null when nothing was painted.
  toBase64() {
    return this.painted ? this.canvas.toDataURL("image/png").split(",", 2)[1] : null;
  }

  #fill(colour) {
    this.context.globalCompositeOperation = "source-over";
    this.context.fillStyle = colour;
    this.context.fillRect(0, 0, this.canvas.width, this.canvas.height);
  }

  #point(event) {
    const box = this.canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) * this.canvas.width) / box.width,
      y: ((event.clientY - box.top) * this.canvas.height) / box.height,
    };
  }

  #down(event) {
    if (event.button !== 0) return;
    this.canvas.setPointerCapture(event.pointerId);
    this.stroke = this.#point(event);
    this.#dab(this.stroke, this.stroke);
  }

  #move(event) {
    if (!this.stroke) return;
    const next = this.#point(event);
    this.#dab(this.stroke, next);
    this.stroke = next;
  }

  #dab(from, to) {
    const context = this.context;
    const colour = this.erasing ? "#000" : "#fff";
    context.globalCompositeOperation = "source-over";
    // A click or tap is a zero-length segment, which canvas prunes before stroking
    // (newer Chromium follows the spec here): the brush's disc is filled on its own.
    context.fillStyle = colour;
    context.beginPath();
    context.arc(to.x, to.y, this.brushSize / 2, 0, 2 * Math.PI);
    context.fill();
    if (from.x !== to.x || from.y !== to.y) {
      context.strokeStyle = colour;
      context.lineWidth = this.brushSize;
      context.lineCap = "round";
      context.beginPath();
      context.moveTo(from.x, from.y);
      context.lineTo(to.x, to.y);
      context.stroke();
    }
    if (!this.erasing) this.painted = true;
    this.#changed();
  }

  #changed() {
    this.canvas.dispatchEvent(new CustomEvent("maskchange"));
  }
}
