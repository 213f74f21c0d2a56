//! `healthcheck`: one plain-HTTP GET to a BFF's admin listener, answered by
//! the exit status (0 for a 2xx, 1 otherwise), so that container images need
//! no curl for their `HEALTHCHECK` and probes.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use crate::config::BffConfig;
use crate::source::Diagnostics;

/// Why a health check failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The URL is not `http://host[:port][/path]`.
    #[error("`{0}` is not an http:// URL")]
    Url(String),
    /// No admin listener to ask.
    #[error("{0}")]
    NoTarget(String),
    /// Connecting, sending or reading failed (or timed out).
    #[error("{url}: {source}")]
    Io {
        /// The URL asked.
        url: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The answer did not start with an HTTP status line.
    #[error("{url}: the answer is not HTTP")]
    Malformed {
        /// The URL asked.
        url: String,
    },
    /// The listener answered, but not with a 2xx.
    #[error("{url}: answered {status}")]
    Status {
        /// The URL asked.
        url: String,
        /// The status it answered.
        status: u16,
    },
}

/// GETs `url` (plain `http://`, as admin listeners speak) within `timeout`;
/// the status when it is a 2xx.
pub fn probe(url: &str, timeout: Duration) -> Result<u16, ProbeError> {
    let uri: http::Uri = url.parse().map_err(|_| ProbeError::Url(url.into()))?;
    let (Some("http"), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(ProbeError::Url(url.into()));
    };
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let io = |source| ProbeError::Io {
        url: url.into(),
        source,
    };
    let mut last = std::io::Error::other("the host has no address");
    let mut stream = None;
    for addr in (host, port).to_socket_addrs().map_err(io)? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut stream = stream.ok_or(last).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: bff-healthcheck\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    // Only the status line matters: read until it is complete.
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 1024 {
        let n = stream.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let status = status_of(&head).ok_or_else(|| ProbeError::Malformed { url: url.into() })?;
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(ProbeError::Status {
            url: url.into(),
            status,
        })
    }
}

/// The status code of an HTTP/1.x status line.
fn status_of(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    (code.len() == 3).then(|| code.parse().ok()).flatten()
}

/// `http://<admin.listen>/healthz` of the spec folder's `bff.yaml`, with
/// `${VAR}` read from the environment and a wildcard address (`0.0.0.0`,
/// `[::]`) asked on loopback.
pub fn admin_url(dir: &Path) -> Result<String, ProbeError> {
    let mut diags = Diagnostics::default();
    let config = crate::spec::read_file::<BffConfig>(&dir.join("bff.yaml"), &mut diags)
        .ok_or_else(|| ProbeError::NoTarget(diags.to_string()))?;
    let admin = config.spec.admin.ok_or_else(|| {
        ProbeError::NoTarget(format!(
            "{} has no admin.listen; pass the URL to check",
            dir.join("bff.yaml").display()
        ))
    })?;
    let listen = crate::config::expand_env(&admin.listen)
        .map_err(|e| ProbeError::NoTarget(e.to_string()))?;
    Ok(format!("http://{}/healthz", loopback_if_wildcard(&listen)))
}

/// `0.0.0.0:8092` → `127.0.0.1:8092`, `[::]:8092` → `[::1]:8092`; others as they are.
fn loopback_if_wildcard(listen: &str) -> String {
    match listen.parse::<SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() => {
            let ip = match addr.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            };
            SocketAddr::new(ip, addr.port()).to_string()
        }
        _ => listen.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    /// A listener that answers one connection with `answer` and returns its URL.
    fn answering(answer: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(answer.as_bytes());
        });
        format!("http://{addr}/healthz")
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_2xx_is_healthy() {
        let url = answering("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        assert_eq!(probe(&url, SECOND).unwrap(), 200);
    }

    #[test]
    fn other_statuses_and_garbage_are_not() {
        let url = answering("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        assert!(matches!(
            probe(&url, SECOND),
            Err(ProbeError::Status { status: 503, .. })
        ));
        let url = answering("SSH-2.0-OpenSSH\r\n");
        assert!(matches!(
            probe(&url, SECOND),
            Err(ProbeError::Malformed { .. })
        ));
    }

    #[test]
    fn nobody_listening_and_bad_urls_fail() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/healthz");
        assert!(matches!(probe(&url, SECOND), Err(ProbeError::Io { .. })));
        for bad in ["https://127.0.0.1/healthz", "127.0.0.1:80", "http:///x"] {
            assert!(
                matches!(probe(bad, SECOND), Err(ProbeError::Url(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn wildcard_listen_addresses_are_asked_on_loopback() {
        assert_eq!(loopback_if_wildcard("0.0.0.0:8092"), "127.0.0.1:8092");
        assert_eq!(loopback_if_wildcard("[::]:8092"), "[::1]:8092");
        assert_eq!(loopback_if_wildcard("10.0.0.7:8092"), "10.0.0.7:8092");
        assert_eq!(loopback_if_wildcard("admin:8092"), "admin:8092");
    }

    #[test]
    fn the_url_comes_from_admin_listen() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("bff.yaml"),
            "admin: { listen: \"${HEALTHCHECK_TEST_UNSET:-0.0.0.0:9999}\" }\n",
        )
        .unwrap();
        assert_eq!(
            admin_url(dir.path()).unwrap(),
            "http://127.0.0.1:9999/healthz"
        );
        std::fs::write(dir.path().join("bff.yaml"), "listen: 127.0.0.1:1\n").unwrap();
        let err = admin_url(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no admin.listen"), "{err}");
    }
}
