"""A small OpenAI-compatible chat-completions server on 127.0.0.1 that misbehaves on demand, for the tests of
`localnat segment` against every reply a real server or a proxy can send.

`/v1/models` lists `fake-llm`. A chat completion answers a list of sentence numbers (every other sentence begins a
step) unless the request's fault says otherwise. `faults` is a function of the 1-based number of the chat request
(and the prompt) that returns one of `FAULTS` or `"ok"`; it runs under a lock, so the numbering is exact with many
client threads. Only the standard library is used.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: What a chat request can get instead of an answer.
FAULTS = {
    "not_json": "HTTP 200 with an HTML page (a proxy's error page)",
    "empty_choices": "HTTP 200, choices: []",
    "content_null": "HTTP 200, content: null",
    "wrong_types": "HTTP 200, choices is a string",
    "wrong_content_type": "HTTP 200, content is a number",
    "error_200": "HTTP 200 carrying {\"error\": {...}}",
    "truncated": "a body that stops mid-way (Content-Length larger than what is sent)",
    "reset": "the connection reset (RST) after the request is read",
    "hang": "the request is read and never answered",
    "429": "429 with Retry-After: 0.1 s",
    "503": "503 Service Unavailable",
    "prose": "HTTP 200 with an answer that is not a list of sentence numbers",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # resets and hangs are on purpose: no tracebacks
        pass


class LLMServer:
    """Start with `LLMServer(faults)`, read `url`, `requests` (chat requests by fault) and `answered` (the prompts
    answered with a list, by their first sentence line); `close()` at the end."""

    def __init__(self, faults: Callable[[int, str], str] | None = None, *, model: str = "fake-llm") -> None:
        self.faults = faults or (lambda n, prompt: "ok")
        self.requests: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.count = 0
        self.models_fault = "ok"  # "not_json": /v1/models answers an HTML page too
        self._lock = threading.Lock()
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes, content_type: str = "application/json",
                      headers: dict | None = None, length: int | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def do_GET(self):
                if server.models_fault == "not_json":
                    return self._send(200, b"<html><body>Bad Gateway</body></html>", "text/html")
                self._send(200, json.dumps({"object": "list", "data": [{"id": model, "object": "model"}]}).encode())

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][0]["content"]
                with server._lock:
                    server.count += 1
                    fault = server.faults(server.count, prompt)
                    server.requests[fault] += 1
                count = len(re.findall(r"^\[\d+\] ", prompt, flags=re.M))
                answer = f"Steps begin at: {list(range(1, count + 1, 2))}"

                def completion(**message) -> bytes:
                    return json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": model,
                                       "choices": [{"index": 0, "finish_reason": "stop",
                                                    "message": {"role": "assistant", **message}}],
                                       "usage": {"prompt_tokens": 10, "completion_tokens": 3,
                                                 "total_tokens": 13}}).encode()

                if fault == "ok":
                    first = re.search(r"^\[1\] (.*)$", prompt, flags=re.M)
                    with server._lock:
                        server.answered[first.group(1) if first else ""] += 1
                    return self._send(200, completion(content=answer))
                if fault == "prose":
                    return self._send(200, completion(content="The first and the last, I think."))
                if fault == "not_json":
                    return self._send(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
                if fault == "empty_choices":
                    return self._send(200, json.dumps({"id": "c", "object": "chat.completion", "model": model,
                                                       "choices": []}).encode())
                if fault == "content_null":
                    return self._send(200, completion(content=None))
                if fault == "wrong_types":
                    return self._send(200, json.dumps({"id": "c", "model": 7, "choices": "none",
                                                       "usage": "lots"}).encode())
                if fault == "wrong_content_type":
                    return self._send(200, completion(content=12))
                if fault == "error_200":
                    return self._send(200, json.dumps({"error": {"message": "upstream model overloaded",
                                                                 "type": "server_error"}}).encode())
                if fault == "truncated":
                    data = completion(content=answer)
                    self._send(200, data[: len(data) // 3], length=len(data))
                    self.close_connection = True
                    return self.connection.shutdown(socket.SHUT_RDWR)
                if fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    return self.connection.close()
                if fault == "hang":
                    server._release.wait(60)
                    self.close_connection = True
                    return None
                if fault == "429":
                    return self._send(429, json.dumps({"error": {"message": "slow down"}}).encode(),
                                      headers={"Retry-After": "0.1"})
                if fault == "503":
                    return self._send(503, json.dumps({"error": {"message": "unavailable"}}).encode())
                raise ValueError(f"unknown fault {fault!r}")

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
