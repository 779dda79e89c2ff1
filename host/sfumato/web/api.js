// Talking to the server: JSON RPCs with the API key, and the job event stream.

const KEY_STORAGE = "sfumato.apiKey";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

export function setApiKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

function headers(extra = {}) {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}`, ...extra } : extra;
}

async function errorOf(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    // not a google.rpc.Status body (a proxy's page, say): keep the HTTP status
  }
  return new ApiError(response.status, body.code ?? 2, body.message || `HTTP ${response.status}`);
}

export async function getJson(path) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

export async function postJson(path, body, signal) {
  const response = await fetch(path, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

// Server-Sent Events over fetch (EventSource cannot send the Authorization header).
// Calls onEvent(name, data) per event; resumes with Last-Event-ID when the connection drops.
// Resolves once the stream ends with `done`/`error` or the signal aborts; rejects when the
// route refuses the job (no events for it: the caller falls back to polling).
export async function followEvents(id, { previews, onEvent, signal }) {
  let lastId = null;
  let finished = false;
  for (let attempt = 0; attempt < 5 && !finished && !signal.aborted; attempt++) {
    const extra = { Accept: "text/event-stream" };
    if (lastId !== null) extra["Last-Event-ID"] = lastId;
    let response;
    try {
      const query = previews ? "?previews=1" : "";
      response = await fetch(`/jobs/${encodeURIComponent(id)}/events${query}`, { headers: headers(extra), signal });
    } catch (error) {
      if (signal.aborted) return;
      continue;
    }
    if (!response.ok) throw await errorOf(response);
    try {
      await readEvents(response.body, signal, (event) => {
        if (event.id !== null) lastId = event.id;
        let data = {};
        try {
          data = event.data ? JSON.parse(event.data) : {};
        } catch {
          return;
        }
        onEvent(event.name, data);
        if (event.name === "done" || event.name === "error") finished = true;
      });
    } catch (error) {
      if (signal.aborted) return;
    }
    if (!finished && attempt > 0) await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
  }
}

async function readEvents(body, signal, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  signal.addEventListener("abort", () => reader.cancel().catch(() => {}), { once: true });
  let buffer = "";
  let event = { id: null, name: "message", data: "" };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let newline;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
      if (line === "") {
        if (event.data !== "" || event.name !== "message") dispatch(event);
        event = { id: event.id, name: "message", data: "" };
        continue;
      }
      if (line.startsWith(":")) continue; // a heartbeat comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") event.id = value;
      else if (field === "event") event.name = value;
      else if (field === "data") event.data = event.data ? `${event.data}\n${value}` : value;
    }
  }
}
