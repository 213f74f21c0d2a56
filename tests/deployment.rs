//! docker-compose.yml as a user deploys it: valid by the Compose
//! specification, and consistent with what it runs. Every service it builds
//! is a Dockerfile target; every demo service runs under its own name and
//! port; every variable it sets is read by the spec folder or the binary it
//! is set for, and every `${VAR}` without a default is set; listen ports
//! are mapped, Prometheus scrapes every admin listener, the load balancer
//! sends to every replica, and the partner replicas' bff.yaml differs from
//! the shipped one only where shared state lives.

use std::collections::{BTreeMap, BTreeSet};

use bff_demo::Service;
use bff_tests::deploy::{
    dockerfile_stages, env_references, host_of, port_of, read, run_checker, variables_read_by, yaml,
};
use bff_tests::workspace_root;
use serde_json::{Value, json};

/// Where the images keep the spec folder.
const SPECS_IN_IMAGE: &str = "/etc/bff/specs";

/// The BFF binaries, by Dockerfile target.
const BFFS: [&str; 3] = ["bff-mobile", "bff-web", "bff-partner"];

/// A service of docker-compose.yml that runs one of the workspace's images.
struct Built<'a> {
    name: &'a str,
    target: &'a str,
    spec: &'a Value,
}

impl Built<'_> {
    fn env(&self) -> BTreeMap<String, String> {
        self.spec["environment"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_owned)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Container ports the service publishes.
    fn published(&self) -> BTreeSet<u16> {
        strings(&self.spec["ports"])
            .iter()
            .map(|p| p.rsplit(':').next().unwrap().parse().unwrap())
            .collect()
    }

    /// The spec folder's `bff.yaml` as the container sees it: the mounted
    /// folder's, or a file mounted over it.
    fn bff_yaml(&self) -> String {
        let volumes = strings(&self.spec["volumes"]);
        let source = |target: &str| {
            volumes.iter().find_map(|v| {
                let mut parts = v.split(':');
                let (src, dst) = (parts.next()?, parts.next()?);
                (dst == target).then(|| src.trim_start_matches("./").to_owned())
            })
        };
        let folder = source(SPECS_IN_IMAGE)
            .unwrap_or_else(|| panic!("{}: no spec folder mounted at {SPECS_IN_IMAGE}", self.name));
        assert_eq!(
            folder,
            format!(
                "composition-specs/{}",
                self.target.trim_start_matches("bff-")
            ),
            "{}: mounts another BFF's specs",
            self.name
        );
        read(&source(&format!("{SPECS_IN_IMAGE}/bff.yaml")).unwrap_or(format!("{folder}/bff.yaml")))
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

fn built(compose: &Value) -> Vec<Built<'_>> {
    compose["services"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(name, spec)| {
            Some(Built {
                name,
                target: spec["build"]["target"].as_str()?,
                spec,
            })
        })
        .collect()
}

fn bffs(compose: &Value) -> Vec<Built<'_>> {
    built(compose)
        .into_iter()
        .filter(|b| BFFS.contains(&b.target))
        .collect()
}

/// `BFF_WEB_LISTEN`, `BFF_WEB_ADMIN_LISTEN` for `bff-web`.
fn listen_vars(target: &str) -> (String, String) {
    let upper = target.trim_start_matches("bff-").to_ascii_uppercase();
    (
        format!("BFF_{upper}_LISTEN"),
        format!("BFF_{upper}_ADMIN_LISTEN"),
    )
}

#[test]
fn compose_file_follows_the_compose_specification() {
    run_checker(
        "check-jsonschema",
        &[
            "--builtin-schema",
            "vendor.compose-spec",
            "docker-compose.yml",
        ],
    );
}

#[test]
fn compose_builds_dockerfile_targets_and_the_images_agree_with_it() {
    let compose = yaml("docker-compose.yml");
    let stages = dockerfile_stages();
    let stage = |name: &str| {
        stages
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("the Dockerfile has no target `{name}`"))
    };
    for b in built(&compose) {
        assert_eq!(b.spec["build"]["context"], ".", "{}", b.name);
        stage(b.target);
    }
    for bff in BFFS {
        let stage = stage(bff);
        assert!(stage.healthcheck, "{bff}: no HEALTHCHECK");
        let (listen, admin) = listen_vars(bff);
        let services = bffs(&compose);
        let services: Vec<_> = services.iter().filter(|b| b.target == bff).collect();
        assert!(!services.is_empty(), "compose runs no {bff}");
        for b in services {
            let env = b.env();
            for var in [&listen, &admin] {
                assert_eq!(
                    env.get(var),
                    stage.env.get(var),
                    "{}: {var} differs from the image's default",
                    b.name
                );
                assert!(
                    stage.expose.contains(&port_of(&env[var])),
                    "{bff}: the image does not EXPOSE {var}'s port"
                );
            }
        }
    }
    let runtime = stage("runtime");
    assert_eq!(runtime.env["BFF_SPECS"], SPECS_IN_IMAGE);
    assert!(
        read("Dockerfile").contains("USER 65532:65532"),
        "images run as a non-root user"
    );
}

#[test]
fn every_demo_service_runs_under_its_own_name_and_port() {
    let compose = yaml("docker-compose.yml");
    let demo: Vec<_> = built(&compose)
        .into_iter()
        .filter(|b| b.target == "bff-demo")
        .collect();
    let mut seen = BTreeSet::new();
    for b in &demo {
        let command = strings(&b.spec["command"]);
        let at = command.iter().position(|a| a == "--services").unwrap();
        let name = &command[at + 1];
        assert_eq!(
            name, b.name,
            "the compose service is named after its demo service"
        );
        let service = Service::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .unwrap_or_else(|| panic!("{name} is not a demo service"));
        let port = service.default_port();
        assert!(
            b.published().contains(&port),
            "{name}: port {port} not published"
        );
        let check = strings(&b.spec["healthcheck"]["test"]).join(" ");
        assert!(
            check.contains(&format!(":{port}/health")),
            "{name}: {check}"
        );
        let vars = variables_read_by("bff-demo");
        for var in b.env().keys() {
            assert!(vars.contains(var), "{name}: nobody reads {var}");
        }
        seen.insert(service.name());
    }
    let all: BTreeSet<&str> = Service::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(seen, all, "compose runs every demo service");
}

#[test]
fn every_variable_a_bff_gets_is_read_and_every_required_one_is_set() {
    let compose = yaml("docker-compose.yml");
    let services = &compose["services"];
    let demo_port = |host: &str| {
        Service::ALL
            .into_iter()
            .find(|s| s.name() == host)
            .map(Service::default_port)
    };
    for b in bffs(&compose) {
        let env = b.env();
        let bff_yaml = b.bff_yaml();
        let refs = env_references(&bff_yaml);
        let read_by_binary = variables_read_by(b.target);
        for var in env.keys() {
            assert!(
                refs.contains_key(var) || read_by_binary.contains(var),
                "{}: {var} is set, but neither its bff.yaml nor {} reads it",
                b.name,
                b.target
            );
        }
        for (var, has_default) in &refs {
            assert!(
                *has_default || env.contains_key(var),
                "{}: bff.yaml needs {var}",
                b.name
            );
        }
        // Every service URL reaches a demo service on its port, and every
        // service the specs call is pointed at one.
        for (var, value) in &env {
            if !var.ends_with("_URL") {
                continue;
            }
            let host = host_of(value);
            assert!(
                services.get(host).is_some(),
                "{}: {var} names `{host}`, which compose does not run",
                b.name
            );
            if let Some(port) = demo_port(host) {
                assert_eq!(port_of(value), port, "{}: {var}", b.name);
            }
        }
        for var in refs.keys().filter(|v| v.ends_with("_URL")) {
            assert!(
                env.contains_key(var),
                "{}: {var} is left at its default",
                b.name
            );
        }
        let otlp = &env["OTEL_EXPORTER_OTLP_ENDPOINT"];
        assert!(services.get(host_of(otlp)).is_some(), "{otlp}");
        assert_eq!(env["OTEL_SERVICE_NAME"], b.target, "{}", b.name);
    }
}

#[test]
fn listeners_are_reachable_and_scraped() {
    let compose = yaml("docker-compose.yml");
    let lb = read("deploy/nginx/partner-lb.conf");
    let upstreams: BTreeSet<String> = lb
        .lines()
        .filter_map(|l| l.trim().strip_prefix("server "))
        .filter(|rest| rest.ends_with(';'))
        .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
        .collect();
    let prometheus = yaml("deploy/prometheus/prometheus.yml");
    let mut scraped = BTreeSet::new();
    for job in prometheus["scrape_configs"].as_array().unwrap() {
        assert_eq!(job["metrics_path"], "/metrics");
        for group in job["static_configs"].as_array().unwrap() {
            scraped.extend(strings(&group["targets"]));
        }
    }
    let mut admins = BTreeSet::new();
    let mut replicas = BTreeSet::new();
    for b in bffs(&compose) {
        let env = b.env();
        let (listen, admin) = listen_vars(b.target);
        let (listen, admin) = (port_of(&env[&listen]), port_of(&env[&admin]));
        admins.insert(format!("{}:{admin}", b.name));
        if b.target == "bff-partner" {
            // Reached through the load balancer only.
            replicas.insert(format!("{}:{listen}", b.name));
        } else {
            assert!(
                b.published().contains(&listen),
                "{}: {listen} not published",
                b.name
            );
        }
    }
    assert_eq!(scraped, admins, "Prometheus scrapes every admin listener");
    assert!(replicas.len() >= 2, "bff-partner runs as several replicas");
    assert_eq!(
        upstreams, replicas,
        "the load balancer sends to every replica"
    );
    let lb_port: u16 = lb
        .lines()
        .find_map(|l| l.trim().strip_prefix("listen "))
        .map(|p| p.trim_end_matches(';').parse().unwrap())
        .unwrap();
    let published = strings(&compose["services"]["partner-lb"]["ports"]);
    assert!(
        published.contains(&format!("8083:{lb_port}")),
        "{published:?}"
    );
}

#[test]
fn mounted_files_exist() {
    let compose = yaml("docker-compose.yml");
    for (name, spec) in compose["services"].as_object().unwrap() {
        for volume in strings(&spec["volumes"]) {
            let source = volume.split(':').next().unwrap();
            if let Some(relative) = source.strip_prefix("./") {
                assert!(
                    workspace_root().join(relative).exists(),
                    "{name}: {source} does not exist"
                );
            }
        }
    }
    let collector = yaml("deploy/otel-collector/config.yaml");
    let exporter = collector["exporters"]["otlp/jaeger"]["endpoint"]
        .as_str()
        .unwrap();
    assert!(compose["services"].get(host_of(exporter)).is_some());
    let receiver = collector["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
        .as_str()
        .unwrap();
    for b in bffs(&compose) {
        assert_eq!(
            port_of(&b.env()["OTEL_EXPORTER_OTLP_ENDPOINT"]),
            port_of(receiver)
        );
    }
}

/// Removes what moves state into Redis: `redis`, `cache.store` and each
/// rate limit's `store` and `on_store_error`.
fn without_shared_state(mut config: Value) -> Value {
    let map = config.as_object_mut().unwrap();
    map.remove("redis");
    if let Some(cache) = map.get_mut("cache").and_then(Value::as_object_mut) {
        cache.remove("store");
        if cache.is_empty() {
            map.remove("cache");
        }
    }
    if let Some(limits) = map.get_mut("rate_limits").and_then(Value::as_object_mut) {
        for policy in limits.values_mut() {
            let policy = policy.as_object_mut().unwrap();
            policy.remove("store");
            policy.remove("on_store_error");
        }
    }
    config
}

#[test]
fn replicas_share_state_and_otherwise_run_the_shipped_specs() {
    let shipped = yaml("composition-specs/partner/bff.yaml");
    let replicated = yaml("deploy/specs/partner/bff.yaml");
    assert_eq!(replicated["cache"]["store"], "redis");
    assert!(
        replicated["redis"]["url"]
            .as_str()
            .unwrap()
            .starts_with("${REDIS_URL")
    );
    for (name, policy) in replicated["rate_limits"].as_object().unwrap() {
        assert_eq!(policy["store"], "redis", "rate limit {name}");
    }
    assert_eq!(
        without_shared_state(replicated),
        without_shared_state(shipped),
        "deploy/specs/partner/bff.yaml differs from the shipped one beyond Redis"
    );
    // And the folder loads with it.
    let dir = tempfile::tempdir().unwrap();
    copy_tree(
        &workspace_root().join("composition-specs/partner"),
        dir.path(),
    );
    std::fs::copy(
        workspace_root().join("deploy/specs/partner/bff.yaml"),
        dir.path().join("bff.yaml"),
    )
    .unwrap();
    let plan = bff_core::plan::load(dir.path()).unwrap_or_else(|d| panic!("{d}"));
    assert!(!plan.endpoints.is_empty());
    assert_eq!(without_shared_state(json!({"cache": {}})), json!({}));
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}
