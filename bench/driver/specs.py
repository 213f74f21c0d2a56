"""What the run writes to its temp dir before starting anything: the origin's
files, our BFF's spec folders, and the JWT material (RSA key pair, JWKS,
a long-lived RS256 token) made with openssl.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.parse
from pathlib import Path

FAN_WIDTHS = (1, 3, 10, 30)
PAYLOADS = {"1k": 1024, "100k": 100 * 1024, "1m": 1024 * 1024}
ENDPOINT_COUNTS = (10, 10_000)
ISSUER = "https://issuer.bench"
# The 3-call aggregation as a GraphQL schema and query: every field of the
# three documents, so the answer's `data` is the REST endpoint's answer.
GRAPHQL_SCHEMA = """type Query { a: Item! b: Item! c: Item! }
type Item { id: ID! name: String! price_cents: Int! currency: String!
  tags: [String!]! stock: Stock! updated: String! }
type Stock { warehouse: String! count: Int! }
"""
_ITEM = "{ id name price_cents currency tags stock { warehouse count } updated }"
GRAPHQL_QUERY = f"{{ a {_ITEM} b {_ITEM} c {_ITEM} }}"
GRAPHQL_AGG = "/graphql?" + urllib.parse.urlencode({"query": GRAPHQL_QUERY})
AUDIENCE = "bench"


def write_origin_files(www: Path) -> None:
    """Small JSON documents a, b, c and f/0…f/29, and 1 KB/100 KB/1 MB ones."""
    (www / "f").mkdir(parents=True, exist_ok=True)
    for name in ("a", "b", "c"):
        (www / f"{name}.json").write_text(json.dumps(_item(name, 1)))
    for i in range(max(FAN_WIDTHS)):
        (www / "f" / f"{i}.json").write_text(json.dumps(_item(f"f{i}", i)))
    for name, size in PAYLOADS.items():
        items, length = [], len('{"items": []}')
        while length < size:
            items.append(_item(f"p{len(items)}", len(items)))
            length += len(json.dumps(items[-1])) + 2
        (www / f"{name}.json").write_text(json.dumps({"items": items}))


def _item(ident: str, n: int) -> dict:
    return {"id": ident, "name": f"Product {ident}", "price_cents": 1000 + n,
            "currency": "EUR", "tags": ["bench", "json", f"t{n % 7}"],
            "stock": {"warehouse": "w1", "count": n % 50},
            "updated": "2026-01-01T00:00:00Z"}


def _bff_yaml(origin: str, extra: str = "", log: bool = False) -> str:
    # As the peers run: no access log (nginx: access_log off), unless `log`
    # (the default of bff.yaml).
    telemetry = "" if log else "telemetry: { access_log: false }\n"
    return (f"listen: 127.0.0.1:0\n"
            f"defaults: {{ deadline: 30s, timeout: 30s }}\n"
            f"{telemetry}"
            f"services:\n  origin: {{ url: \"{origin}\" }}\n{extra}")


def _endpoint(path: str, calls: dict[str, str], auth: bool = False) -> str:
    lines = ["auth: user"] if auth else []
    lines += [f"endpoint: GET {path}", "calls:"]
    lines += [f"  {name}: {{ service: origin, get: \"{p}\" }}" for name, p in calls.items()]
    shape = ", ".join(f"{name}: .{name}" for name in calls)
    lines += ["respond:", f"  jq: '{{{shape}}}'"]
    return "\n".join(lines) + "\n"


def _folder(root: Path, name: str, bff_yaml: str, endpoints: dict[str, str]) -> Path:
    d = root / name
    (d / "endpoints").mkdir(parents=True, exist_ok=True)
    (d / "bff.yaml").write_text(bff_yaml)
    for file, text in endpoints.items():
        (d / "endpoints" / f"{file}.yaml").write_text(text)
    return d


def write_bff_specs(root: Path, origin: str) -> dict[str, Path]:
    """Spec folders by use: pass-through, composed endpoints, endpoint counts."""
    folders = {}
    proxy = "proxy:\n  - { prefix: /, service: origin }\n"
    folders["proxy"] = _folder(root, "proxy", _bff_yaml(origin, proxy), {})
    folders["proxy+log"] = _folder(root, "proxy-log", _bff_yaml(origin, proxy, log=True), {})
    abc = {"a": "/a.json", "b": "/b.json", "c": "/c.json"}
    composed = {
        "agg": _endpoint("/agg", abc),
        "slow-agg": _endpoint("/slow/agg", {k: f"/slow{v}" for k, v in abc.items()}),
    }
    for n in FAN_WIDTHS:
        composed[f"fan-{n}"] = _endpoint(f"/fan/{n}", {f"c{i}": f"/f/{i}.json" for i in range(n)})
    for name in PAYLOADS:
        composed[f"one-{name}"] = _endpoint(f"/one/{name}.json", {"a": f"/{name}.json"})
    folders["compose"] = _folder(root, "compose", _bff_yaml(origin), composed)
    # The same aggregation as a GraphQL query, on the same BFF.
    (folders["compose"] / "graphql").mkdir(exist_ok=True)
    (folders["compose"] / "graphql" / "schema.graphql").write_text(GRAPHQL_SCHEMA)
    (folders["compose"] / "graphql.yaml").write_text("resolvers:\n" + "".join(
        f"  Query.{k}: {{ service: origin, get: /{k}.json }}\n" for k in "abc"))
    folders["compose+log"] = _folder(root, "compose-log", _bff_yaml(origin, log=True),
                                     {"agg": composed["agg"]})
    # Injection inspection (SQLi and XSS, block) of every request.
    inspect = "inspect:\n  strict: {}\n"
    folders["proxy-inspect"] = _folder(root, "proxy-inspect", _bff_yaml(
        origin, inspect + "proxy:\n  - { prefix: /, service: origin, inspect: strict }\n"), {})
    folders["compose-inspect"] = _folder(root, "compose-inspect", _bff_yaml(origin, inspect),
                                         {"agg": "inspect: strict\n" + composed["agg"]})
    for count in ENDPOINT_COUNTS:
        eps = {f"e{i}": _endpoint(f"/v1/s{i}/items/{{id}}", {"a": "/a.json"})
               for i in range(count)}
        folders[f"endpoints-{count}"] = _folder(root, f"endpoints-{count}", _bff_yaml(origin), eps)
    return folders


def routed_path(count: int) -> str:
    """The one endpoint of an endpoint-count folder the load goes to."""
    return f"/v1/s{count // 2 + 1}/items/42"


class Jwt:
    """An RS256 key pair, its JWKS and a token valid for ten years."""

    def __init__(self, root: Path):
        keys = root / "jwt"
        keys.mkdir(parents=True, exist_ok=True)
        self.private_pem = keys / "rs256.pem"
        self.public_pem = keys / "rs256.pub.pem"
        _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                 "-out", str(self.private_pem))
        _openssl("pkey", "-in", str(self.private_pem), "-pubout", "-out", str(self.public_pem))
        modulus = _openssl("rsa", "-pubin", "-in", str(self.public_pem), "-noout", "-modulus")
        n = bytes.fromhex(modulus.decode().strip().split("=", 1)[1])
        self.jwks = json.dumps({"keys": [{
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": "bench",
            "n": _b64(n), "e": _b64((65537).to_bytes(3, "big"))}]})
        now = int(time.time())
        header = _b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "bench"}).encode())
        claims = _b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "bench-user",
                                  "iat": now, "nbf": now - 60,
                                  "exp": now + 10 * 365 * 86400}).encode())
        signing_input = f"{header}.{claims}"
        sig = _openssl("dgst", "-sha256", "-sign", str(self.private_pem),
                       stdin=signing_input.encode())
        self.token = f"{signing_input}.{_b64(sig)}"

    def header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def write_bff_folders(self, root: Path, origin: str) -> dict[str, Path]:
        """The aggregation endpoint and a pass-through route, each with
        `auth: user`, in the spec format of our BFF's JWT support."""
        auth = ("auth:\n  user:\n    jwt:\n"
                f"      issuer: \"{ISSUER}\"\n      audience: \"{AUDIENCE}\"\n"
                "      keys:\n        - { pem: \"keys/rs256.pub.pem\", alg: RS256 }\n")
        folders = {
            "compose-jwt": _folder(root, "compose-jwt", _bff_yaml(origin, auth), {
                "agg": _endpoint("/agg", {"a": "/a.json", "b": "/b.json", "c": "/c.json"},
                                 auth=True)}),
            "proxy-jwt": _folder(root, "proxy-jwt", _bff_yaml(
                origin, auth + "proxy:\n  - { prefix: /, service: origin, auth: user }\n"), {}),
        }
        for d in folders.values():
            (d / "keys").mkdir(exist_ok=True)
            (d / "keys" / "rs256.pub.pem").write_bytes(self.public_pem.read_bytes())
        return folders


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True,
                          check=True, timeout=60).stdout
