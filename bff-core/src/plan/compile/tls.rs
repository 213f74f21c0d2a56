//! The listener's TLS settings compiled, and the check that policies
//! reading client certificates have a listener that verifies them.

use std::path::Path;

use super::Policies;
use crate::config::BffConfig;
use crate::source::Diagnostics;
use crate::spec::SpecFile;

/// The listener's TLS configuration; an `mtls` policy needs `tls.client_ca`.
pub(super) fn compile_tls(
    file: &SpecFile<BffConfig>,
    dir: &Path,
    policies: &Policies,
    diags: &mut Diagnostics,
) -> Option<crate::config::TlsConfig> {
    let verifies_clients = file
        .spec
        .tls
        .as_ref()
        .is_some_and(|t| t.client_ca.is_some());
    for (name, config) in &file.spec.auth {
        if policies.get(name).is_some_and(|p| p.needs_client_cert()) && !verifies_clients {
            diags.push(file.error_at(
                config,
                format!(
                    "auth policy `{name}` uses mtls, which needs `tls:` with `client_ca` \
                     so the listener verifies client certificates"
                ),
            ));
        }
    }
    let tls = file.spec.tls.as_ref()?;
    // Built here only to be checked: the gateway builds the one it serves.
    match crate::tls::server_config(tls, dir) {
        Ok(_) => Some((**tls).clone()),
        Err(e) => {
            diags.push(file.error_at(tls, format!("tls: {e}")));
            None
        }
    }
}
