"""The token endpoint with the Python standard library only.

GET /api/tidings-token answers the signed-in user's Tidings connection token as plain text,
or 401 when nobody is signed in. The token is an HS256 JWT signed with hmac and hashlib.
docs/token-endpoint.md explains it; test/token-endpoint.test.ts runs it.

Run: TIDINGS_AUTH__SECRET=... PORT=3000 python3 server.py
"""
import base64
import hashlib
import hmac
import json
import os
import time
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The same values as the Tidings server's auth.secret (and auth.audience / auth.issuer when
# it sets them): the variables `tidings serve` reads, so both can share one environment file.
SECRET = os.environ["TIDINGS_AUTH__SECRET"]
AUDIENCE = os.environ.get("TIDINGS_AUTH__AUDIENCE")
ISSUER = os.environ.get("TIDINGS_AUTH__ISSUER")
TTL_SECONDS = 10 * 60  # short: the SDK calls getToken again before it expires


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_token(claims: dict) -> str:
    """An HS256 JWT: base64url(header).base64url(claims).base64url(HMAC-SHA256 of both)."""
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + b64url(
        json.dumps(claims, separators=(",", ":")).encode()
    )
    signature = hmac.new(SECRET.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


# --- Placeholder: your app's own session. Replace with your framework's (Django's
# --- request.user, Flask-Login's current_user...). Here a `session` cookie is looked up in a
# --- table of demo sessions.
DEMO_SESSIONS = {"demo-session-alice": {"id": "alice", "name": "Alice"}}


def session_user(headers):
    try:
        morsel = SimpleCookie(headers.get("Cookie", "")).get("session")
    except CookieError:
        return None
    return DEMO_SESSIONS.get(morsel.value) if morsel else None


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?")[0] != "/api/tidings-token":
            return self.answer(404, "not found")
        user = session_user(self.headers)
        if user is None:
            return self.answer(401, "not signed in")
        now = int(time.time())
        claims = {
            "sub": user["id"],  # the user id Tidings knows the connection by
            "info": {"name": user["name"]},  # the public profile others see
            "iat": now,
            "exp": now + TTL_SECONDS,
        }
        if AUDIENCE:
            claims["aud"] = AUDIENCE
        if ISSUER:
            claims["iss"] = ISSUER
        self.answer(200, mint_token(claims), {"Cache-Control": "no-store"})

    def answer(self, status, text, headers=None):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    server = ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "3000"))), Handler)
    host, port = server.server_address[:2]
    print(f"token endpoint listening on http://{host}:{port}/api/tidings-token", flush=True)
    server.serve_forever()
