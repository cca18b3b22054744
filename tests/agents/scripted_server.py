"""A scripted OpenAI-compatible chat server on 127.0.0.1 (a real HTTP server, in a thread).

Each reply in `script` is either a string (assistant text), a dict
`{"tool_command": "..."}` (one bash tool call), or `{"status": 503, "message": ...}`
(an HTTP error). Requests are kept in `requests` for assertions.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ScriptedServer"]


class ScriptedServer:
    def __init__(self, script: list[Any]):
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.auth: list[str] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def base_url(self, episode_id: str) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/e/{episode_id}/v1"

    def __enter__(self) -> "ScriptedServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next(self, body: dict[str, Any], path: str, auth: str) -> Any:
        with self._lock:
            self.requests.append(body)
            self.paths.append(path)
            self.auth.append(auth)
            return self.script.pop(0) if self.script else "```bash\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```"

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                reply = server._next(body, self.path, self.headers.get("Authorization", ""))
                if isinstance(reply, dict) and "status" in reply:
                    return self._send(reply["status"], {"error": {"message": reply["message"],
                                                                  "type": "scripted"}})
                self._send(200, _completion(body, reply))

            def _send(self, status: int, obj: dict[str, Any]) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _completion(body: dict[str, Any], reply: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply}
    finish = "stop"
    if isinstance(reply, dict):
        message = {"role": "assistant", "content": reply.get("text", ""), "tool_calls": [{
            "id": f"call_{time.monotonic_ns()}", "type": "function",
            "function": {"name": "bash", "arguments": json.dumps({"command": reply["tool_command"]})}}]}
        finish = "tool_calls"
    return {"id": f"chatcmpl-{time.monotonic_ns()}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", "scripted"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
