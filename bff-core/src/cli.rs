//! The command line every BFF binary shares: serve a spec folder, check
//! one (`validate`), show an endpoint's call graph (`explain`), or ask a
//! running one whether it is healthy (`healthcheck`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::extension::Extension;
use crate::server::Gateway;
use crate::source::Diagnostics;

/// Exit status for unusable configuration (sysexits EX_USAGE).
pub const EXIT_CONFIG: u8 = 64;

#[derive(Parser, Debug)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Folder with bff.yaml and endpoints/.
    #[arg(long, env = "BFF_SPECS")]
    specs: Option<PathBuf>,
    /// Address to listen on; overrides `listen` in bff.yaml.
    #[arg(long, env = "BFF_LISTEN")]
    listen: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Manage API keys: create one (printed once, only its hash is stored) or revoke one.
    #[command(subcommand)]
    Apikey(ApiKeyCommand),
    /// Check a spec folder; exits non-zero on any error.
    Validate {
        /// Folder with bff.yaml and endpoints/.
        #[arg(long, env = "BFF_SPECS")]
        specs: Option<PathBuf>,
    },
    /// Print an endpoint's call graph: what runs in parallel, what waits for what.
    Explain {
        /// Folder with bff.yaml and endpoints/.
        #[arg(long, env = "BFF_SPECS")]
        specs: Option<PathBuf>,
        /// The endpoint, e.g. "GET /v1/home"; all endpoints when left out.
        endpoint: Option<String>,
        /// A GraphQL operation to explain against the folder's `graphql.yaml`
        /// instead: which resolvers its fields run, in which order, how often.
        #[arg(long, conflicts_with = "endpoint")]
        graphql: Option<String>,
        /// With `--graphql`: the operation's variables, as JSON (for `@skip`/`@include`).
        #[arg(long, requires = "graphql")]
        variables: Option<String>,
        /// With `--graphql`: the operation to explain, when the document has several.
        #[arg(long, requires = "graphql")]
        operation: Option<String>,
    },
    /// GET a URL and exit 0 on a 2xx answer, 1 otherwise (container health checks).
    Healthcheck {
        /// Folder with bff.yaml, whose `admin.listen` names the listener to ask.
        #[arg(long, env = "BFF_SPECS")]
        specs: Option<PathBuf>,
        /// Longest wait for the answer, e.g. `2s`.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
        /// Plain http:// URL to ask; default: `/healthz` of the admin listener.
        url: Option<String>,
    },
    /// Print the JSON Schema of this BFF's bff.yaml, its extension's settings included.
    Schema,
    /// Run the folder's tests (`tests/*.yaml`) with no service running:
    /// each call gets the answers its test gives; exits 1 if one fails.
    Test {
        /// Folder with bff.yaml, endpoints/ and tests/.
        #[arg(long, env = "BFF_SPECS")]
        specs: Option<PathBuf>,
        /// Send each test's request to the real services instead, and write
        /// what they answered (and what the client got) into its file.
        #[arg(long)]
        record: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ApiKeyCommand {
    /// Creates a key, prints it once and appends its hash and metadata to the key file.
    Create {
        /// Key file named by an `api_key` policy (`keys:`), e.g. composition-specs/partner/keys.yaml.
        #[arg(long)]
        keys: PathBuf,
        /// Who the key belongs to; becomes `auth.sub`.
        #[arg(long)]
        owner: String,
        /// Tier of the key; becomes `auth.tier`.
        #[arg(long)]
        tier: Option<String>,
        /// A scope of the key (repeat for several); become `auth.scope`.
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// Marks a key as revoked; it is refused once the BFF reloads its specs.
    Revoke {
        /// The key file.
        #[arg(long)]
        keys: PathBuf,
        /// The key's id (the part after `bff_`).
        #[arg(long)]
        id: String,
    },
}

/// Runs a BFF binary: `name` for messages, `default_specs` when `--specs`
/// is not given.
pub fn main<E: Extension>(name: &str, default_specs: &str, extension: E) -> ExitCode {
    let cli = Cli::parse_from(std::env::args_os());
    let specs_or_default = |s: Option<PathBuf>| s.unwrap_or_else(|| PathBuf::from(default_specs));
    match cli.command {
        Some(Command::Apikey(cmd)) => api_key(cmd),
        Some(Command::Test { specs, record }) => {
            let dir = specs_or_default(specs);
            match crate::spectest::run(&dir, extension, record) {
                Ok(outcome) => {
                    let verb = if record { "recorded" } else { "passed" };
                    println!(
                        "\n{} {verb}, {} failed",
                        outcome.passed,
                        outcome.failed.len()
                    );
                    if outcome.failed.is_empty() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(d) => report(&dir, &d),
            }
        }
        Some(Command::Validate { specs }) => validate::<E>(&specs_or_default(specs)),
        Some(Command::Schema) => {
            let schema = crate::schema::bff_schema_for::<E::Config>();
            println!("{}", crate::schema::pretty(&schema).trim_end());
            ExitCode::SUCCESS
        }
        Some(Command::Explain {
            specs,
            graphql: Some(text),
            variables,
            operation,
            ..
        }) => explain_graphql(
            &specs_or_default(specs),
            &text,
            variables.as_deref(),
            operation.as_deref(),
        ),
        Some(Command::Explain {
            specs, endpoint, ..
        }) => explain(&specs_or_default(specs), endpoint.as_deref()),
        Some(Command::Healthcheck {
            specs,
            timeout,
            url,
        }) => healthcheck(&specs_or_default(specs), url, timeout),
        None => serve(
            name,
            &specs_or_default(cli.serve.specs),
            cli.serve.listen,
            extension,
        ),
    }
}

fn api_key(cmd: ApiKeyCommand) -> ExitCode {
    use crate::auth::api_key::{ApiKeyError, generate, read_records, write_records};
    let result = match cmd {
        ApiKeyCommand::Create {
            keys,
            owner,
            tier,
            scopes,
        } => read_records(&keys).and_then(|mut records| {
            let (key, record) = generate(&owner, tier, scopes);
            let id = record.id.clone();
            records.push(record);
            write_records(&keys, &records)?;
            eprintln!(
                "created key {id} for {owner} in {}; it is shown only now:",
                keys.display()
            );
            println!("{key}");
            Ok(())
        }),
        ApiKeyCommand::Revoke { keys, id } => read_records(&keys).and_then(|mut records| {
            let Some(record) = records.iter_mut().find(|r| r.id == id) else {
                let path = keys.clone();
                return Err(ApiKeyError::UnknownId { path, id });
            };
            record.revoked = true;
            write_records(&keys, &records)?;
            eprintln!("revoked key {id}");
            Ok(())
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn report(dir: &Path, diags: &Diagnostics) -> ExitCode {
    eprintln!("{diags}");
    eprintln!("specs in {} are not valid", dir.display());
    ExitCode::from(EXIT_CONFIG)
}

fn validate<E: Extension>(dir: &Path) -> ExitCode {
    let checked = crate::plan::load(dir).and_then(|plan| {
        crate::extension::read_config::<E::Config>(&plan)?;
        Ok(plan)
    });
    match checked {
        Ok(plan) => {
            let graphql = plan.graphql.as_ref().map_or_else(String::new, |g| {
                let resolvers: usize = g.resolvers.values().map(|r| r.len()).sum();
                let persisted = g.persisted.by_hash.len();
                format!(", GraphQL at {} with {resolvers} resolvers and {persisted} persisted operations", g.path)
            });
            println!(
                "{}: ok ({} endpoints, {} pass-through routes{graphql})",
                dir.display(),
                plan.endpoints.len(),
                plan.proxies.len()
            );
            ExitCode::SUCCESS
        }
        Err(d) => report(dir, &d),
    }
}

fn explain(dir: &Path, endpoint: Option<&str>) -> ExitCode {
    let plan = match crate::plan::load(dir) {
        Ok(p) => p,
        Err(d) => return report(dir, &d),
    };
    let scheme = if plan.tls.is_some() { "https" } else { "http" };
    let base = format!(
        "{scheme}://{}",
        plan.listen.as_deref().unwrap_or("127.0.0.1:8080")
    );
    let chosen: Vec<&crate::plan::Endpoint> = match endpoint {
        None => plan.endpoints.iter().map(|e| &**e).collect(),
        Some(wanted) => find_endpoint(&plan, wanted).into_iter().collect(),
    };
    if chosen.is_empty() {
        eprintln!(
            "no endpoint `{}` in {}; known endpoints:",
            endpoint.unwrap_or_default(),
            dir.display()
        );
        for ep in &plan.endpoints {
            eprintln!("  {}", ep.id());
        }
        return ExitCode::from(EXIT_CONFIG);
    }
    for ep in chosen {
        print!("{}", ep.explain());
        if let Some(curl) = ep.curl(&base) {
            println!("\n  try: {curl}");
        }
        println!();
    }
    ExitCode::SUCCESS
}

/// Prints the plan of a GraphQL operation.
fn explain_graphql(
    dir: &Path,
    text: &str,
    variables: Option<&str>,
    operation: Option<&str>,
) -> ExitCode {
    let plan = match crate::plan::load(dir) {
        Ok(p) => p,
        Err(d) => return report(dir, &d),
    };
    let Some(g) = &plan.graphql else {
        eprintln!("{} has no graphql.yaml", dir.display());
        return ExitCode::from(EXIT_CONFIG);
    };
    let variables = match variables.map(serde_json::from_str::<apollo_compiler::response::JsonMap>)
    {
        None => apollo_compiler::response::JsonMap::new(),
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            eprintln!("--variables is not a JSON object: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match crate::exec::graphql::explain(g, text, operation, &variables) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// Exit 0 when the URL (or the admin listener's `/healthz`) answers 2xx;
/// 1 otherwise, as container health checks expect.
fn healthcheck(dir: &Path, url: Option<String>, timeout: std::time::Duration) -> ExitCode {
    let probed = url
        .map_or_else(|| crate::healthcheck::admin_url(dir), Ok)
        .and_then(|url| crate::healthcheck::probe(&url, timeout).map(|status| (url, status)));
    match probed {
        Ok((url, status)) => {
            println!("{url}: {status}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("unhealthy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Finds an endpoint by its spec line (`GET /v1/products/{id}`) or by a
/// concrete request (`GET /v1/products/p-1`).
fn find_endpoint<'a>(
    plan: &'a crate::plan::Plan,
    wanted: &str,
) -> Option<&'a crate::plan::Endpoint> {
    let mut parts = wanted.split_whitespace();
    let (method, path) = (parts.next()?.to_ascii_uppercase(), parts.next()?);
    let path = path.split('?').next().unwrap_or(path);
    let same_method = || {
        plan.endpoints
            .iter()
            .filter(|e| e.method.as_str() == method)
    };
    if let Some(ep) = same_method().find(|e| e.path == path) {
        return Some(ep);
    }
    same_method()
        .find(|e| {
            let mut router = matchit::Router::new();
            router.insert(e.path.as_str(), ()).is_ok() && router.at(path).is_ok()
        })
        .map(|e| &**e)
}

/// Tokio's runtime, sized by `TOKIO_WORKER_THREADS` (default: one worker
/// per core). With one worker the runtime is single-threaded: the same
/// thread then accepts, serves and calls upstreams, with no hand-offs
/// between threads (run one process per core to use more, as with nginx).
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let workers = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    if workers == Some(1) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Runtime::new()
    }
}

fn serve(name: &str, dir: &Path, listen: Option<String>, extension: impl Extension) -> ExitCode {
    init_tracing();
    let plan = match crate::plan::load(dir) {
        Ok(p) => p,
        Err(d) => return report(dir, &d),
    };
    let addr = listen
        .or_else(|| plan.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let runtime = match runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let gateway = match Gateway::from_plan(plan, extension) {
        Ok(g) => g,
        Err(d) => return report(dir, &d),
    };
    runtime.block_on(async {
        let listener = match tokio::net::TcpListener::bind(&addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{name}: cannot listen on {addr}: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        let bound = listener
            .local_addr()
            .map_or(addr.clone(), |a| a.to_string());
        tracing::info!(
            bff = name,
            listen = %bound,
            tls = gateway.plan().tls.is_some(),
            specs = %dir.display(),
            endpoints = gateway.plan().endpoints.len(),
            "serving"
        );
        match gateway.serve(listener).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{name}: server failed: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Logs to stderr; `RUST_LOG` filters, `BFF_LOG_FORMAT=json` gives JSON lines.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("BFF_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
