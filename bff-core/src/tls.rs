//! TLS termination: the listener's rustls configuration, built from PEM
//! files when the specs load (so `validate` catches a bad certificate), and
//! the client certificate a connection presented.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::config::{ClientCertMode, TlsConfig, expand_env};

/// The server configuration for `tls:` in bff.yaml; paths are relative to
/// the spec folder `dir`.
pub fn server_config(config: &TlsConfig, dir: &Path) -> Result<Arc<ServerConfig>, String> {
    // Named explicitly: should another crate enable a second provider,
    // rustls could no longer pick a process-wide default.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certs = read_certs(&dir.join(expand_env(&config.cert)?))?;
    let key_path = dir.join(expand_env(&config.key)?);
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("private key `{}`: {e}", key_path.display()))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &config.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(&dir.join(expand_env(ca)?))? {
                roots
                    .add(cert)
                    .map_err(|e| format!("client CA `{ca}`: {e}"))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match config.client_cert {
                ClientCertMode::Required => verifier,
                ClientCertMode::Optional => verifier.allow_unauthenticated(),
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| e.to_string())?)
        }
    };
    let mut server = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not go together: {e}"))?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(server))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("certificates `{}`: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("`{}` holds no certificate", path.display()));
    }
    Ok(certs)
}

/// Marks a request that came over TLS; holds what the client certificate,
/// if one was verified, says of its holder.
#[derive(Debug, Clone)]
pub struct TlsConnection {
    /// The verified client certificate, parsed once per connection.
    pub client_cert: Option<Arc<ClientCert>>,
}

/// The parts of a verified client certificate that name its holder.
#[derive(Debug, Clone, Default)]
pub struct ClientCert {
    /// The subject distinguished name (`CN=…, O=…`).
    pub dn: String,
    /// The subject's first common name.
    pub cn: Option<String>,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// The serial number, hex.
    pub serial: String,
    /// Subject alternative names: DNS names.
    pub san_dns: Vec<String>,
    /// Subject alternative names: URIs (SPIFFE ids, for one).
    pub san_uri: Vec<String>,
    /// Subject alternative names: e-mail addresses.
    pub san_email: Vec<String>,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: i64,
}

impl ClientCert {
    /// Reads a DER certificate; `None` if it cannot be parsed (rustls has
    /// verified it by then, so that does not happen in practice).
    pub fn parse(der: &[u8]) -> Option<Self> {
        use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let subject = cert.subject();
        let mut out = Self {
            dn: subject.to_string(),
            cn: subject
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .map(str::to_owned),
            issuer: cert.issuer().to_string(),
            serial: cert.raw_serial_as_string().replace(':', ""),
            not_after: cert.validity().not_after.timestamp(),
            ..Self::default()
        };
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(n) => out.san_dns.push((*n).to_owned()),
                    GeneralName::URI(u) => out.san_uri.push((*u).to_owned()),
                    GeneralName::RFC822Name(e) => out.san_email.push((*e).to_owned()),
                    _ => {}
                }
            }
        }
        Some(out)
    }
}
