//! Identity from the client certificate the TLS listener verified: the
//! handshake already proved the client holds the key of a certificate that
//! chains to `tls.client_ca`, so this policy only names the holder.

use jaq_json::Val;

use super::Rejection;
use crate::config::{CertField, MtlsConfig};
use crate::tls::ClientCert;
use crate::value;

/// A compiled mTLS policy.
#[derive(Debug)]
pub(super) struct MtlsPolicy {
    subject: CertField,
}

impl MtlsPolicy {
    /// Builds the policy.
    pub(super) fn compile(config: &MtlsConfig) -> Self {
        Self {
            subject: config.subject,
        }
    }

    /// `auth.sub` from the configured field; `auth.cert` holds the rest.
    pub(super) fn verify(&self, cert: Option<&ClientCert>) -> Result<Val, Rejection> {
        let cert = cert.ok_or(Rejection::Missing)?;
        let sub = match self.subject {
            CertField::Cn => cert.cn.clone(),
            CertField::Dn => Some(cert.dn.clone()),
            CertField::SanDns => cert.san_dns.first().cloned(),
            CertField::SanUri => cert.san_uri.first().cloned(),
            CertField::SanEmail => cert.san_email.first().cloned(),
        }
        .ok_or_else(|| {
            Rejection::Invalid(format!(
                "the client certificate has no {}",
                field_name(self.subject)
            ))
        })?;
        Ok(value::from_json(&serde_json::json!({
            "sub": sub,
            "cert": {
                "dn": cert.dn,
                "cn": cert.cn,
                "issuer": cert.issuer,
                "serial": cert.serial,
                "san_dns": cert.san_dns,
                "san_uri": cert.san_uri,
                "san_email": cert.san_email,
                "not_after": cert.not_after,
            },
        })))
    }
}

fn field_name(field: CertField) -> &'static str {
    match field {
        CertField::Cn => "subject common name",
        CertField::Dn => "subject",
        CertField::SanDns => "DNS subject alternative name",
        CertField::SanUri => "URI subject alternative name",
        CertField::SanEmail => "e-mail subject alternative name",
    }
}
