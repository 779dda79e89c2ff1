// The playground: engine controls, the job's progress and previews, and the gallery.

import { ApiError, apiKey, followEvents, getJson, postJson, setApiKey } from "./api.js";
import { ADJUSTMENT_KINDS, base64ToBlob, bytesToBase64, drawAdjusted, loadInit, padded } from "./init-image.js";
import { MaskPainter } from "./mask.js";
import { asCurl, asJson, buildRequest, controlForMessage } from "./request.js";

const $ = (id) => document.getElementById(id);
const ENGINE_STORAGE = "sfumato.engine";
// ListEngines leaves out enum value 0: a sampler entry without a name is DDIM.
const UNNAMED_SAMPLER = "SAMPLER_DDIM";

const state = {
  engines: new Map(),
  init: null, // {bitmap, base64, width, height}
  adjustments: [], // [{kind, values}]
  lora: null, // {base64}
  job: null, // {handle, stop: AbortController}
  lastBuilt: null,
  appliedEngine: null,
};
const painter = new MaskPainter($("mask-canvas"));

// --- engines -----------------------------------------------------------------------------

async function loadEngines() {
  let listed;
  let report = { engines: [] };
  try {
    listed = await getJson("/grpcgateway/engines");
    report = await getJson("/plugins");
  } catch (error) {
    if (!listed) {
      showError(error);
      return;
    }
  }
  const details = new Map(report.engines.map((engine) => [engine.id, engine]));
  const select = $("engine");
  const previous = select.value || localStorage.getItem(ENGINE_STORAGE);
  state.engines.clear();
  select.replaceChildren();
  for (const engine of listed.engine || []) {
    const entry = {
      ...engine,
      samplers: (engine.supportedSamplers || []).map((s) => s.sampler || UNNAMED_SAMPLER),
      detail: details.get(engine.id) || {},
    };
    state.engines.set(engine.id, entry);
    const label = `${engine.name || engine.id}${engine.ready ? "" : " (loading)"}`;
    select.append(new Option(label, engine.id));
  }
  if (previous && state.engines.has(previous)) select.value = previous;
  applyEngine();
  if ([...state.engines.values()].some((engine) => !engine.ready)) setTimeout(loadEngines, 3000);
}

function currentEngine() {
  return state.engines.get($("engine").value);
}

function applyEngine() {
  const engine = currentEngine();
  if (!engine) return;
  // Defaults and the engine's own fields only when the engine changes: a refresh of the
  // list (while an engine loads) must not undo what the person typed.
  const fresh = state.appliedEngine !== engine.id;
  state.appliedEngine = engine.id;
  localStorage.setItem(ENGINE_STORAGE, engine.id);
  const detail = engine.detail;
  $("engine-description").textContent = engine.description || "";
  const uses = detail.uses ? new Set(detail.uses) : null;
  const supports = detail.supports || {};
  // Only the controls this engine honours: anything else would be refused (501).
  for (const element of document.querySelectorAll("[data-uses], [data-supports]")) {
    const unused = element.dataset.uses && uses !== null && !uses.has(element.dataset.uses);
    element.hidden = unused || supports[element.dataset.supports] === false;
  }
  // An upscaling engine takes the init image and a target size; it refuses text prompts,
  // and accepts seed, steps and cfg only for old clients' sake (they change nothing).
  const upscalers = detail.upscalers || [];
  $("upscaler-field").hidden = upscalers.length === 0;
  $("upscaler").replaceChildren(...upscalers.map((name) => new Option(name.replace(/^UPSCALER_/, ""), name)));
  for (const id of ["prompt", "negative", "steps", "cfg", "seed"]) {
    if (upscalers.length) document.querySelector(`[data-control="${id}"]`).hidden = true;
    else if (id === "prompt") document.querySelector(`[data-control="${id}"]`).hidden = false;
  }

  const sampler = $("sampler");
  const keep = sampler.value;
  sampler.replaceChildren(...engine.samplers.map((name) => new Option(samplerLabel(name), name)));
  sampler.value = engine.samplers.includes(keep) ? keep : detail.default_sampler || engine.samplers[0] || "";

  if (!fresh) return;
  const limits = detail.limits || {};
  const multiple = limits.size_multiple || 8;
  for (const [id, max, native] of [["width", limits.max_width, detail.native_width], ["height", limits.max_height, detail.native_height]]) {
    const input = $(id);
    input.step = multiple;
    input.min = multiple;
    if (max) input.max = max;
    if (!state.init && native) input.value = detail.upscalers?.length ? "" : native;
  }
  if (limits.max_steps) $("steps").max = limits.max_steps;
  if (limits.max_samples) $("samples").max = limits.max_samples;
  if (detail.default_steps) $("steps").value = detail.default_steps;
  buildExtensions(detail.extensions || []);
  refreshRequest();
}

function samplerLabel(name) {
  return name.replace(/^SAMPLER_/, "").replace(/^K_/, "").toLowerCase().replaceAll("_", " ");
}

function buildExtensions(extensions) {
  const box = $("extensions");
  box.querySelectorAll(".field").forEach((field) => field.remove());
  box.hidden = extensions.length === 0;
  for (const param of extensions) {
    const id = `ext-${param.name}`;
    const field = document.createElement("div");
    field.className = "field";
    field.dataset.control = id;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = param.name.replaceAll("_", " ");
    label.title = param.description;
    let input;
    if (param.choices.length) {
      input = document.createElement("select");
      input.append(new Option(`default (${param.default})`, ""));
      for (const choice of param.choices) input.append(new Option(choice, choice));
    } else {
      input = document.createElement("input");
      input.type = param.type === "str" ? "text" : "number";
      if (param.type !== "str") input.step = param.type === "int" ? "1" : "any";
      if (param.minimum !== null) input.min = param.minimum;
      if (param.maximum !== null) input.max = param.maximum;
      if (param.default !== null) input.placeholder = `default ${param.default}`;
    }
    input.id = id;
    input.dataset.extension = param.name;
    input.dataset.type = param.type;
    const hint = document.createElement("p");
    hint.className = "hint";
    hint.textContent = param.description;
    const error = document.createElement("p");
    error.className = "field-error";
    error.id = `error-${id}`;
    error.setAttribute("role", "alert");
    field.append(label, input, hint, error);
    box.append(field);
  }
}

// --- settings <-> controls ----------------------------------------------------------------

function visible(id) {
  const element = $(id);
  return element && !element.closest("[hidden]");
}

function readSettings() {
  const value = (id) => (visible(id) ? $(id).value.trim() : "");
  const extensions = [];
  for (const input of document.querySelectorAll("[data-extension]")) {
    if (input.value.trim() !== "") extensions.push({ name: input.dataset.extension, type: input.dataset.type, value: input.value.trim() });
  }
  const init = state.init && visible("init-file")
    ? { base64: state.init.base64, adjustments: state.adjustments.map(({ kind, values }) => ({ [kind]: { ...values } })) }
    : null;
  return {
    engineId: $("engine").value,
    prompt: value("prompt"),
    upscaler: value("upscaler"),
    negative: value("negative"),
    sampler: value("sampler"),
    steps: value("steps"),
    cfg: value("cfg"),
    samples: value("samples"),
    width: value("width"),
    height: value("height"),
    seedMode: visible("seed") ? $("seed-mode").value : "random",
    seed: value("seed"),
    strength: init && visible("strength") ? $("strength").value : null,
    extensions,
    init,
    mask: init && visible("mask-canvas") ? painter.toBase64() : null,
    lora: state.lora && visible("lora-file") ? { base64: state.lora.base64, weight: Number($("lora-weight").value || 1) } : null,
  };
}

function writeSettings(settings, seed) {
  $("engine").value = settings.engineId;
  applyEngine();
  // Empty means "not sent" for the prompts (and so the same image); for the numbers the engine's default stays.
  for (const id of ["prompt", "negative"]) $(id).value = settings[id];
  for (const id of ["sampler", "steps", "cfg", "width", "height"]) {
    if (settings[id] !== "") $(id).value = settings[id];
  }
  $("samples").value = 1;
  $("seed-mode").value = "fixed";
  $("seed").disabled = false;
  $("seed").value = seed;
  for (const input of document.querySelectorAll("[data-extension]")) input.value = "";
  for (const { name, value } of settings.extensions) {
    const input = $(`ext-${name}`);
    if (input) input.value = value;
  }
  refreshRequest();
}

// --- the request view ---------------------------------------------------------------------

function abbreviated(body) {
  return JSON.stringify(body, (key, value) => (key === "binary" && value.length > 48 ? `${value.slice(0, 24)}…(${value.length} chars)` : value), 2);
}

function refreshRequest() {
  const built = buildRequest(readSettings());
  $("request-text").textContent = abbreviated(built.body);
  return built;
}

async function copyText(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    $("copy-status").textContent = `${what} copied.`;
  } catch {
    $("request-text").textContent = text;
    $("copy-status").textContent = `Select the text below to copy the ${what}.`;
  }
}

// --- errors -------------------------------------------------------------------------------

function clearErrors() {
  for (const element of document.querySelectorAll(".field-error")) element.textContent = "";
  for (const element of document.querySelectorAll("[aria-invalid]")) element.removeAttribute("aria-invalid");
}

function showError(error, built = state.lastBuilt) {
  const message = error instanceof ApiError ? error.message : String(error.message || error);
  if (error instanceof ApiError && error.status === 401) {
    $("key-panel").open = true;
    $("error-key").textContent = message;
    $("api-key").focus();
    return;
  }
  const control = built ? controlForMessage(message, built) : null;
  const target = control && visible(`error-${control}`) ? $(`error-${control}`) : $("error-general");
  target.textContent = message;
  const input = control ? document.querySelector(`[data-control="${control}"] :is(input, select, textarea)`) : null;
  if (input && target !== $("error-general")) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-errormessage", target.id);
  }
  setStatus(`Error: ${message}`);
}

// --- a job --------------------------------------------------------------------------------

function setStatus(text) {
  $("status").textContent = text;
}

function setRunning(running) {
  $("generate").disabled = running;
  $("cancel").disabled = !running;
}

async function generate() {
  if (state.job) return;
  clearErrors();
  const settings = readSettings();
  const built = buildRequest(settings);
  state.lastBuilt = built;
  $("request-text").textContent = abbreviated(built.body);
  setRunning(true);
  setStatus("Submitting…");
  $("progress").value = 0;
  // On a narrow screen the results are below the form: bring the progress bar into view.
  $("progress").scrollIntoView({ block: "nearest", behavior: "smooth" });
  $("preview-box").hidden = true;
  let handle;
  try {
    handle = await postJson("/grpcgateway/asyncGenerate", built.body);
  } catch (error) {
    setRunning(false);
    showError(error, built);
    return;
  }
  const job = { handle: handle.asyncHandle, stop: new AbortController(), samples: Number(settings.samples) || 1, received: 0, step: 0, total: 0, batch: 1, finished: false };
  state.job = job;
  setStatus("Queued…");
  followEvents(job.handle, { previews: true, signal: job.stop.signal, onEvent: (name, data) => onEvent(job, name, data) }).catch(() => {
    // No event stream for this job (an older server): progress then comes from the answers.
  });
  try {
    await collect(job, settings, built);
  } finally {
    job.stop.abort();
    state.job = null;
    setRunning(false);
  }
}

function onEvent(job, name, data) {
  if (job.finished) return; // a late event must not overwrite the outcome
  if (name === "queued") {
    const eta = data.estimatedStartSeconds == null ? "" : `, starts in about ${Math.ceil(data.estimatedStartSeconds)} s`;
    setStatus(data.position === 0 ? `Queued: next${eta}.` : `Queued: ${data.position} ahead${eta}.`);
  } else if (name === "started") {
    job.batch = data.batchSize || 1;
    setStatus(`Running on ${data.engine}…`);
  } else if (name === "step") {
    job.step = data.step;
    job.total = data.total;
    const eta = data.etaSeconds == null ? "" : `, about ${data.etaSeconds.toFixed(1)} s left`;
    setStatus(`Step ${data.step} of ${data.total}${eta}.`);
    showProgress(job);
  } else if (name === "preview") {
    $("preview").src = `data:${data.mime};base64,${data.image}`;
    $("preview-caption").textContent = `Image ${data.index + 1}, step ${data.step}`;
    $("preview-box").hidden = false;
  }
}

function showProgress(job) {
  const inBatch = job.total ? (job.step / job.total) * Math.min(job.batch, job.samples - job.received) : 0;
  $("progress").value = Math.min(1, (job.received + inBatch) / job.samples);
}

async function collect(job, settings, built) {
  for (;;) {
    let reply;
    try {
      reply = await postJson("/grpcgateway/asyncResult", { asyncHandle: job.handle });
    } catch (error) {
      job.finished = true;
      showError(error, built);
      return;
    }
    for (const answer of reply.answer || []) {
      for (const artifact of answer.artifacts || []) {
        if (artifact.type === "ARTIFACT_IMAGE") addToGallery(artifact, settings);
      }
      job.received += 1;
      job.step = 0;
      showProgress(job);
    }
    if (reply.complete) {
      job.finished = true;
      const status = reply.status || {};
      if (!status.code) {
        $("progress").value = 1;
        setStatus(`Done: ${job.received} image${job.received === 1 ? "" : "s"}.`);
      } else if (status.code === 1) {
        $("progress").value = 0;
        setStatus("Cancelled.");
      } else {
        showError(new ApiError(200, status.code, status.message || "the job failed"), built);
      }
      $("preview-box").hidden = true;
      return;
    }
  }
}

async function cancel() {
  const job = state.job;
  if (!job) return;
  setStatus("Cancelling…");
  $("cancel").disabled = true;
  try {
    await postJson("/grpcgateway/asyncCancel", { asyncHandle: job.handle });
  } catch (error) {
    showError(error);
  }
}

// --- gallery ------------------------------------------------------------------------------

function addToGallery(artifact, settings) {
  const seed = artifact.seed || 0;
  const blob = base64ToBlob(artifact.binary, artifact.mime || "image/png");
  const url = URL.createObjectURL(blob);
  const item = document.createElement("li");
  item.className = "result";
  item.dataset.seed = seed;
  const reuse = document.createElement("button");
  reuse.type = "button";
  reuse.className = "thumb";
  reuse.title = "Reuse these settings and this seed";
  reuse.setAttribute("aria-label", `Reuse the settings of the image with seed ${seed}`);
  const image = document.createElement("img");
  image.src = url;
  image.alt = `Generated image, seed ${seed}`;
  reuse.append(image);
  reuse.addEventListener("click", () => writeSettings(settings, seed));
  const caption = document.createElement("p");
  caption.className = "seed";
  caption.textContent = `seed ${seed}`;
  const asInit = document.createElement("button");
  asInit.type = "button";
  asInit.textContent = "Use as init";
  asInit.addEventListener("click", () => setInit(blob, `the result with seed ${seed}`));
  const download = document.createElement("a");
  download.href = url;
  download.download = `sfumato-${seed}.png`;
  download.textContent = "Download";
  download.className = "download";
  const actions = document.createElement("div");
  actions.className = "row";
  actions.append(asInit, download);
  item.append(reuse, caption, actions);
  $("gallery").prepend(item);
}

// --- init image, adjustments, mask, LoRA -----------------------------------------------------

async function setInit(blob, source, keepMask = false) {
  try {
    state.init = await loadInit(blob);
  } catch {
    $("error-init").textContent = "This file is not an image the browser can read.";
    return;
  }
  $("init-info").textContent = `${state.init.width}×${state.init.height} px, ${source}`;
  $("init-tools").hidden = false;
  // The output size follows the init image; an upscaler's default is a factor of it instead.
  const upscaling = !$("upscaler-field").hidden;
  $("width").value = upscaling ? "" : state.init.width;
  $("height").value = upscaling ? "" : state.init.height;
  redrawInit();
  if (!keepMask) painter.reset(state.init.width, state.init.height);
  refreshRequest();
}

function redrawInit() {
  if (!state.init) return;
  drawAdjusted($("init-canvas"), state.init, state.adjustments.map(({ kind, values }) => ({ [kind]: values })));
}

function removeInit() {
  state.init = null;
  state.adjustments = [];
  $("init-info").textContent = "";
  renderAdjustments();
  $("init-file").value = "";
  $("init-tools").hidden = true;
  applyEngine();
}

function renderAdjustments() {
  const list = $("adjustments");
  list.replaceChildren();
  state.adjustments.forEach((adjustment, index) => {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = ADJUSTMENT_KINDS[adjustment.kind].label;
    item.append(name);
    for (const [key, label, min, max, step] of ADJUSTMENT_KINDS[adjustment.kind].fields) {
      const input = document.createElement("input");
      input.type = "number";
      Object.assign(input, { min, max, step, value: adjustment.values[key] });
      input.setAttribute("aria-label", `${ADJUSTMENT_KINDS[adjustment.kind].label} ${index + 1}: ${label}`);
      input.addEventListener("input", () => {
        adjustment.values[key] = Number(input.value);
        redrawInit();
        refreshRequest();
      });
      const wrap = document.createElement("label");
      wrap.append(`${label} `, input);
      item.append(wrap);
    }
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", `Remove adjustment ${index + 1}`);
    remove.addEventListener("click", () => {
      state.adjustments.splice(index, 1);
      renderAdjustments();
    });
    item.append(remove);
    list.append(item);
  });
  redrawInit();
  refreshRequest();
}

function addAdjustment() {
  const kind = $("adjustment-kind").value;
  const values = Object.fromEntries(ADJUSTMENT_KINDS[kind].fields.map(([key, , , , , initial]) => [key, initial]));
  state.adjustments.push({ kind, values });
  renderAdjustments();
}

async function outpaint() {
  if (!state.init) return;
  const pad = Math.max(8, Number($("outpaint-pixels").value) || 64);
  const { width, height } = state.init;
  await setInit(await padded(state.init, pad), `extended by ${pad} px on each side`, true);
  painter.reset(state.init.width, state.init.height);
  painter.outpaintFrame(pad, pad, width, height);
}

// --- wiring -------------------------------------------------------------------------------

function wire() {
  $("engine").addEventListener("change", applyEngine);
  $("settings").addEventListener("submit", (event) => {
    event.preventDefault();
    generate();
  });
  $("settings").addEventListener("input", () => refreshRequest());
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      generate();
    } else if (event.key === "Escape" && state.job) {
      cancel();
    }
  });
  $("cancel").addEventListener("click", cancel);
  $("seed-mode").addEventListener("change", () => {
    $("seed").disabled = $("seed-mode").value !== "fixed";
    if (!$("seed").disabled) $("seed").focus();
  });
  $("strength").addEventListener("input", () => ($("strength-value").value = $("strength").value));
  $("init-file").addEventListener("change", () => {
    const file = $("init-file").files[0];
    $("error-init").textContent = "";
    if (file) setInit(file, `from ${file.name}`);
  });
  $("init-remove").addEventListener("click", removeInit);
  for (const [kind, { label }] of Object.entries(ADJUSTMENT_KINDS)) $("adjustment-kind").append(new Option(label, kind));
  $("add-adjustment").addEventListener("click", addAdjustment);
  for (const radio of document.querySelectorAll("[name=mask-tool]")) {
    radio.addEventListener("change", () => (painter.erasing = radio.value === "eraser" && radio.checked));
  }
  $("brush-size").addEventListener("input", () => (painter.brushSize = Number($("brush-size").value)));
  $("mask-clear").addEventListener("click", () => painter.clear());
  $("mask-invert").addEventListener("click", () => painter.invert());
  $("mask-canvas").addEventListener("maskchange", () => refreshRequest());
  $("outpaint").addEventListener("click", outpaint);
  $("lora-file").addEventListener("change", async () => {
    const file = $("lora-file").files[0];
    state.lora = file ? { base64: bytesToBase64(new Uint8Array(await file.arrayBuffer())) } : null;
    refreshRequest();
  });
  $("copy-curl").addEventListener("click", () => copyText(asCurl(refreshRequest().body, location.origin, apiKey()), "curl command"));
  $("copy-json").addEventListener("click", () => copyText(asJson(refreshRequest().body), "JSON request"));
  $("api-key").value = apiKey();
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey($("api-key").value.trim());
    $("error-key").textContent = "";
    $("key-panel").open = false;
    loadEngines();
  });
}

wire();
loadEngines();
