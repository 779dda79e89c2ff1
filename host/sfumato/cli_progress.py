"""``sfumato generate``'s progress: the job's events (GET /jobs/{id}/events) as a bar with ETA.

On a terminal, a rich progress bar (queue position while waiting, then step/total and
the server's ETA); otherwise plain lines, at most one per ``PLAIN_LINE_SECONDS`` and
the last step, so logs stay short. Events are read on a thread; the images themselves
still come from AsyncResult, so a server without the events route simply shows none.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

PLAIN_LINE_SECONDS = 0.5


class GenerateProgress:
    def __init__(self, client: Any, handle: str, samples: int, stream: TextIO | None = None) -> None:
        self.base_url = str(client.base_url)
        self.headers = dict(client.headers)
        self.handle = handle
        self.samples = samples
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="sfumato-progress", daemon=True)
        self._last_line = 0.0
        self._bar: Any = None
        self._task: Any = None
        self._lock = threading.Lock()

    # ---- lifecycle ----
    def __enter__(self) -> GenerateProgress:
        if self.interactive:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[eta]}"),
                console=Console(file=self.stream), transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("queued", total=None, eta="")
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:  # the last events may still be on their way: let them print
            self._thread.join(timeout=2.0)
        self._stop.set()
        if self._bar is not None:
            self._bar.stop()

    def wrote(self, path: str, seed: int) -> None:
        """An image was written: say so above the bar."""
        self._print(f"wrote {path} (seed {seed})")

    # ---- events ----
    def _read(self) -> None:
        import httpx

        headers = dict(self.headers, Accept="text/event-stream")
        try:
            with httpx.Client(base_url=self.base_url, headers=headers, timeout=httpx.Timeout(10.0, read=None)) as client:
                with client.stream("GET", f"/jobs/{self.handle}/events") as response:
                    if response.status_code != 200:
                        return  # an older server: images still arrive, without progress
                    name = ""
                    for line in response.iter_lines():
                        if self._stop.is_set():
                            return
                        if line.startswith("event:"):
                            name = line[6:].strip()
                        elif line.startswith("data:") and name:
                            self._show(name, json.loads(line[5:]))
                            if name in ("done", "error"):
                                return
        except Exception:  # noqa: BLE001 - progress is a courtesy; the result loop reports real failures
            return

    def _show(self, name: str, data: dict[str, Any]) -> None:
        if name == "queued":
            start = data.get("estimatedStartSeconds")
            text = f"queued: position {data.get('position', 0)}" + (f", starts in ~{start:.0f}s" if start else "")
            self._update(text, None, None, "", force=True)
        elif name == "started":
            self._update(f"running on {data.get('engine')}", 0, None, "", force=True)
        elif name == "step":
            step, total, eta = data["step"], data["total"], data.get("etaSeconds")
            eta_text = "" if eta is None else f"eta {eta:.1f}s"
            self._update("generating", step, total, eta_text, force=step >= total, line=f"step {step}/{total} {eta_text}")

    def _update(self, description: str, completed: int | None, total: int | None, eta: str,
                *, force: bool = False, line: str | None = None) -> None:
        if self._bar is not None:
            with self._lock:
                self._bar.update(self._task, description=description, completed=completed or 0, total=total, eta=eta)
            return
        now = time.monotonic()
        if force or now - self._last_line >= PLAIN_LINE_SECONDS:
            self._last_line = now
            self._print((line or description).strip())

    def _print(self, text: str) -> None:
        if self._bar is not None:
            with self._lock:
                self._bar.console.print(text)
        else:
            print(text, file=self.stream, flush=True)
