"""Request bodies read with a limit: refused from Content-Length before a byte is read, or once the
streamed body passes the limit, never read whole first.

``read_body`` returns the bytes or raises ``HTTPException`` 413 (over the limit) / 400 (a malformed
Content-Length, a client gone mid-body); ``read_json`` parses an object with JSON's own errors as 400.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request


async def read_body(request: Request, limit: int, what: str = "body") -> bytes:
    """At most ``limit`` bytes of ``request``'s body (413 beyond, checked before reading the rest)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise HTTPException(400, f"Content-Length must be a whole number of bytes; got {declared[:40]!r}")
        if int(declared) > limit:
            raise HTTPException(413, f"the {what} is {int(declared):,} bytes, above this server's limit of {limit:,}")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"the {what} is over this server's limit of {limit:,} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise HTTPException(400, f"the client disconnected before the {what} was complete") from None
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> dict:
    """The body as a JSON object (400 for malformed JSON or another JSON value)."""
    data = await read_body(request, limit, "JSON body")
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise HTTPException(400, f"the body is not valid JSON ({reason})") from None
    if not isinstance(value, dict):
        raise HTTPException(400, f"the body must be a JSON object; got {type(value).__name__}")
    return value
