"""The browsing page: server-rendered HTML by the API's process, no script, no build step.

Search a bucket by prefix and the listing's filters, page through the results, open an
object for its fields, user metadata, tags and history. It reads what the JSON API reads.
"""

from __future__ import annotations

import hmac
from html import escape
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from s3meta.api.app import TOKEN_COOKIE, ApiConfig, list_page, split_object_path
from s3meta.api.params import BadParameter, parse_listing
from s3meta.errors import S3MetaError
from s3meta.operations.serving import Serving
from s3meta.render import human_size, journal_to_json, row_to_json

_FILTERS = (
    ("bucket", "bucket", "my-bucket"),
    ("prefix", "prefix", "photos/2026/"),
    ("content_type", "content type", "image/jpeg"),
    ("storage_class", "storage class", "STANDARD"),
    ("min_size", "min size (bytes)", ""),
    ("max_size", "max size (bytes)", ""),
    ("modified_after", "modified after", "2026-11-01T00:00:00Z"),
    ("modified_before", "modified before", ""),
)
_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d2330}
h1{font-size:1.3rem} h1 a{color:inherit;text-decoration:none}
form.search{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:end;margin-bottom:1rem}
label{display:flex;flex-direction:column;font-size:.8rem;color:#555}
input,select{font:inherit;padding:.25rem .4rem}
table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:.3rem .6rem;
border-bottom:1px solid #e3e6ec;vertical-align:top} th{background:#f4f6fa}
td.num{text-align:right;white-space:nowrap} .deleted{color:#a33}
.error{background:#fdecec;color:#a33;padding:.5rem .8rem} .stale{background:#fff6d6;padding:.5rem}
code{word-break:break-all}
.columns{display:grid;grid-template-columns:3fr 2fr;gap:2rem} #fields th,#metadata th{width:11rem}
"""


def add_page(app: FastAPI, service: Serving, config: ApiConfig) -> None:
    """The page's routes on ``app``: /ui, /ui/object/…, /ui/login, and / to /ui."""

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/ui", status_code=303)

    @app.get("/ui/login", include_in_schema=False)
    def login_form() -> HTMLResponse:
        return _login()

    @app.post("/ui/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0].strip()
        if not hmac.compare_digest(token.encode(), config.token.encode()):
            return _login("Not the API's token.", status=401)
        response = RedirectResponse("/ui", status_code=303)
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.get("/ui", include_in_schema=False)
    def search(request: Request) -> HTMLResponse:
        params = [(k, v) for k, v in request.query_params.multi_items() if v != ""]
        values = dict(params)
        body = _search_form(values)
        if "bucket" not in values:
            return _page("Browse", body + "<p>Name a bucket to list its objects.</p>")
        try:
            listing = parse_listing(
                params, default_limit=config.page_size, max_limit=config.max_page_size
            )
            page = list_page(service, listing, config.scan_limit)
        except BadParameter as exc:
            return _page("Browse", body + _error(str(exc)), status=422)
        except S3MetaError as exc:
            return _page("Browse", body + _error(str(exc)), status=503)
        body += _results(page["objects"])
        if page["scanned"] and not page["objects"]:
            body += f"<p>No match among the next {page['scanned']} keys; more follow.</p>"
        if page["next_cursor"]:
            following = [(k, v) for k, v in params if k != "cursor"]
            following.append(("cursor", page["next_cursor"]))
            body += f'<p><a id="next" href="/ui?{escape(urlencode(following))}">Next page</a></p>'
        return _page(f"Browse {values['bucket']}", body)

    @app.get("/ui/object/{bucket}/{key:path}", include_in_schema=False)
    def detail(request: Request, bucket: str, key: str) -> HTMLResponse:
        try:
            bucket, key, _ = split_object_path(request, bucket, key, prefix="/ui/object/")
            found = service.lookup(bucket, key)
            journal = service.history(bucket, key) if not found.stale else []
        except BadParameter as exc:
            return _page("Object", _error(str(exc)), status=422)
        except S3MetaError as exc:
            return _page("Object", _error(str(exc)), status=503)
        uri = f"s3://{bucket}/{key}"
        if found.record is None:
            return _page(uri, _error(f"no record of {uri}"), status=404)
        fields = row_to_json(found.record)
        back = "/ui?" + urlencode(
            {"bucket": bucket, "prefix": key.rpartition("/")[0] + "/" if "/" in key else ""}
        )
        body = f'<p><a href="{escape(back)}">Back to the listing</a></p>'
        if found.stale:
            body += '<p class="stale">The database is unreachable: this is the cached copy.</p>'
        metadata = fields.pop("metadata")
        tags = fields.pop("tags")
        headers = fields.pop("headers")
        # Unset fields (no lock, no KMS key, ...) would bury the rest.
        shown = {name: value for name, value in fields.items() if value is not None}
        body += '<div class="columns"><div><h2>Fields</h2>' + _pairs(shown, "fields") + "</div>"
        body += "<div><h2>User metadata</h2>" + (
            _pairs(metadata, "metadata") if metadata else "<p>None.</p>"
        )
        if tags:
            body += "<h2>Tags</h2>" + _pairs(tags, "tags")
        if headers:
            body += "<h2>Headers</h2>" + _pairs(headers, "headers")
        body += "</div></div>"
        body += "<h2>History</h2>" + _history([journal_to_json(entry) for entry in journal])
        return _page(uri, body)


def _login(problem: str | None = None, *, status: int = 200) -> HTMLResponse:
    return _page(
        "Sign in",
        (_error(problem) if problem else "")
        + '<form method="post" action="/ui/login"><label>API token '
        '<input type="password" name="token" autofocus></label> '
        '<button type="submit">Sign in</button></form>',
        status=status,
    )


def _search_form(values: dict[str, str]) -> str:
    fields = "".join(
        f'<label>{label}<input name="{name}" value="{escape(values.get(name, ""))}" '
        f'placeholder="{escape(hint)}"></label>'
        for name, label, hint in _FILTERS
    )
    chosen = values.get("deleted", "")
    options = "".join(
        f'<option value="{value}"{" selected" if value == chosen else ""}>{text}</option>'
        for value, text in (
            ("", "live and deleted"),
            ("false", "live only"),
            ("true", "deleted only"),
        )
    )
    limit = escape(values.get("limit", ""))
    return (
        f'<form class="search" method="get" action="/ui">{fields}'
        f'<label>deleted<select name="deleted">{options}</select></label>'
        f'<label>per page<input name="limit" size="4" value="{limit}"></label>'
        '<button type="submit" id="search">Search</button></form>'
    )


def _results(objects: list[dict[str, Any]]) -> str:
    if not objects:
        return "<p>No objects.</p>"
    rows = "".join(
        f'<tr class="{"deleted" if row["deleted"] else ""}">'
        f'<td><a href="/ui/object/{quote(row["bucket"])}/{quote(row["key"], safe="")}">'
        f"<code>{escape(row['key'])}</code></a></td>"
        f'<td class="num">{escape(human_size(row["size"]))}</td>'
        f"<td>{escape(row['last_modified'] or '-')}</td>"
        f"<td>{escape(row['content_type'] or '-')}</td>"
        f"<td>{escape(row['storage_class'] or '-')}</td>"
        f"<td>{'deleted' if row['deleted'] else ''}</td></tr>"
        for row in objects
    )
    return (
        '<table id="results"><thead><tr><th>key</th><th>size</th><th>last modified</th>'
        "<th>content type</th><th>storage class</th><th></th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _pairs(values: dict[str, Any], name: str) -> str:
    rows = "".join(
        f"<tr><th>{escape(str(name))}</th><td><code>{_text(value)}</code></td></tr>"
        for name, value in values.items()
    )
    return f'<table id="{name}">{rows}</table>'


def _history(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "<p>No journal entries.</p>"
    columns = ("applied_at", "record_type", "event_name", "size", "etag", "version_id", "sequencer")
    head = "".join(f"<th>{c}</th>" for c in columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_text(e[c])}</td>" for c in columns) + "</tr>" for e in entries
    )
    return f'<table id="history"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _text(value: Any) -> str:
    return escape("-" if value is None else str(value))


def _error(message: str) -> str:
    return f'<p class="error">{escape(message)}</p>'


def _page(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} · s3meta</title>"
        f'<meta name="viewport" content="width=device-width"><style>{_STYLE}</style></head>'
        f'<body><h1><a href="/ui">s3meta</a> · {escape(title)}</h1>{body}</body></html>',
        status_code=status,
    )
