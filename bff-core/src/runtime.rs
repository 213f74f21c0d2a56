//! Running a BFF: the public listener with hot reload behind it, the admin
//! listener beside it, metrics and traces set up first, and a graceful
//! shutdown on Ctrl-C or SIGTERM. It sits above everything it starts
//! ([`crate::server`], [`crate::reload`], [`crate::admin`]), so none of
//! those needs to know about the others.

use crate::server::Gateway;

impl Gateway {
    /// Serves until Ctrl-C or SIGTERM, then drains in-flight requests.
    /// Reloads the specs when they change (see [`crate::reload`]). With
    /// `admin.listen` set, the admin listener runs beside it.
    pub async fn serve(&self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        if self.plan().config.admin.is_some() {
            crate::metrics::install();
            crate::dashboard_counts::enable();
        }
        let telemetry = &self.plan().config.telemetry;
        let endpoint = telemetry
            .otlp_endpoint
            .as_deref()
            .map(crate::config::expand_env)
            .transpose()
            .map_err(std::io::Error::other)?;
        crate::telemetry::init(endpoint.as_deref(), &process_name());
        let live = crate::reload::Live::new(self.clone());
        live.watch();
        if let Some(admin) = &self.plan().config.admin {
            let addr = crate::config::expand_env(&admin.listen).map_err(std::io::Error::other)?;
            let admin = tokio::net::TcpListener::bind(&addr).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("admin listener on {addr}: {e}"))
            })?;
            tracing::info!(listen = %admin.local_addr()?, "admin listener");
            let router = crate::admin::router(live.clone());
            tokio::spawn(async move { axum::serve(admin, router).await });
        }
        let limits = &self.plan().config.limits;
        let tls = self.running().tls.clone();
        let service = live.service();
        let shutdown = async move {
            shutdown_signal().await;
            live.start_draining();
        };
        let served = crate::listener::serve(listener, service, limits, tls, shutdown).await;
        crate::telemetry::flush();
        crate::access_log::flush(std::time::Duration::from_secs(2));
        served
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// The executable's name (`bff-web`), the default service name of traces.
fn process_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "bff".to_owned())
}
