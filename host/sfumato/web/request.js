// The wire Request a set of playground settings stands for, and where each part came from.

// Builds {body, promptSources, extensionNames}: promptSources[i] names the control behind
// prompt[i], extensionNames[i] the extension parameter i, so a server error can be shown
// next to the control that caused it.
export function buildRequest(settings) {
  const prompt = [];
  const promptSources = [];
  const add = (entry, source) => {
    prompt.push(entry);
    promptSources.push(source);
  };
  if (settings.prompt) add({ text: settings.prompt }, "prompt");
  if (settings.negative) add({ text: settings.negative, parameters: { weight: -1 } }, "negative");
  if (settings.init) {
    const artifact = { type: "ARTIFACT_IMAGE", binary: settings.init.base64 };
    if (settings.init.adjustments.length) artifact.adjustments = settings.init.adjustments;
    add({ artifact }, "init");
    if (settings.mask) add({ artifact: { type: "ARTIFACT_MASK", binary: settings.mask } }, "mask");
  }
  if (settings.lora) {
    add({ artifact: { type: "ARTIFACT_LORA", binary: settings.lora.base64 }, parameters: { weight: settings.lora.weight } }, "lora");
  }

  const image = {};
  if (settings.width) image.width = String(settings.width);
  if (settings.height) image.height = String(settings.height);
  if (settings.samples) image.samples = String(settings.samples);
  if (settings.steps) image.steps = String(settings.steps);
  if (settings.seedMode === "fixed" && settings.seed !== "") image.seed = [Number(settings.seed)];
  if (settings.upscaler) image.transform = { upscaler: settings.upscaler };
  else if (settings.sampler) image.transform = { diffusion: settings.sampler };
  const step = {};
  if (settings.cfg !== null && settings.cfg !== "") step.sampler = { cfgScale: Number(settings.cfg) };
  if (settings.init && settings.strength !== null && settings.strength !== "") step.schedule = { start: Number(settings.strength) };
  if (Object.keys(step).length) image.parameters = [step];
  const extensionNames = [];
  const parameters = [];
  for (const { name, type, value } of settings.extensions) {
    extensionNames.push(name);
    parameters.push(type === "str" ? { name, str: value } : type === "int" ? { name, int: String(value) } : { name, float: Number(value) });
  }
  if (parameters.length) image.extension = { parameters };

  const body = { engineId: settings.engineId, prompt, image };
  if (settings.requestId) body.requestId = settings.requestId;
  return { body, promptSources, extensionNames };
}

export function asJson(body) {
  return JSON.stringify(body, null, 2);
}

function shellQuote(text) {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

export function asCurl(body, origin, key) {
  const auth = key ? ` \\\n  -H ${shellQuote(`Authorization: Bearer ${key}`)}` : "";
  return `curl -sN ${shellQuote(`${origin}/grpcgateway/generate`)} \\\n  -H 'Content-Type: application/json'${auth} \\\n  -d @- <<'JSON'\n${JSON.stringify(body)}\nJSON\n`;
}

// Which control a server message is about, from the JSON path it starts with
// (`image.width: 100 is not a multiple of 8`). null: no control, show it by the button.
export function controlForMessage(message, built) {
  const path = (message.match(/^([A-Za-z][\w.[\]]*):\s/) || [])[1];
  if (!path) return null;
  const rules = [
    [/^engineId\b/, () => "engine"],
    [/^image\.width\b/, () => "width"],
    [/^image\.height\b/, () => "height"],
    [/^image\.steps\b/, () => "steps"],
    [/^image\.samples\b/, () => "samples"],
    [/^image\.seed\b/, () => "seed"],
    [/^image\.transform\.diffusion\b/, () => "sampler"],
    [/^image\.transform\.upscaler\b/, () => "upscaler"],
    [/^image\.parameters\[\d+\]\.sampler\.cfgScale\b/, () => "cfg"],
    [/^image\.parameters\[\d+\]\.schedule\b/, () => "strength"],
    [/^image\.extension\.parameters\[(\d+)\]/, (m) => `ext-${built.extensionNames[Number(m[1])]}`],
    [/^prompt\[(\d+)\]/, (m) => built.promptSources[Number(m[1])] || "prompt"],
    [/^prompt\b/, () => "prompt"],
    [/^requestId\b/, () => null],
  ];
  for (const [pattern, control] of rules) {
    const match = path.match(pattern);
    if (match) return control(match);
  }
  return null;
}
