"""A self-contained endpoint reference at /api/v1/docs, rendered from the OpenAPI document.

No JavaScript and nothing fetched from a CDN: sites often run trialdesk on hospital networks
without internet access, and a page that loads code from elsewhere is a supply-chain risk next to
clinical data. Interactive clients can load /api/v1/openapi.json into any OpenAPI tool.
"""

from __future__ import annotations

from html import escape
from typing import Any

_METHODS = ("get", "post", "put", "patch", "delete")

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#1b1b1b}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%}td,th{padding:.3rem .5rem;vertical-align:top;
text-align:left;border-bottom:1px solid #eee}code{font-size:.9rem}
.m{font-weight:bold;text-transform:uppercase;width:4.5rem}.s{color:#555}
"""


def _schema_name(content: dict[str, Any] | None) -> str:
    if not content:
        return ""
    for media in content.values():
        ref = media.get("schema", {}).get("$ref", "")
        if ref:
            return str(ref).rsplit("/", 1)[-1]
    return ""


def _operation_row(path: str, method: str, op: dict[str, Any]) -> str:
    params = ", ".join(
        f"{p['name']} ({p['in']}{', required' if p.get('required') else ''})"
        for p in op.get("parameters", [])
    )
    body = _schema_name(op.get("requestBody", {}).get("content"))
    responses = ", ".join(
        f"{code}{' ' + name if (name := _schema_name(r.get('content'))) else ''}"
        for code, r in op.get("responses", {}).items()
    )
    return (
        f"<tr><td class=m>{escape(method)}</td><td><code>{escape(path)}</code>"
        f"<div>{escape(op.get('summary', ''))}</div>"
        f"<div class=s>{escape(op.get('description', ''))}</div></td>"
        f"<td>{escape(params)}</td><td>{escape(body)}</td><td>{escape(responses)}</td></tr>"
    )


def render_docs(spec: dict[str, Any], openapi_url: str) -> str:
    """The OpenAPI document as one HTML page: operations grouped by tag."""
    by_tag: dict[str, list[str]] = {}
    for path, item in spec.get("paths", {}).items():
        for method in _METHODS:
            if method in item:
                op = item[method]
                tag = (op.get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append(_operation_row(path, method, op))
    info = spec.get("info", {})
    sections = "".join(
        f"<h2>{escape(tag)}</h2><table><tr><th></th><th>Path</th><th>Parameters</th>"
        f"<th>Body</th><th>Responses</th></tr>{''.join(rows)}</table>"
        for tag, rows in by_tag.items()
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(info.get('title', 'API'))}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(info.get('title', ''))} {escape(info.get('version', ''))}</h1>"
        f"<p>{escape(info.get('description', ''))}</p>"
        f'<p>Machine-readable: <a href="{escape(openapi_url)}">{escape(openapi_url)}</a>. '
        'Every error answer has the body <code>{"error": {code, message, field, details}}'
        "</code>.</p>"
        f"{sections}</body></html>"
    )
