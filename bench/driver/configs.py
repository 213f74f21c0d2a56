"""Configuration files of the peers, generated into the run's temp dir.

Every gateway gets one worker (nginx `worker_processes 1`, haproxy
`nbthread 1`, envoy `--concurrency 1`), keep-alive to the origin, no access
log, and limits high enough for 10,000 client connections.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import resource
from pathlib import Path

from .specs import PAYLOADS

MAX_CONNECTIONS = 19_000


def nginx_module(name: str) -> str:
    for d in ("/usr/lib/nginx/modules", "/usr/share/nginx/modules"):
        hits = glob.glob(f"{d}/{name}.so")
        if hits:
            return hits[0]
    raise RuntimeError(f"nginx module {name} not found: install libnginx-mod-http-lua")


def _nginx(dir: Path, lua: bool, http: str) -> Path:
    """A complete nginx.conf in `dir` around the `http` block's body."""
    dir.mkdir(parents=True, exist_ok=True)
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    modules = "".join(f"load_module {nginx_module(m)};\n"
                      for m in ("ndk_http_module", "ngx_http_lua_module")) if lua else ""
    temp = "".join(f"{k}_temp_path {dir}/{k}_temp;\n"
                   for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = dir / "nginx.conf"
    conf.write_text(f"""{modules}{user}worker_processes 1;
worker_rlimit_nofile {MAX_CONNECTIONS + 1000};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections {MAX_CONNECTIONS}; }}
http {{
access_log off;
sendfile on; tcp_nopush on; tcp_nodelay on;
keepalive_timeout 300s; keepalive_requests 10000000;
types {{ application/json json; }}
default_type application/json;
{temp}{http}
}}
""")
    return conf


def nginx_argv(conf: Path) -> list[str]:
    return ["nginx", "-p", str(conf.parent), "-c", str(conf), "-e",
            str(conf.parent / "error.log"), "-g", "daemon off;"]


def origin_nginx(dir: Path, port: int, www: Path, delay_ms: int) -> Path:
    """The static origin; `/slow/…` is the same file after `delay_ms`."""
    return _nginx(dir, True, f"""server {{
  listen 127.0.0.1:{port} backlog=4096;
  root {www};
  location / {{ }}
  location /slow/ {{
    access_by_lua_block {{ ngx.sleep({delay_ms / 1000}) }}
    alias {www}/;
  }}
}}""")


_UPSTREAM = """upstream origin {{ server 127.0.0.1:{origin}; keepalive 128;
  keepalive_requests 10000000; keepalive_timeout 300s; }}"""
_PROXY = """proxy_pass http://origin{target}; proxy_http_version 1.1;
    proxy_set_header Connection ""; proxy_max_temp_file_size 0;"""


def nginx_proxy(dir: Path, port: int, origin: int) -> Path:
    """Pass-through: `proxy_pass` with a keep-alive upstream, buffers of 32 KB
    (up to 1 MB a request, allocated as a body needs them) and no temp files."""
    return _nginx(dir, False, f"""{_UPSTREAM.format(origin=origin)}
server {{
  listen 127.0.0.1:{port} backlog=4096;
  location / {{ {_PROXY.format(target='')} proxy_buffers 32 32k; }}
}}""")


_LUA_GATHER = """init_by_lua_block {
  cjson = require "cjson"
  -- GETs every path at once, decodes each body, answers {name: value, ...}.
  function bench_gather(names, paths)
    local reqs = {}
    for i, p in ipairs(paths) do reqs[i] = { "/_o" .. p } end
    local res = { ngx.location.capture_multi(reqs) }
    local out = {}
    for i, r in ipairs(res) do
      if r.status ~= 200 or r.truncated then return ngx.exit(502) end
      local ok, v = pcall(cjson.decode, r.body)
      if not ok then return ngx.exit(502) end
      out[names[i]] = v
    end
    ngx.header["Content-Type"] = "application/json"
    ngx.print(cjson.encode(out))
  end
}"""


def nginx_lua(dir: Path, port: int, origin: int) -> Path:
    """Aggregation in nginx: `ngx.location.capture_multi` + cjson. A captured
    body must fit in the proxy buffers (2 MB here): with no temp file
    allowed, a larger one would stall the subrequest."""
    ones = "\n".join(
        f"  location = /one/{n}.json {{ content_by_lua_block "
        f"{{ bench_gather({{'a'}}, {{'/{n}.json'}}) }} }}" for n in PAYLOADS)
    return _nginx(dir, True, f"""{_UPSTREAM.format(origin=origin)}
{_LUA_GATHER}
server {{
  listen 127.0.0.1:{port} backlog=4096;
  subrequest_output_buffer_size 2m;
  location /_o/ {{ internal; {_PROXY.format(target='/')}
    proxy_buffers 64 32k; }}
  location = /agg {{ content_by_lua_block {{
    bench_gather({{'a', 'b', 'c'}}, {{'/a.json', '/b.json', '/c.json'}}) }} }}
  location = /slow/agg {{ content_by_lua_block {{
    bench_gather({{'a', 'b', 'c'}}, {{'/slow/a.json', '/slow/b.json', '/slow/c.json'}}) }} }}
  location ~ ^/fan/([0-9]+)$ {{ content_by_lua_block {{
    local n = tonumber(ngx.var[1])
    if n < 1 or n > 100 then return ngx.exit(400) end
    local names, paths = {{}}, {{}}
    for i = 0, n - 1 do names[i + 1] = "c" .. i; paths[i + 1] = "/f/" .. i .. ".json" end
    bench_gather(names, paths) }} }}
{ones}
}}""")


def haproxy(dir: Path, port: int, origin: int) -> Path:
    """haproxy insists on two descriptors per connection: its maxconn is what
    the open-files limit allows, at most MAX_CONNECTIONS."""
    dir.mkdir(parents=True, exist_ok=True)
    conf = dir / "haproxy.cfg"
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    maxconn = min(MAX_CONNECTIONS, (nofile - 20) // 2)
    conf.write_text(f"""global
  nbthread 1
  maxconn {maxconn}
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 30s
  timeout http-keep-alive 300s
  http-reuse always
  maxconn {maxconn}
frontend bench
  bind 127.0.0.1:{port}
  default_backend origin
backend origin
  server origin 127.0.0.1:{origin}
""")
    return conf


def envoy(dir: Path, port: int, admin: int, origin: int, jwks: str | None) -> Path:
    """Pass-through; with `jwks`, every request must carry a valid RS256 JWT."""
    dir.mkdir(parents=True, exist_ok=True)
    filters = []
    if jwks is not None:
        filters.append({
            "name": "envoy.filters.http.jwt_authn",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
                "providers": {"bench": {
                    "issuer": "https://issuer.bench", "audiences": ["bench"],
                    "local_jwks": {"inline_string": jwks}}},
                "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "bench"}}],
            }})
    filters.append({"name": "envoy.filters.http.router", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}})
    addr = lambda p: {"socket_address": {"address": "127.0.0.1", "port_value": p}}  # noqa: E731
    config = {
        "admin": {"address": addr(admin)},
        "layered_runtime": {"layers": [{"name": "static", "static_layer": {
            "overload": {"global_downstream_max_connections": MAX_CONNECTIONS}}}]},
        "static_resources": {
            "listeners": [{"name": "bench", "address": addr(port), "filter_chains": [{
                "filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "bench",
                        "route_config": {"virtual_hosts": [{
                            "name": "all", "domains": ["*"],
                            "routes": [{"match": {"prefix": "/"},
                                        "route": {"cluster": "origin", "timeout": "30s"}}]}]},
                        "http_filters": filters}}]}]}],
            "clusters": [{
                "name": "origin", "type": "STATIC", "connect_timeout": "1s",
                "circuit_breakers": {"thresholds": [{
                    "max_connections": MAX_CONNECTIONS, "max_pending_requests": MAX_CONNECTIONS,
                    "max_requests": MAX_CONNECTIONS}]},
                "load_assignment": {"cluster_name": "origin", "endpoints": [{
                    "lb_endpoints": [{"endpoint": {"address": addr(origin)}}]}]}}],
        },
    }
    conf = dir / "envoy.json"
    conf.write_text(json.dumps(config, indent=1))
    return conf
