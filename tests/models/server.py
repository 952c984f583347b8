#!/usr/bin/env python3
"""A scripted model server for the real agent CLIs, on 127.0.0.1 only.

It speaks the four APIs the CLIs odw drives talk to:
  * Anthropic Messages   POST .../v1/messages (streaming or not; claude)
  * OpenAI Responses     POST .../responses (streaming; codex)
  * OpenAI chat          POST .../chat/completions (streaming or not; qwen, odw's http adapter)
  * Gemini               POST .../models/<model>:generateContent | :streamGenerateContent (gemini)

and answers deterministically, so a test can run a real CLI end to end and assert what came back
and what the CLI sent. Standard library only.

Usage: server.py LOG_FILE [--tls CERT KEY]
                                 prints "port N" on its first line of stdout, then serves
                                 (HTTPS with that PEM certificate chain and key, given --tls).

The rule. The request's user text is searched for a line that contains "TASK"; the words after it
decide the reply (a request with no such line -- titles, side queries -- gets "ok"):
  TASK fail ...        HTTP 400 with an API error whose message is "scripted failure"
  TASK sleep=S ...     waits S seconds, then answers as below
  TASK busy=N ...      the first N requests with this task get HTTP 429 with `Retry-After: 1`
  TASK status=C ...    HTTP C (e.g. 500) with an API error "scripted status C", every time
  TASK <words>         text reply "done: <words>"
With a schema the reply is an instance of it (gen() below): through the native channel the
request offers (Anthropic tool "StructuredOutput" or "structured_output", chat tool "structured_output", Responses
text.format json_schema) or, when the prompt carries odw's "JSON Schema:" suffix, as a ```json
block. A tool call's result turn gets "done".

Every request is appended to LOG_FILE as one JSON line {api, path, model, body, auth, key_header,
version}; `auth` says only whether a credential was sent and `key_header` in which header, never
its value; `version` is the anthropic-version header. Usage is always 21 input and 8 output tokens.
"""
import json
import re
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INPUT_TOKENS, OUTPUT_TOKENS = 21, 8
_lock = threading.Lock()
_busy = {}  # task -> 429s already sent
LOG = sys.argv[1] if len(sys.argv) > 1 else "/dev/null"


def gen(s, path="r"):
    """A small valid instance of schema s (enough of JSON Schema for the tests)."""
    if not isinstance(s, dict):
        return None
    if "const" in s:
        return s["const"]
    if "enum" in s:
        return s["enum"][0]
    t = s.get("type")
    if isinstance(t, list):
        t = t[0]
    if isinstance(t, str):
        t = t.lower()  # Gemini's responseSchema spells types in capitals
    if t is None and "properties" in s:
        t = "object"
    if t == "object":
        return {k: gen(v, f"{path}.{k}") for k, v in s.get("properties", {}).items()}
    if t == "array":
        n = max(s.get("minItems", 0), 1)
        return [gen(s.get("items", {"type": "string"}), f"{path}[{i}]") for i in range(n)]
    if t == "integer":
        return s.get("minimum", 7)
    if t == "number":
        return s.get("minimum", 0.5)
    if t == "boolean":
        return True
    if t == "null":
        return None
    return f"{path}-ok"


def texts(value):
    """Every string under the keys that carry message text, in order."""
    out = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("text", "content", "input", "parts", "contents", "messages") and isinstance(v, str):
                out.append(v)
            elif k not in ("tools", "system", "instructions", "systemInstruction", "text_format"):
                out.extend(texts(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(texts(v))
    return out


def user_text(api, body):
    """The text of the user's side of the conversation."""
    if api == "anthropic":
        return "\n".join(texts([m for m in body.get("messages", []) if m.get("role") == "user"]))
    if api == "responses":
        items = body.get("input", [])
        if isinstance(items, str):
            return items
        return "\n".join(texts([i for i in items if i.get("role") == "user"]))
    if api == "chat":
        return "\n".join(texts([m for m in body.get("messages", []) if m.get("role") == "user"]))
    return "\n".join(texts([c for c in body.get("contents", []) if c.get("role", "user") == "user"]))


def task_of(text):
    for line in text.splitlines():
        if "TASK" in line:
            return line[line.index("TASK") + 4:].strip()
    return None


def prompt_schema(text):
    """The schema after odw's "JSON Schema:" suffix, if the prompt carries one."""
    at = text.rfind("JSON Schema:")
    if at < 0:
        return None
    try:
        return json.JSONDecoder().raw_decode(text[at + len("JSON Schema:"):].lstrip())[0]
    except ValueError:
        return None


def tool_result_turn(api, body):
    """Whether the last user turn answers a tool call (then the agent is done)."""
    if api == "anthropic":
        last = (body.get("messages") or [{}])[-1]
        c = last.get("content")
        return isinstance(c, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in c)
    if api == "chat":
        return bool(body.get("messages")) and body["messages"][-1].get("role") == "tool"
    return False


def native_schema(api, body):
    """(tool name, schema) of a native structured-output channel the request offers."""
    if api == "anthropic":
        for t in body.get("tools") or []:
            if t.get("name") in ("StructuredOutput", "structured_output"):
                return t["name"], t.get("input_schema")
    if api == "chat":
        for t in body.get("tools") or []:
            f = t.get("function", {})
            if f.get("name") == "structured_output":
                return "structured_output", f.get("parameters")
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            return None, fmt.get("json_schema", {}).get("schema")
    if api == "gemini":
        # Gemini CLI's own side calls (its model router) ask for JSON this way.
        config = body.get("generationConfig") or {}
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        if schema is not None:
            return None, schema
    if api == "responses":
        fmt = (body.get("text") or {}).get("format") or {}
        if fmt.get("type") == "json_schema":
            return None, fmt.get("schema")
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def send_json(self, code, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path.endswith("/models"):
            return self.send_json(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}],
                                        "models": []})
        self.send_json(404, {"error": {"message": f"no such path {path}", "type": "not_found_error"}})

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        path = self.path.split("?")[0]
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        if path.endswith("/v1/messages/count_tokens"):
            return self.send_json(200, {"input_tokens": INPUT_TOKENS})
        if path.endswith("/v1/messages"):
            api = "anthropic"
        elif path.endswith("/responses"):
            api = "responses"
        elif path.endswith("/chat/completions"):
            api = "chat"
        elif ":generateContent" in path or ":streamGenerateContent" in path:
            api = "gemini"
        elif path.endswith(":countTokens"):
            return self.send_json(200, {"totalTokens": INPUT_TOKENS})
        else:
            return self.send_json(404, {"error": {"message": f"no such path {path}", "type": "not_found_error"}})
        model = body.get("model") or (re.search(r"/models/([^:/]+)", path) or [None, None])[1]
        key_header = next((h for h in ("authorization", "x-api-key", "x-goog-api-key") if self.headers.get(h)), None)
        auth = key_header is not None or "key=" in self.path
        with _lock, open(LOG, "a") as f:
            f.write(json.dumps({"api": api, "path": path, "model": model, "auth": bool(auth), "body": body,
                                "key_header": key_header, "version": self.headers.get("anthropic-version")}) + "\n")
        self.answer(api, path, body, model)

    def answer(self, api, path, body, model):
        text = user_text(api, body)
        task = task_of(text)
        native = native_schema(api, body)
        if task is None or tool_result_turn(api, body):
            done = "ok" if task is None else "done"
            as_json = native and not native[0]
            return self.reply(api, path, body, model, json.dumps(gen(native[1])) if as_json else done, None)
        m = re.search(r"sleep=([\d.]+)", task)
        if m:
            time.sleep(float(m.group(1)))
        if task.startswith("fail"):
            return self.fail(api)
        m = re.search(r"busy=(\d+)", task)
        if m:
            with _lock:
                sent = _busy.get(task, 0)
                _busy[task] = sent + 1
            if sent < int(m.group(1)):
                return self.send_json(429, {"error": {"message": "scripted rate limit", "type": "rate_limit_error"}},
                                      {"retry-after": "1"})
        m = re.search(r"status=(\d+)", task)
        if m:
            code = int(m.group(1))
            return self.send_json(code, {"error": {"message": f"scripted status {code}", "type": "api_error"}})
        if native and native[0]:
            return self.reply(api, path, body, model, None, (native[0], gen(native[1])))
        if native:
            return self.reply(api, path, body, model, json.dumps(gen(native[1])), None)
        schema = prompt_schema(text)
        if schema is not None:
            return self.reply(api, path, body, model, "```json\n" + json.dumps(gen(schema)) + "\n```", None)
        return self.reply(api, path, body, model, f"done: {task}", None)

    def fail(self, api):
        if api == "anthropic":
            err = {"type": "error", "error": {"type": "invalid_request_error", "message": "scripted failure"}}
        elif api == "gemini":
            err = {"error": {"code": 400, "message": "scripted failure", "status": "INVALID_ARGUMENT"}}
        else:
            err = {"error": {"message": "scripted failure", "type": "invalid_request_error", "code": "scripted"}}
        self.send_json(400, err)

    def reply(self, api, path, body, model, text, tool):
        stream = body.get("stream") or api == "responses" or ":streamGenerateContent" in path
        getattr(self, "api_" + api)(body, model, text, tool, bool(stream))

    def sse(self, events, named=True):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        for name, data in events:
            head = f"event: {name}\n" if named and name else ""
            self.wfile.write(f"{head}data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def api_anthropic(self, body, model, text, tool, stream):
        content = [{"type": "text", "text": text}] if tool is None else \
            [{"type": "tool_use", "id": "toolu_scripted", "name": tool[0], "input": tool[1]}]
        stop = "end_turn" if tool is None else "tool_use"
        usage = {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS,
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        message = {"id": "msg_scripted", "type": "message", "role": "assistant", "model": model,
                   "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage}
        if not stream:
            return self.send_json(200, message)
        events = [("message_start", {"type": "message_start", "message": dict(message, content=[], stop_reason=None,
                                                                               usage=dict(usage, output_tokens=1))})]
        for i, b in enumerate(content):
            if b["type"] == "text":
                start, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": b["text"]}
            else:
                start = {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}
                delta = {"type": "input_json_delta", "partial_json": json.dumps(b["input"])}
            events += [("content_block_start", {"type": "content_block_start", "index": i, "content_block": start}),
                       ("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}),
                       ("content_block_stop", {"type": "content_block_stop", "index": i})]
        events += [("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                      "usage": {"output_tokens": OUTPUT_TOKENS}}),
                   ("message_stop", {"type": "message_stop"})]
        self.sse(events)

    def api_responses(self, body, model, text, tool, stream):
        item = {"type": "message", "id": "msg_scripted", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}]}
        usage = {"input_tokens": INPUT_TOKENS, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": OUTPUT_TOKENS, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS}
        response = {"id": "resp_scripted", "object": "response", "model": model, "status": "completed",
                    "output": [item], "usage": usage}
        self.sse([
            ("response.created", {"type": "response.created", "response": dict(response, status="in_progress",
                                                                                 output=[], usage=None)}),
            ("response.output_item.added", {"type": "response.output_item.added", "output_index": 0,
                                            "item": dict(item, status="in_progress", content=[])}),
            ("response.output_text.delta", {"type": "response.output_text.delta", "item_id": "msg_scripted",
                                            "output_index": 0, "content_index": 0, "delta": text}),
            ("response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item}),
            ("response.completed", {"type": "response.completed", "response": response}),
        ])

    def api_chat(self, body, model, text, tool, stream):
        usage = {"prompt_tokens": INPUT_TOKENS, "completion_tokens": OUTPUT_TOKENS,
                 "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS}
        calls = None if tool is None else [{"index": 0, "id": "call_scripted", "type": "function",
                                            "function": {"name": tool[0], "arguments": json.dumps(tool[1])}}]
        finish = "stop" if tool is None else "tool_calls"
        if not stream:
            message = {"role": "assistant", "content": text}
            if calls:
                message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in calls]
            return self.send_json(200, {"id": "chatcmpl-scripted", "object": "chat.completion", "model": model,
                                        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                                        "usage": usage})
        chunk = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "model": model}
        delta = {"role": "assistant", "content": text} if calls is None else {"role": "assistant", "tool_calls": calls}
        self.sse([
            (None, dict(chunk, choices=[{"index": 0, "delta": delta, "finish_reason": None}])),
            (None, dict(chunk, choices=[{"index": 0, "delta": {}, "finish_reason": finish}])),
            (None, dict(chunk, choices=[], usage=usage)),
            (None, "[DONE]"),
        ], named=False)

    def api_gemini(self, body, model, text, tool, stream):
        doc = {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP",
                               "index": 0}],
               "usageMetadata": {"promptTokenCount": INPUT_TOKENS, "candidatesTokenCount": OUTPUT_TOKENS,
                                 "totalTokenCount": INPUT_TOKENS + OUTPUT_TOKENS},
               "modelVersion": model}
        if not stream:
            return self.send_json(200, doc)
        self.sse([(None, doc)], named=False)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if "--tls" in sys.argv:
        at = sys.argv.index("--tls")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[at + 1], sys.argv[at + 2])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
