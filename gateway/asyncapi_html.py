"""The AsyncAPI document (gateway.asyncapi) as a readable HTML page: GET /api/v2/docs/realtime.

Rendered on the server from the document itself, so the page cannot say anything the document does not;
no script, no outside resource (the page works offline)."""
from __future__ import annotations

import html
import json
import re
from typing import Any

_CODE = re.compile(r"`([^`]+)`")
_STYLE = """body{font-family:system-ui,-apple-system,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1b1f23;line-height:1.45}h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.3rem;margin-top:2.5rem}
h3{margin:1.6rem 0 .3rem}code{background:#f3f4f6;padding:.05rem .3rem;border-radius:3px;font-size:.92em}
table{border-collapse:collapse;margin:.4rem 0 .8rem;width:100%}td,th{border:1px solid #e1e4e8;padding:.3rem .5rem;
text-align:left;vertical-align:top;font-size:.93rem}th{background:#f6f8fa}.muted{color:#6a737d}.frame{margin-left:.2rem}
nav a{margin-right:1rem}"""


def _text(value: str) -> str:
    """Plain text with `code` spans, paragraphs on blank lines."""
    paragraphs = [p.strip().replace("\n", " ") for p in value.split("\n\n") if p.strip()]
    return "".join(f"<p>{_inline(p)}</p>" for p in paragraphs)


def _inline(value: str) -> str:
    return _CODE.sub(r"<code>\1</code>", html.escape(value))


class _Schemas:
    def __init__(self, components: dict[str, Any]) -> None:
        self.components = components

    def resolve(self, schema: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            return name, self.components.get(name, {})
        return None, schema

    def type_of(self, schema: dict[str, Any]) -> str:
        name, schema = self.resolve(schema)
        if name:
            return name
        if "const" in schema:
            return f'"{schema["const"]}"'
        for keyword in ("oneOf", "anyOf"):
            if keyword in schema:
                return " | ".join(self.type_of(s) for s in schema[keyword])
        if "allOf" in schema:
            return " + ".join(self.type_of(s) for s in schema["allOf"])
        types = schema.get("type", "any")
        types = types if isinstance(types, list) else [types]
        words = []
        for t in types:
            if t == "array":
                words.append(f"array of {self.type_of(schema.get('items', {}))}")
            elif t == "string" and "format" in schema:
                words.append(f"string ({schema['format']})")
            else:
                words.append(str(t))
        text = " | ".join(words)
        if "enum" in schema:
            text += ": " + ", ".join(str(v) for v in schema["enum"] if v is not None)
        return text

    def table(self, schema: dict[str, Any], depth: int = 0, required_label: str = "always there") -> str:
        """The fields of an object schema (nested objects below their field), or its type."""
        name, schema = self.resolve(schema)
        if "allOf" in schema:
            merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
            for part in schema["allOf"]:
                _, part = self.resolve(part)
                merged["properties"].update(part.get("properties", {}))
                merged["required"] += part.get("required", [])
            schema = merged
        for keyword in ("oneOf", "anyOf"):
            if keyword in schema:
                return "".join(f"<p class='muted'>One of:</p>{self.table(s, depth, required_label)}"
                               for s in schema[keyword])
        properties = schema.get("properties")
        if not properties:
            return f"<p class='muted'>{html.escape(self.type_of(schema))}</p>"
        required = set(schema.get("required", []))
        rows = []
        for field, sub in properties.items():
            _, target = self.resolve(sub)
            description = sub.get("description") or target.get("description") or ""
            if "default" in target:
                description = f"{description} (default `{json.dumps(target['default'])}`)".strip()
            nested = ""
            if depth < 2 and target.get("properties"):
                nested = self.table(sub, depth + 1, required_label)
            rows.append(f"<tr><td><code>{html.escape(field)}</code></td><td>{html.escape(self.type_of(sub))}</td>"
                        f"<td>{'yes' if field in required else 'no'}</td><td>{_inline(description)}{nested}</td></tr>")
        title = f"<p class='muted'>{html.escape(name)}</p>" if name else ""
        return (f"{title}<table><tr><th>field</th><th>type</th><th>{required_label}</th><th>notes</th></tr>"
                + "".join(rows) + "</table>")


def _messages(document: dict[str, Any], channel: str, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    messages = document["components"]["messages"]
    out = []
    for key, ref in document["channels"][channel]["messages"].items():
        message = messages[ref["$ref"].rsplit("/", 1)[1]]
        if key.startswith(prefix) or (not prefix and "." not in key):
            out.append((message["name"], message))
    return out


def render(document: dict[str, Any]) -> str:
    schemas = _Schemas(document["components"]["schemas"])
    info, channels = document["info"], document["channels"]
    stream, socket = channels["requestStream"], channels["sessionSocket"]
    # client frame key → the server frames answering it (the receive operations' replies)
    replies = {op["messages"][0]["$ref"].split("/")[-1]:
               [m["$ref"].split("/")[-1].removeprefix("server.") for m in op.get("reply", {}).get("messages", [])]
               for op in document["operations"].values() if op["action"] == "receive"}
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(info['title'])}</title>",
             f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{_STYLE}</style></head><body>",
             f"<h1>{html.escape(info['title'])}</h1><p class='muted'>AsyncAPI {document['asyncapi']}: "
             "<a href='/api/v2/asyncapi.json'>/api/v2/asyncapi.json</a> · REST: <a href='/api/v2/docs'>/api/v2/docs</a></p>",
             _text(info["description"]),
             "<nav><a href='#stream'>Request stream (SSE)</a><a href='#socket'>Session websocket</a>"
             "<a href='#client-frames'>Client frames</a><a href='#server-frames'>Server frames</a>"
             "<a href='#close-codes'>Close codes</a></nav>",
             "<h2>Servers</h2><ul>"]
    for server in document["servers"].values():
        parts.append(f"<li><code>{html.escape(server['protocol'])}://{html.escape(server['host'])}"
                     f"{html.escape(server.get('pathname', ''))}</code>: {html.escape(server.get('description', ''))}</li>")
    parts.append("</ul>")

    parts.append(f"<h2 id='stream'>{html.escape(stream['title'])}</h2>"
                 f"<p><code>GET /api/v2{html.escape(stream['address'])}</code></p>")
    parts.append(_text(stream["description"]))
    for name, message in _messages(document, "requestStream", ""):
        parts.append(f"<h3 id='event-{html.escape(name)}'>event: <code>{html.escape(name)}</code></h3>")
        parts.append(_text(message["summary"]) + schemas.table(message["payload"]))

    parts.append(f"<h2 id='socket'>{html.escape(socket['title'])}</h2>"
                 f"<p><code>GET /api/v2{html.escape(socket['address'])}</code></p>")
    parts.append(_text(socket["description"]))
    parts.append("<h2 id='client-frames'>Client → server frames</h2>")
    for name, message in _messages(document, "sessionSocket", "client."):
        data = message["payload"]["properties"]["data"]
        answered = replies.get(f"client.{name}", [])
        parts.append(f"<h3 class='frame' id='frame-client-{html.escape(name)}'><code>{html.escape(name)}</code></h3>")
        parts.append(_text(message["summary"]))
        if answered:
            links = (f"<a href='#frame-server-{html.escape(r)}'><code>{html.escape(r)}</code></a>" for r in answered)
            parts.append("<p>Answered by " + ", ".join(links) + ".</p>")
        parts.append("<p class='muted'><code>data</code>:</p>" + schemas.table(data, required_label="required"))
    parts.append("<h2 id='server-frames'>Server → client frames</h2>")
    for name, message in _messages(document, "sessionSocket", "server."):
        id_schema = message["payload"]["properties"]["id"]
        id_text = "a bus position (resume from it)" if id_schema.get("type") == "string" else "null"
        parts.append(f"<h3 class='frame' id='frame-server-{html.escape(name)}'><code>{html.escape(name)}</code></h3>")
        parts.append(_text(message["summary"]) + f"<p class='muted'><code>id</code>: {id_text}. <code>data</code>:</p>")
        parts.append(schemas.table(message["payload"]["properties"]["data"]))
    parts.append("<h2 id='close-codes'>Close codes</h2><table><tr><th>code</th><th>reason</th><th>meaning</th>"
                 "<th>what the client does</th></tr>")
    for row in socket["x-close-codes"]:
        parts.append(f"<tr id='close-{row['code']}'><td><code>{row['code']}</code></td><td><code>{html.escape(row['reason'])}"
                     f"</code></td><td>{_inline(row['meaning'])}</td><td>{_inline(row['client'])}</td></tr>")
    parts.append("</table></body></html>")
    return "".join(parts)
