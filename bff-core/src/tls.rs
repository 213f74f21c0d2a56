//! TLS termination: the listener's rustls configuration, built from PEM
//! files when the specs load (so `validate` catches a bad certificate), and
//! the client certificate a connection presented.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::config::{ClientCertMode, TlsConfig, expand_env};

/// Why the listener's TLS configuration cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A `${VAR}` in a path did not expand.
    #[error(transparent)]
    Env(#[from] crate::config::EnvError),
    /// A certificate file cannot be read, or is not PEM.
    #[error("certificates `{}`: {source}", path.display())]
    Certificates {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: rustls::pki_types::pem::Error,
    },
    /// A certificate file holds no certificate.
    #[error("`{}` holds no certificate", .0.display())]
    NoCertificate(PathBuf),
    /// The private key file cannot be read, or holds no key.
    #[error("private key `{}`: {source}", path.display())]
    PrivateKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: rustls::pki_types::pem::Error,
    },
    /// A certificate of `client_ca` is not one rustls accepts as a root.
    #[error("client CA `{ca}`: {source}")]
    ClientCa {
        /// `client_ca` as written.
        ca: String,
        /// Why rustls refused it.
        source: rustls::Error,
    },
    /// rustls refused the settings themselves.
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
    /// No client certificate verifier can be made from `client_ca`.
    #[error(transparent)]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// The key is not the certificate's.
    #[error("certificate and key do not go together: {0}")]
    Mismatch(rustls::Error),
}

/// The server configuration for `tls:` in bff.yaml; paths are relative to
/// the spec folder `dir`.
pub fn server_config(config: &TlsConfig, dir: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    // Named explicitly: should another crate enable a second provider,
    // rustls could no longer pick a process-wide default.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let env = |text: &str| expand_env(text).map_err(TlsError::Env);
    let certs = read_certs(&dir.join(env(&config.cert)?))?;
    let key_path = dir.join(env(&config.key)?);
    let key = match PrivateKeyDer::from_pem_file(&key_path) {
        Ok(key) => key,
        Err(source) => {
            return Err(TlsError::PrivateKey {
                path: key_path,
                source,
            });
        }
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &config.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(&dir.join(env(ca)?))? {
                roots.add(cert).map_err(|source| TlsError::ClientCa {
                    ca: ca.clone(),
                    source,
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match config.client_cert {
                ClientCertMode::Required => verifier,
                ClientCertMode::Optional => verifier.allow_unauthenticated(),
            };
            builder.with_client_cert_verifier(verifier.build()?)
        }
    };
    let mut server = builder
        .with_single_cert(certs, key)
        .map_err(TlsError::Mismatch)?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(server))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|source| TlsError::Certificates {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

/// Marks a request that came over TLS; holds what the client certificate,
/// if one was verified, says of its holder.
#[derive(Debug, Clone)]
pub(crate) struct TlsConnection {
    /// The verified client certificate, parsed once per connection.
    pub client_cert: Option<Arc<ClientCert>>,
}

/// The parts of a verified client certificate that name its holder.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientCert {
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
    pub(crate) fn parse(der: &[u8]) -> Option<Self> {
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
