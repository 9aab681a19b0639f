//! The Kubernetes manifests of `deploy/`, what `kubectl apply -f deploy/` applies: every
//! document parses into its Kubernetes type with no field the type lacks (k8s-openapi ignores
//! unknown fields, so a typo is caught by writing the object back and comparing), and the
//! documents agree with each other and with podwire: the ConfigMap holds a config the daemon
//! accepts, the DaemonSet runs as the ServiceAccount the ClusterRole is bound to, the
//! ClusterRole reads every kind podwire watches and its only write is patch on Nodes (the
//! node's tunnel address), every mount names a volume, the plugin the init container
//! installs finds the daemon's API socket, and the probes ask the daemon's health listener.
//! No root needed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Namespace, PodSpec, Probe, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use podwire_model::cluster::ObjectKind;
use podwire_model::config::{ClusterSource, Config};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

const PODWIRE: &str = env!("CARGO_BIN_EXE_podwire");

/// The config's variable that the DaemonSet may leave unset: the daemon then reads it from
/// its Node's `podwire.io/tunnel-address` annotation.
const FROM_THE_NODE: &str = "PODWIRE_TUNNEL_ADDRESS";

/// The config's `${VAR}`s as a node would have them.
const NODE_VALUES: [(&str, &str); 2] = [("NODE_NAME", "node-a"), (FROM_THE_NODE, "10.0.0.201")];

/// One document of `deploy/`, by kind.
#[derive(Debug)]
enum Manifest {
    Namespace(Namespace),
    ServiceAccount(ServiceAccount),
    ClusterRole(ClusterRole),
    ClusterRoleBinding(ClusterRoleBinding),
    ConfigMap(ConfigMap),
    DaemonSet(Box<DaemonSet>),
}

/// Every document of `deploy/`, by kind.
#[derive(Debug, Default)]
struct Deploy {
    namespaces: Vec<Namespace>,
    service_accounts: Vec<ServiceAccount>,
    cluster_roles: Vec<ClusterRole>,
    bindings: Vec<ClusterRoleBinding>,
    config_maps: Vec<ConfigMap>,
    daemon_sets: Vec<DaemonSet>,
}

impl Deploy {
    /// Reads every manifest of `deploy/` (the `.yaml`, `.yml` and `.json` files, which are
    /// those `kubectl apply -f` takes), failing with every problem of every document.
    fn load() -> Deploy {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|entry| entry.expect("list deploy/").path())
            .filter(|path| {
                let extension = path.extension().and_then(|e| e.to_str());
                matches!(extension, Some("yaml" | "yml" | "json"))
            })
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} has no manifest", dir.display());
        let mut deploy = Deploy::default();
        let mut problems = Vec::new();
        for file in &files {
            let name = file.file_name().unwrap().to_string_lossy();
            let text = std::fs::read_to_string(file).expect("read a manifest");
            let documents: Vec<Value> = serde_saphyr::from_multiple(&text)
                .unwrap_or_else(|e| panic!("deploy/{name} is not valid YAML: {e}"));
            let documents = documents.into_iter().filter(|d| !d.is_null());
            for (n, document) in documents.enumerate() {
                let place = format!("deploy/{name}, document {} ({})", n + 1, label(&document));
                match parse_document(&document) {
                    Ok(manifest) => deploy.add(manifest),
                    Err(found) => problems.extend(found.iter().map(|p| format!("{place}: {p}"))),
                }
            }
        }
        assert!(problems.is_empty(), "\n{}", problems.join("\n"));
        deploy
    }

    fn add(&mut self, manifest: Manifest) {
        match manifest {
            Manifest::Namespace(o) => self.namespaces.push(o),
            Manifest::ServiceAccount(o) => self.service_accounts.push(o),
            Manifest::ClusterRole(o) => self.cluster_roles.push(o),
            Manifest::ClusterRoleBinding(o) => self.bindings.push(o),
            Manifest::ConfigMap(o) => self.config_maps.push(o),
            Manifest::DaemonSet(o) => self.daemon_sets.push(*o),
        }
    }

    fn namespace(&self) -> &str {
        name(&only("Namespace", &self.namespaces).metadata)
    }

    fn service_account(&self) -> &ServiceAccount {
        only("ServiceAccount", &self.service_accounts)
    }

    fn cluster_role(&self) -> &ClusterRole {
        only("ClusterRole", &self.cluster_roles)
    }

    fn binding(&self) -> &ClusterRoleBinding {
        only("ClusterRoleBinding", &self.bindings)
    }

    fn daemon_set(&self) -> &DaemonSet {
        only("DaemonSet", &self.daemon_sets)
    }

    fn pod(&self) -> &PodSpec {
        let template = &self.daemon_set().spec.template;
        template
            .spec
            .as_ref()
            .expect("the DaemonSet's template has a spec")
    }

    /// The daemon's container: the one that runs `podwire daemon`.
    fn daemon(&self) -> &Container {
        let daemons: Vec<_> = self
            .pod()
            .containers
            .iter()
            .filter(|c| command(c).get(1).map(String::as_str) == Some("daemon"))
            .collect();
        assert_eq!(daemons.len(), 1, "one container runs `podwire daemon`");
        daemons[0]
    }

    /// The ConfigMap named `name` in podwire's namespace.
    fn config_map(&self, name: &str) -> Option<&ConfigMap> {
        self.config_maps.iter().find(|c| {
            c.metadata.name.as_deref() == Some(name)
                && c.metadata.namespace.as_deref() == Some(self.namespace())
        })
    }

    /// The text of the file `--config` names, from the ConfigMap mounted there.
    fn daemon_config_text(&self) -> &str {
        let daemon = self.daemon();
        let path = flag(&command(daemon), "--config").expect("the daemon is given --config");
        let (mount, volume) = mount_of(self.pod(), daemon, Path::new(&path))
            .unwrap_or_else(|| panic!("--config {path} is on no mounted volume"));
        let source = volume.config_map.as_ref().unwrap_or_else(|| {
            panic!(
                "--config {path} is on volume {}, not a ConfigMap",
                volume.name
            )
        });
        let file = Path::new(&path)
            .strip_prefix(&mount.mount_path)
            .expect("the mount holds the path")
            .to_str()
            .unwrap();
        let key = match &source.items {
            Some(items) => {
                let item = items.iter().find(|item| item.path == file);
                &item
                    .unwrap_or_else(|| panic!("no item of {} is {file}", volume.name))
                    .key
            }
            None => file,
        };
        let config_map = self.config_map(&source.name).unwrap_or_else(|| {
            panic!(
                "the ConfigMap {} of --config is not in deploy/",
                source.name
            )
        });
        let data = config_map.data.as_ref().expect("the ConfigMap has data");
        data.get(key)
            .unwrap_or_else(|| panic!("ConfigMap {} has no key {key}", source.name))
    }

    /// The daemon's config as it loads it on a node with [`NODE_VALUES`].
    fn daemon_config(&self) -> Config {
        let text = substitute(self.daemon_config_text(), &NODE_VALUES);
        Config::parse(&text).unwrap_or_else(|e| panic!("the daemon refuses the config: {e}"))
    }
}

/// One document as its Kubernetes type; every problem, each naming its field's path.
fn parse_document(document: &Value) -> Result<Manifest, Vec<String>> {
    match document
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
    {
        "Namespace" => strict(document).map(Manifest::Namespace),
        "ServiceAccount" => strict(document).map(Manifest::ServiceAccount),
        "ClusterRole" => strict(document).map(Manifest::ClusterRole),
        "ClusterRoleBinding" => strict(document).map(Manifest::ClusterRoleBinding),
        "ConfigMap" => strict(document).map(Manifest::ConfigMap),
        "DaemonSet" => strict(document).map(|o| Manifest::DaemonSet(Box::new(o))),
        other => Err(vec![format!(
            "kind: {other:?} is not a kind deploy/ holds (Namespace, ServiceAccount, \
             ClusterRole, ClusterRoleBinding, ConfigMap, DaemonSet)"
        )]),
    }
}

/// `document` as a `T` that, written back, still has every field of `document` (a misspelt
/// field is lost, since k8s-openapi ignores what its types do not have).
fn strict<T: DeserializeOwned + Serialize>(document: &Value) -> Result<T, Vec<String>> {
    let typed: T = serde_json::from_value(document.clone())
        .map_err(|e| vec![format!("does not parse: {e}")])?;
    let written = serde_json::to_value(&typed).expect("a Kubernetes object serializes");
    let lost: Vec<String> = podwire_k8s::object::unknown_fields(document, &written)
        .iter()
        .map(ToString::to_string)
        .collect();
    match lost.is_empty() {
        true => Ok(typed),
        false => Err(lost),
    }
}

/// `Kind namespace/name` of a document, for messages.
fn label(document: &Value) -> String {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("?").to_owned();
    let meta = document.get("metadata");
    let name = text(meta.and_then(|m| m.get("name")));
    let kind = text(document.get("kind"));
    match meta.and_then(|m| m.get("namespace")) {
        Some(namespace) => format!("{kind} {}/{name}", text(Some(namespace))),
        None => format!("{kind} {name}"),
    }
}

fn only<'a, T>(kind: &str, objects: &'a [T]) -> &'a T {
    match objects {
        [object] => object,
        _ => panic!("deploy/ has {} {kind}s; it should have one", objects.len()),
    }
}

fn name(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    meta.name.as_deref().expect("every object has a name")
}

/// A container's whole command line (`command`, then `args`).
fn command(container: &Container) -> Vec<String> {
    let command = container.command.iter().flatten();
    command
        .chain(container.args.iter().flatten())
        .cloned()
        .collect()
}

/// The value of `--name` on a command line, written `--name=V` or `--name V`.
fn flag(command: &[String], name: &str) -> Option<String> {
    let joined = format!("{name}=");
    command
        .iter()
        .enumerate()
        .find_map(|(i, arg)| match arg.strip_prefix(&joined) {
            Some(value) => Some(value.to_owned()),
            None if arg == name => command.get(i + 1).cloned(),
            None => None,
        })
}

/// The mount of `container` that holds `path` (the deepest one), and its volume.
fn mount_of<'a>(
    pod: &'a PodSpec,
    container: &'a Container,
    path: &Path,
) -> Option<(
    &'a k8s_openapi::api::core::v1::VolumeMount,
    &'a k8s_openapi::api::core::v1::Volume,
)> {
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| path.starts_with(&m.mount_path))
        .max_by_key(|m| m.mount_path.len())?;
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)?;
    Some((mount, volume))
}

/// Where `path` of `container` is on the host, when a hostPath volume holds it.
fn host_path(pod: &PodSpec, container: &Container, path: &Path) -> Option<PathBuf> {
    let (mount, volume) = mount_of(pod, container, path)?;
    let host = &volume.host_path.as_ref()?.path;
    Some(Path::new(host).join(path.strip_prefix(&mount.mount_path).ok()?))
}

/// `text` with each `${VAR}` of `values` replaced; fails on a variable it has no value for.
fn substitute(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (var, value) in values {
        out = out.replace(&format!("${{{var}}}"), value);
    }
    let unset = variables(&out);
    assert!(unset.is_empty(), "no value for the config's {unset:?}");
    out
}

/// The `${VAR}` names in `text`.
fn variables(text: &str) -> BTreeSet<&str> {
    text.split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(var, _)| var))
        .collect()
}

/// The API group and resource of each kind podwire watches. The match has every kind, so a
/// new one does not compile until it is added here and, with its resource, to the
/// ClusterRole.
fn resource(kind: ObjectKind) -> (&'static str, &'static str) {
    match kind {
        ObjectKind::Namespace => ("", "namespaces"),
        ObjectKind::Pod => ("", "pods"),
        ObjectKind::Service => ("", "services"),
        ObjectKind::EndpointSlice => ("discovery.k8s.io", "endpointslices"),
        ObjectKind::NetworkPolicy => ("networking.k8s.io", "networkpolicies"),
        ObjectKind::ClusterNetworkPolicy => ("policy.networking.k8s.io", "clusternetworkpolicies"),
        ObjectKind::Node => ("", "nodes"),
    }
}

#[test]
fn every_manifest_parses_into_its_kubernetes_type() {
    let deploy = Deploy::load();
    assert_eq!(deploy.namespace(), "podwire-system");
    deploy.service_account();
    deploy.cluster_role();
    deploy.binding();
    deploy.daemon_set();
    assert!(!deploy.config_maps.is_empty(), "deploy/ has no ConfigMap");
}

#[test]
fn a_typo_fails_with_the_path_of_the_field() {
    let document = |text: &str| -> Value { serde_saphyr::from_str(text).expect("valid YAML") };
    let misspelt = document(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: p}\nspec:\n  selector: {}\n  \
         template:\n    spec:\n      hostNetwrk: true\n      containers: [{name: c}]\n",
    );
    assert_eq!(
        parse_document(&misspelt).unwrap_err(),
        [
            "spec.template.spec.hostNetwrk: is not a field of this kind of object: check its \
          spelling and indentation"
        ]
    );
    let wrong_type =
        document("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: [1]}\n");
    let problems = parse_document(&wrong_type).unwrap_err();
    assert!(problems[0].starts_with("does not parse"), "{problems:?}");
    let wrong_version = document("apiVersion: apps/v2\nkind: DaemonSet\nmetadata: {name: p}\n");
    assert!(parse_document(&wrong_version).is_err());
    let unknown_kind = document("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: p}\n");
    assert!(parse_document(&unknown_kind).unwrap_err()[0].contains("\"Deployment\""));
}

#[test]
fn the_config_map_holds_a_config_the_daemon_accepts() {
    let deploy = Deploy::load();
    let config = deploy.daemon_config();
    assert_eq!(config.node.name, "node-a");
    assert!(
        matches!(config.cluster.source, ClusterSource::Kubernetes(_)),
        "{:?}",
        config.cluster.source
    );
    // Every variable comes from the daemon's environment, or from its Node.
    let env: BTreeSet<&str> = deploy
        .daemon()
        .env
        .iter()
        .flatten()
        .map(|var| var.name.as_str())
        .chain([FROM_THE_NODE])
        .collect();
    let unset: Vec<_> = variables(deploy.daemon_config_text())
        .into_iter()
        .filter(|var| !env.contains(var))
        .collect();
    assert!(
        unset.is_empty(),
        "the daemon's environment has no {unset:?}"
    );
    let node_name = deploy
        .daemon()
        .env
        .iter()
        .flatten()
        .find(|var| var.name == "NODE_NAME")
        .and_then(|var| var.value_from.as_ref()?.field_ref.as_ref());
    assert_eq!(
        node_name.map(|f| f.field_path.as_str()),
        Some("spec.nodeName")
    );
}

#[test]
fn the_daemon_runs_as_the_service_account_the_cluster_role_is_bound_to() {
    let deploy = Deploy::load();
    let account = deploy.service_account();
    let daemon_set = deploy.daemon_set();
    let namespace = deploy.namespace();
    for meta in [&account.metadata, &daemon_set.metadata]
        .into_iter()
        .chain(deploy.config_maps.iter().map(|c| &c.metadata))
    {
        assert_eq!(meta.namespace.as_deref(), Some(namespace), "{meta:?}");
    }
    assert_eq!(
        deploy.pod().service_account_name.as_deref(),
        Some(name(&account.metadata))
    );
    let binding = deploy.binding();
    assert_eq!(binding.role_ref.kind, "ClusterRole");
    assert_eq!(binding.role_ref.name, name(&deploy.cluster_role().metadata));
    let bound = binding.subjects.iter().flatten().any(|s| {
        s.kind == "ServiceAccount"
            && s.name == name(&account.metadata)
            && s.namespace.as_deref() == Some(namespace)
    });
    assert!(
        bound,
        "the binding's subjects are not the ServiceAccount: {binding:?}"
    );
}

/// The one write the daemon makes: its node's tunnel address, an annotation of its Node.
const THE_WRITE: (&str, &str, &str) = ("", "nodes", "patch");

#[test]
fn the_cluster_role_reads_every_kind_podwire_watches_and_only_patches_nodes() {
    let deploy = Deploy::load();
    let role = deploy.cluster_role();
    assert!(
        role.aggregation_rule.is_none(),
        "an aggregated role grants what others add"
    );
    let rules = role.rules.as_deref().unwrap_or_default();
    let granted = |group: &str, resource: &str, verb: &str| {
        rules.iter().any(|rule| {
            rule.api_groups.iter().flatten().any(|g| g == group)
                && rule.resources.iter().flatten().any(|r| r == resource)
                && rule.verbs.iter().any(|v| v == verb)
        })
    };
    for kind in ObjectKind::ALL {
        let (group, resource) = resource(kind);
        for verb in ["get", "list", "watch"] {
            assert!(
                granted(group, resource, verb),
                "{kind}: no {verb} on {resource} of API group {group:?}"
            );
        }
    }
    let (group, nodes, patch) = THE_WRITE;
    assert!(
        granted(group, nodes, patch),
        "no {patch} on {nodes}: the daemon cannot publish its tunnel address"
    );
    let watched: BTreeSet<_> = ObjectKind::ALL.into_iter().map(resource).collect();
    for rule in rules {
        assert!(rule.non_resource_urls.is_none(), "{rule:?}");
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    let grant = (group.as_str(), resource.as_str(), verb.as_str());
                    match verb.as_str() {
                        "get" | "list" | "watch" => assert!(
                            watched.contains(&(grant.0, grant.1)),
                            "{group}/{resource} is not a kind podwire watches"
                        ),
                        _ => {
                            assert_eq!(grant, THE_WRITE, "a write beyond patch on nodes: {rule:?}")
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn every_mount_names_a_volume_and_every_config_map_reference_exists() {
    let deploy = Deploy::load();
    let pod = deploy.pod();
    let volumes: BTreeSet<&str> = pod
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect();
    let containers = pod.init_containers.iter().flatten().chain(&pod.containers);
    let mut mounted = BTreeSet::new();
    for container in containers {
        for mount in container.volume_mounts.iter().flatten() {
            assert!(
                volumes.contains(mount.name.as_str()),
                "container {} mounts {}, which is not a volume",
                container.name,
                mount.name
            );
            mounted.insert(mount.name.as_str());
        }
        for var in container.env.iter().flatten() {
            let Some(key) = var
                .value_from
                .as_ref()
                .and_then(|v| v.config_map_key_ref.as_ref())
            else {
                continue;
            };
            let data = deploy.config_map(&key.name).and_then(|c| c.data.as_ref());
            assert!(
                data.is_some_and(|data| data.contains_key(&key.key)),
                "{} takes key {} of ConfigMap {}, which is not in deploy/",
                var.name,
                key.key,
                key.name
            );
        }
    }
    assert_eq!(mounted, volumes, "every volume is mounted somewhere");
    for volume in pod.volumes.iter().flatten() {
        let Some(source) = &volume.config_map else {
            continue;
        };
        let config_map = deploy.config_map(&source.name);
        let data = config_map.and_then(|c| c.data.as_ref());
        let data = data.unwrap_or_else(|| {
            panic!(
                "volume {} is ConfigMap {}, which is not in deploy/",
                volume.name, source.name
            )
        });
        for item in source.items.iter().flatten() {
            assert!(
                data.contains_key(&item.key),
                "ConfigMap {} has no {}",
                source.name,
                item.key
            );
        }
    }
}

#[test]
fn the_installed_plugin_finds_the_daemon_and_the_probes_ask_its_health() {
    let deploy = Deploy::load();
    let pod = deploy.pod();
    let installers: Vec<_> = pod
        .init_containers
        .iter()
        .flatten()
        .filter(|c| command(c).get(1).map(String::as_str) == Some("install-cni"))
        .collect();
    let [installer] = installers[..] else {
        panic!("one init container runs `podwire install-cni`: {installers:?}");
    };

    // Run the init container's command with the host's directories under `host`.
    let host = tempfile::tempdir().expect("make a temporary directory");
    // A path on no hostPath volume would be written on this machine itself: refused.
    let on_host = |arg: &str| match arg.starts_with('/') {
        true => {
            let path = host_path(pod, installer, Path::new(arg))
                .unwrap_or_else(|| panic!("{arg} of the init container is on no hostPath volume"));
            let path = path.strip_prefix("/").expect("a host path is absolute");
            host.path().join(path).to_string_lossy().into_owned()
        }
        false => arg.to_owned(),
    };
    let args: Vec<String> = command(installer)[1..]
        .iter()
        .map(|arg| match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => format!("{flag}={}", on_host(value)),
            _ => on_host(arg),
        })
        .collect();
    let output = Command::new(PODWIRE)
        .args(&args)
        .env_remove("CNI_COMMAND")
        .output()
        .expect("run podwire install-cni");
    assert!(
        output.status.success(),
        "podwire {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Where the kubelet's runtime looks for plugins and network configs.
    assert!(host.path().join("opt/cni/bin/podwire").is_file());
    let conflist = host.path().join("etc/cni/net.d/10-podwire.conflist");
    let conflist = std::fs::read(&conflist)
        .unwrap_or_else(|e| panic!("install-cni wrote no {}: {e}", conflist.display()));
    let conflist: Value = serde_json::from_slice(&conflist).expect("the conflist is JSON");
    let agent_socket = conflist["plugins"][0]["agentSocket"]
        .as_str()
        .expect("agentSocket");

    let config = deploy.daemon_config();
    let daemon = deploy.daemon();
    let socket_on_host = host_path(pod, daemon, &config.node.api_socket);
    assert_eq!(
        socket_on_host.as_deref(),
        Some(Path::new(agent_socket)),
        "the plugin on the host connects to {agent_socket}, so the daemon's socket {} must \
         be there on the host",
        config.node.api_socket.display()
    );
    // The attachments outlive the container.
    assert!(host_path(pod, daemon, &config.node.state_dir).is_some());

    let probes: Vec<&Probe> = [
        &daemon.startup_probe,
        &daemon.liveness_probe,
        &daemon.readiness_probe,
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(!probes.is_empty(), "the daemon has no probe");
    for probe in probes {
        let get = probe.http_get.as_ref().expect("an HTTP probe");
        let port = match &get.port {
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(port) => *port,
            named => panic!("probe port {named:?} is not a number"),
        };
        let host: std::net::IpAddr = get.host.as_deref().unwrap_or_default().parse().unwrap();
        let asked = std::net::SocketAddr::new(host, port.try_into().expect("a port number"));
        assert_eq!(
            asked, config.node.metrics_listen,
            "a probe asks {asked}, where the daemon's node.metrics_listen is not"
        );
        assert_eq!(get.path.as_deref(), Some("/healthz"));
    }
}
