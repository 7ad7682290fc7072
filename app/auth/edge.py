"""What every request and answer gets at the platform's edge, before anything else sees it: the client's
real address and scheme when a trusted proxy forwarded the request, the security headers on every answer
(ingestion's included; HSTS over https), and `Secure` on cookies set over https.

Proxy headers are believed only from the addresses of `IAQ_TRUSTED_PROXIES` (uvicorn's own handling, which
believes any local peer, is switched off in `app/__main__.py`): otherwise anyone on the machine, or any
client sending `X-Forwarded-For` through a proxy that appends to it, could choose the address that sign-in
throttling counts.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

Send = Callable[[dict[str, Any]], Awaitable[None]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
HSTS = (b"strict-transport-security", b"max-age=31536000")
_DOCS_PATHS = frozenset({"/docs", "/redoc"})
_DOCS_CDN = "https://cdn.jsdelivr.net"  # FastAPI's API docs pages load Swagger UI and ReDoc from there


def content_security_policy(extra_form_targets: str = "", extra_sources: str = "") -> str:
    # NiceGUI renders with Vue's in-browser template compiler (needs 'unsafe-eval') and inline scripts and
    # styles; three.js loads textures of .glb models from blob: URLs. What this still forbids: loading code
    # or data from other origins, plugins, and being framed by another site.
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:{extra_sources}",
            f"style-src 'self' 'unsafe-inline'{extra_sources}",
            f"img-src 'self' data: blob:{extra_sources}",
            "font-src 'self' data:",
            "connect-src 'self' ws: wss: data: blob:",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            f"form-action 'self'{extra_form_targets}",
            "frame-ancestors 'none'",
        )
    )


def security_headers(oidc_origin: str | None, extra_sources: str = "") -> list[tuple[bytes, bytes]]:
    form_targets = f" {oidc_origin}" if oidc_origin else ""
    return [
        (b"content-security-policy", content_security_policy(form_targets, extra_sources).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
    ]


class Edge:
    def __init__(self, trusted_proxies: list[Network], oidc_origin: str | None = None):
        self.trusted = trusted_proxies
        self.headers = security_headers(oidc_origin)
        self.https_headers = [*self.headers, HSTS]
        docs = security_headers(oidc_origin, f" {_DOCS_CDN} https://fastapi.tiangolo.com")
        self.docs_headers, self.docs_https_headers = docs, [*docs, HSTS]
        # the device lane's answers, as raw header lines (its HTTP protocol writes them itself)
        self.lane_lines = b"".join(name + b": " + value + b"\r\n" for name, value in self.headers)
        self.lane_https_lines = self.lane_lines + HSTS[0] + b": " + HSTS[1] + b"\r\n"

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def forwarded(self, scope: dict[str, Any]) -> None:
        """Put the client's address and scheme into `scope` when the peer is a trusted proxy: the rightmost
        address of `X-Forwarded-For` that is not itself a trusted proxy, and `X-Forwarded-Proto`."""
        if not self.trusted:
            return
        client = scope.get("client")
        if not client or not self._is_trusted(client[0]):
            return
        chain: list[str] = []
        proto = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                chain += [part.strip() for part in value.decode("latin-1").split(",") if part.strip()]
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1").split(",")[-1].strip().lower()
        for address in reversed(chain):
            if not self._is_trusted(address):
                with contextlib.suppress(ValueError):  # not an address (a proxy's mistake): keep the peer's
                    scope["client"] = (str(ipaddress.ip_address(address)), 0)
                break
        if proto in ("http", "https"):
            secure = proto == "https"
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = proto

    @staticmethod
    def secure(scope: dict[str, Any]) -> bool:
        return scope.get("scheme") in ("https", "wss")

    def answer_headers(self, scope: dict[str, Any]) -> list[tuple[bytes, bytes]]:
        docs = scope.get("path") in _DOCS_PATHS
        if self.secure(scope):
            return self.docs_https_headers if docs else self.https_headers
        return self.docs_headers if docs else self.headers

    def wrap_send(self, scope: dict[str, Any], send: Send) -> Send:
        """`send` adding the security headers an answer lacks and, over https, `Secure` to its cookies."""
        extra = self.answer_headers(scope)
        secure = self.secure(scope)

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                if secure:
                    headers = [_secure_cookie(h) if h[0].lower() == b"set-cookie" else h for h in headers]
                headers += [h for h in extra if h[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        return sending


def _secure_cookie(header: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    name, value = header
    if b"secure" in value.lower().replace(b" ", b"").split(b";"):
        return header
    return name, value + b"; Secure"
