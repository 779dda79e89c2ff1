"use strict";
// Renders the embedded OpenAPI document: operations with a "try it" form, and a field
// table per message. Plain DOM calls, no libraries, so the page works offline.
(() => {
  const openapi = JSON.parse(document.getElementById("openapi-document").textContent);
  const schemas = (openapi.components && openapi.components.schemas) || {};
  const serverBase = ((openapi.servers && openapi.servers[0] && openapi.servers[0].url) || "/").replace(/\/$/, "");
  const KEY_STORAGE = "sfumato.apiKey";
  const METHODS = ["get", "head", "post", "put", "patch", "delete"];
  const LONG_STRING = 120;
  const requestExample = {prompt: [{text: "a lighthouse at dusk"}], image: {samples: "1", seed: [42], steps: "20"}};
  // A body to start from per path; the server's default engine is used when engineId is left out.
  const EXAMPLES = {
    "/grpcgateway/generate": requestExample,
    "/grpcgateway/asyncGenerate": requestExample,
    "/grpcgateway/asyncResult": {asyncHandle: ""},
    "/grpcgateway/asyncCancel": {asyncHandle: ""},
    "/grpcgateway/engines": {},
  };
  const handleFields = [];  // AsyncResult/AsyncCancel bodies, filled in after an AsyncGenerate

  // ---- DOM helpers ----
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // Descriptions use `code` spans; everything else is shown as text.
  function richText(text) {
    return String(text || "").split("`").map((part, index) => (index % 2 ? el("code", null, part) : part));
  }

  const anchor = (prefix, name) => prefix + "-" + String(name).replace(/[^A-Za-z0-9_-]/g, "_");

  // ---- schemas ----
  const refName = (ref) => decodeURIComponent(ref.split("/").pop());
  const resolve = (schema) => {
    for (let depth = 0; schema && schema.$ref && depth < 20; depth++) schema = schemas[refName(schema.$ref)];
    return schema || {};
  };
  const variantsOf = (schema) => schema.oneOf || schema.anyOf;
  const withoutNull = (list) => list.filter((variant) => variant.type !== "null");
  // 64-bit integers are a digit string or a number (proto3 JSON); say so instead of "string | integer".
  const INT64_PATTERNS = {"^[0-9]+$": "uint64", "^-?[0-9]+$": "int64"};
  function int64Name(variants) {
    const digits = variants.find((variant) => variant.type === "string" && INT64_PATTERNS[variant.pattern]);
    const number = variants.find((variant) => variant.type === "integer");
    return variants.length === 2 && digits && number ? INT64_PATTERNS[digits.pattern] : null;
  }

  function typeOf(schema) {
    if (!schema || Object.keys(schema).length === 0) return ["any"];
    if (schema.$ref) {
      const name = refName(schema.$ref);
      return [el("a", {href: "#" + anchor("message", name)}, name)];
    }
    const variants = variantsOf(schema);
    if (variants) {
      const shown = withoutNull(variants);
      const int64 = int64Name(shown);
      if (int64) return [int64 + " (digit string or number)"];
      const parts = shown.flatMap((variant, index) => (index ? [" | ", ...typeOf(variant)] : typeOf(variant)));
      return schema.format ? [...parts, ` (${schema.format})`] : parts;
    }
    if ("const" in schema) return [el("code", null, JSON.stringify(schema.const))];
    const types = (Array.isArray(schema.type) ? schema.type : [schema.type]).filter((type) => type && type !== "null");
    if (types.includes("array")) return [...typeOf(schema.items), "[]"];
    const name = types.join(" | ") || (schema.properties ? "object" : "any");
    return [schema.format ? `${name} (${schema.format})` : name];
  }

  function constraintsOf(schema) {
    const notes = [];
    const target = schema.type === "array" && schema.items && !schema.items.$ref ? schema.items : schema;
    for (const source of target === schema ? [schema] : [schema, target]) {
      if (source.enum) notes.push("one of: " + source.enum.join(", "));
      if (source.minimum !== undefined) notes.push("≥ " + source.minimum);
      if (source.exclusiveMinimum !== undefined) notes.push("> " + source.exclusiveMinimum);
      if (source.maximum !== undefined) notes.push("≤ " + source.maximum);
      if (source.exclusiveMaximum !== undefined) notes.push("< " + source.exclusiveMaximum);
      if (source.multipleOf !== undefined) notes.push("multiple of " + source.multipleOf);
      if (source.pattern) notes.push("pattern " + source.pattern);
      if (source.minLength !== undefined) notes.push("length ≥ " + source.minLength);
      if (source.maxLength !== undefined) notes.push("length ≤ " + source.maxLength);
      if (source.maxProperties !== undefined) notes.push("at most " + source.maxProperties + " key(s)");
      if (source.examples) notes.push("e.g. " + source.examples.slice(0, 6).join(", ") + (source.examples.length > 6 ? ", …" : ""));
    }
    if (schema.minItems !== undefined) notes.push("items ≥ " + schema.minItems);
    if (schema.maxItems !== undefined) notes.push("items ≤ " + schema.maxItems);
    if (schema.default !== undefined && schema.default !== null) notes.push("default " + JSON.stringify(schema.default));
    return notes.join(" · ");
  }

  function descriptionOf(schema) {
    if (schema.description) return schema.description;
    if (schema.items && schema.items.description) return schema.items.description;
    const variants = variantsOf(schema);
    const described = variants && withoutNull(variants).find((variant) => variant.description);
    return described ? described.description : "";
  }

  function fieldTable(schema) {
    const required = new Set(schema.required || []);
    const rows = Object.entries(schema.properties || {}).map(([name, property]) => {
      // Objects defined in place (ImageAdjustment's kinds) get their own table.
      const inlineObject = property.properties ? property : property.items && property.items.properties ? property.items : null;
      const notes = constraintsOf(property);
      return el("tr", null,
        el("td", null, el("code", null, name), required.has(name) ? el("span", {class: "required"}, "required") : null),
        el("td", null, typeOf(property)),
        el("td", null, richText(descriptionOf(property)), notes ? el("div", {class: "constraints"}, notes) : null,
          inlineObject ? fieldTable(inlineObject) : null));
    });
    if (!rows.length) return el("p", {class: "muted"}, "No fields.");
    return el("table", null, el("thead", null, el("tr", null, el("th", null, "Field"), el("th", null, "Type"),
      el("th", null, "Description"))), el("tbody", null, rows));
  }

  function renderMessage(name, schema) {
    const body = [];
    if (schema.enum) {
      body.push(el("p", null, "Enum (", typeOf(schema), "); values:"), el("ul", null, schema.enum.map((value) => el("li", null, el("code", null, value)))));
    } else if (schema.properties || schema.type === "object") {
      body.push(fieldTable(schema));
    } else {
      body.push(el("p", null, "Type: ", typeOf(schema)));
      const notes = constraintsOf(schema);
      if (notes) body.push(el("p", {class: "constraints"}, notes));
    }
    return el("section", {class: "message", id: anchor("message", name)},
      el("h3", null, el("code", null, name)), schema.description ? el("p", null, richText(schema.description)) : null, body);
  }

  // ---- operations ----
  function mediaTypes(content) {
    return Object.entries(content || {}).map(([mediaType, media]) =>
      el("div", null, el("code", null, mediaType), media.schema ? [" — ", typeOf(media.schema)] : null));
  }

  function responsesTable(responses) {
    const rows = Object.entries(responses || {}).map(([status, response]) => {
      const headers = Object.entries(response.headers || {}).map(([name, header]) =>
        el("div", {class: "constraints"}, "Header ", el("code", null, name), header.description ? ": " + header.description : ""));
      return el("tr", null, el("td", null, el("code", null, status)),
        el("td", null, richText(response.description), headers), el("td", null, mediaTypes(response.content)));
    });
    return el("table", null, el("thead", null, el("tr", null, el("th", null, "Status"), el("th", null, "Meaning"),
      el("th", null, "Body"))), el("tbody", null, rows));
  }

  function renderOperation(path, method, operation) {
    const id = anchor("op", operation.operationId || method + path);
    const needsKey = (operation.security || openapi.security || []).length > 0;
    const body = operation.requestBody;
    const parts = [
      el("h3", null, el("span", {class: "method " + method}, method), el("code", null, path), operation.summary || "",
        needsKey ? el("span", {class: "badge", title: "when the server has API keys"}, "API key") : null),
      operation.description ? el("p", null, richText(operation.description)) : null,
    ];
    if (body) parts.push(el("h4", null, "Request body"), mediaTypes(body.content));
    parts.push(el("h4", null, "Responses"), responsesTable(operation.responses));
    parts.push(tryItForm(path, method, Boolean(body)));
    return el("section", {class: "operation", id}, parts);
  }

  function tryItForm(path, method, hasBody) {
    const textarea = hasBody ? el("textarea", {spellcheck: "false", "aria-label": "Request body (JSON)"}) : null;
    if (textarea) {
      textarea.value = JSON.stringify(EXAMPLES[path] || {}, null, 2);
      if (/asyncResult|asyncCancel/.test(path)) handleFields.push(textarea);
    }
    const output = el("div", {class: "output", "aria-live": "polite"});
    const button = el("button", {type: "button"}, "Send");
    button.addEventListener("click", () => {
      button.disabled = true;
      send(path, method, textarea, output).finally(() => { button.disabled = false; });
    });
    return el("details", {class: "try"}, el("summary", null, "Try it"), textarea, el("p", null, button), output);
  }

  // ---- sending requests and showing answers ----
  const abbreviated = (value) => JSON.stringify(value, (key, item) =>
    typeof item === "string" && item.length > LONG_STRING ? `${item.slice(0, 40)}… (${item.length} characters)` : item, 2);

  function imagesIn(value, found = []) {
    if (Array.isArray(value)) value.forEach((item) => imagesIn(item, found));
    else if (value && typeof value === "object") {
      if (typeof value.binary === "string" && String(value.mime || "").startsWith("image/")) found.push(value);
      else Object.values(value).forEach((item) => imagesIn(item, found));
    }
    return found;
  }

  function showJson(output, value) {
    const images = imagesIn(value);
    if (images.length) {
      output.append(el("div", {class: "images"}, images.map((artifact) => el("figure", null,
        el("img", {src: `data:${artifact.mime};base64,${artifact.binary}`, alt: "generated image"}),
        el("figcaption", null, `seed ${artifact.seed || 0}`)))));
    }
    output.append(el("pre", null, abbreviated(value)));
  }

  async function send(path, method, textarea, output) {
    output.replaceChildren();
    const headers = {};
    const key = document.getElementById("api-key").value.trim();
    if (key) headers.Authorization = "Bearer " + key;
    const init = {method: method.toUpperCase(), headers};
    if (textarea) {
      try {
        JSON.parse(textarea.value || "{}");
      } catch (error) {
        output.append(el("p", {class: "status error"}, "The body is not valid JSON: " + error.message));
        return;
      }
      headers["Content-Type"] = "application/json";
      init.body = textarea.value;
    }
    const started = performance.now();
    let response;
    try {
      response = await fetch(serverBase + path, init);
    } catch (error) {
      output.append(el("p", {class: "status error"}, "Request failed: " + error.message));
      return;
    }
    const contentType = response.headers.get("content-type") || "";
    const status = el("p", {class: "status" + (response.ok ? "" : " error")});
    const describe = () => {
      status.textContent = `${response.status} ${response.statusText} · ${contentType || "no body"} · ` +
        `${Math.round(performance.now() - started)} ms`;
    };
    describe();
    output.append(status);
    const retryAfter = response.headers.get("retry-after");
    if (retryAfter) output.append(el("p", {class: "muted"}, "Retry-After: " + retryAfter + " s"));
    if (method === "head") return;
    if (contentType.includes("ndjson") && response.body) {
      await readLines(response.body, (line) => showJson(output, JSON.parse(line)));
      describe();
      return;
    }
    const text = await response.text();
    describe();
    if (!contentType.includes("json")) {
      output.append(el("pre", null, text));
      return;
    }
    const value = JSON.parse(text);
    showJson(output, value);
    if (path.endsWith("/asyncGenerate") && value.asyncHandle) {
      for (const field of handleFields) field.value = JSON.stringify({asyncHandle: value.asyncHandle}, null, 2);
    }
  }

  // Answers arrive one per line as each image is ready: show each at once.
  async function readLines(stream, onLine) {
    const reader = stream.getReader();
    const decoder = new TextDecoder();
    let pending = "";
    for (;;) {
      const {value, done} = await reader.read();
      pending += decoder.decode(value || new Uint8Array(), {stream: !done});
      const lines = pending.split("\n");
      pending = lines.pop();
      lines.filter((line) => line.trim()).forEach(onLine);
      if (done) break;
    }
    if (pending.trim()) onLine(pending);
  }

  // ---- the page ----
  function render() {
    document.getElementById("description").append(...richText((openapi.info || {}).description));
    const keyInput = document.getElementById("api-key");
    keyInput.value = sessionStorage.getItem(KEY_STORAGE) || "";
    keyInput.addEventListener("input", () => {
      if (keyInput.value) sessionStorage.setItem(KEY_STORAGE, keyInput.value);
      else sessionStorage.removeItem(KEY_STORAGE);
    });

    const byTag = new Map();
    const operations = document.getElementById("operation-list");
    for (const [path, item] of Object.entries(openapi.paths || {})) {
      for (const method of METHODS) {
        const operation = item[method];
        if (!operation) continue;
        const section = renderOperation(path, method, operation);
        operations.append(section);
        const tag = (operation.tags || ["Other"])[0];
        if (!byTag.has(tag)) byTag.set(tag, []);
        byTag.get(tag).push(el("li", null, el("a", {href: "#" + section.id}, method.toUpperCase() + " " + path),
          operation.summary ? " — " + operation.summary : ""));
      }
    }
    const contents = document.getElementById("contents");
    for (const [tag, entries] of byTag) contents.append(el("h3", null, tag), el("ul", null, entries));
    contents.append(el("h3", null, el("a", {href: "#messages"}, "Messages")));

    const messages = document.getElementById("message-list");
    for (const name of Object.keys(schemas).sort()) messages.append(renderMessage(name, schemas[name]));
    if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
  }

  render();
})();
