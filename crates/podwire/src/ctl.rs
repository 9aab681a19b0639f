//! `podwire ctl`: asks the running agent over its API socket and prints what it answers, as
//! aligned tables in the manner of VPP's `show` commands, or as JSON with `--json`.

use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use podwire_agent::api::DEFAULT_TRANSACTIONS;
use podwire_agent::api::client::{Client, ClientError};
use podwire_model::api::{
    ErrorView, Health, InterfaceView, NeighborView, NodeRuntimeView, RouteView, TraceView,
    TransactionView,
};
use podwire_model::attach::{Attachment, NetworkStatus};
use podwire_model::cluster::{
    EndpointView, ManifestReport, ManifestRequest, NodeView, ObjectKey, ObjectKind, ObjectStatus,
    ObjectView, PodView, ServiceView,
};
use podwire_model::config::DEFAULT_API_SOCKET;
use podwire_model::policy::{ExplainRequest, Explanation, PolicyRuleView, Verdict};
use podwire_model::service::Protocol;
use serde::Serialize;

/// `podwire ctl [--socket PATH] [--json] COMMAND`
#[derive(Debug, clap::Args)]
pub struct CtlArgs {
    /// The agent's API socket.
    #[arg(long, global = true, env = "PODWIRE_SOCKET", default_value = DEFAULT_API_SOCKET)]
    pub socket: PathBuf,
    /// Print the agent's answer as JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// `wide`: `get` tables with more columns and every status with its reason; `json`: as
    /// `--json`.
    #[arg(short = 'o', long, global = true, value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,
    /// What to do.
    #[command(subcommand)]
    pub command: CtlCommand,
}

impl CtlArgs {
    /// Whether to print JSON: `--json` or `-o json`.
    fn wants_json(&self) -> bool {
        self.json || self.output == Some(OutputFormat::Json)
    }

    /// Whether tables show every column and the reasons of statuses: `-o wide`.
    fn wants_wide(&self) -> bool {
        self.output == Some(OutputFormat::Wide)
    }
}

/// What `-o` / `--output` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Tables with more columns, and each status with its reason.
    Wide,
    /// JSON, as `--json`.
    Json,
}

/// The commands of `podwire ctl`.
#[derive(Debug, clap::Subcommand)]
pub enum CtlCommand {
    /// Show the data plane's state.
    #[command(subcommand)]
    Show(ShowCommand),
    /// Trace packets through the graph.
    #[command(subcommand)]
    Trace(TraceCommand),
    /// Create or replace the Kubernetes objects of a manifest (Namespaces, Pods, Services,
    /// EndpointSlices, NetworkPolicies) in the agent's cluster store, all or none.
    Apply(ManifestArgs),
    /// Remove the Kubernetes objects of a manifest from the agent's cluster store.
    Delete(ManifestArgs),
    /// List the objects of the agent's cluster store, with what the data plane made of them.
    #[command(subcommand)]
    Get(GetCommand),
    /// Whether the NetworkPolicies allow a new connection, and the policy and rule that
    /// decided. Exits 0 whether it is allowed or denied.
    Explain(ExplainArgs),
}

/// The connection `podwire ctl explain` asks about.
#[derive(Debug, Clone, clap::Args)]
pub struct ExplainArgs {
    /// The client: a pod as NAMESPACE/POD, or an IP address.
    #[arg(long, value_name = "NS/POD|IP", value_parser = parse_party)]
    pub from: String,
    /// The server: a pod as NAMESPACE/POD, or an IP address (a pod's, after any Service
    /// translation).
    #[arg(long, value_name = "NS/POD|IP", value_parser = parse_party)]
    pub to: String,
    /// The destination port: tcp/80, udp/53, sctp/9 (any case); a bare 80 means TCP.
    #[arg(long, value_name = "PROTO/PORT", value_parser = parse_port)]
    pub port: DestinationPort,
}

/// A destination port and its protocol, as `--port` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestinationPort {
    /// TCP, UDP or SCTP.
    pub protocol: Protocol,
    /// 1 to 65535.
    pub port: u16,
}

/// `--from` and `--to`: `NAMESPACE/POD` or an IP address, as given.
fn parse_party(value: &str) -> Result<String, String> {
    let pod = value.split_once('/').is_some_and(|(namespace, name)| {
        !namespace.is_empty() && !name.is_empty() && !name.contains('/')
    });
    if pod || value.parse::<IpAddr>().is_ok() {
        Ok(value.to_owned())
    } else {
        Err("give a pod as NAMESPACE/POD, or an IP address".to_owned())
    }
}

/// `--port`: `PROTO/PORT` with `PROTO` tcp, udp or sctp in any case, or a bare `PORT` for TCP.
fn parse_port(value: &str) -> Result<DestinationPort, String> {
    let (protocol, port) = match value.split_once('/') {
        None => (Protocol::Tcp, value),
        Some((name, port)) => {
            let protocol = match name.to_ascii_lowercase().as_str() {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                "sctp" => Protocol::Sctp,
                _ => {
                    return Err(format!(
                        "{name:?} is not a protocol NetworkPolicies match: give tcp, udp or sctp, as in tcp/80"
                    ));
                }
            };
            (protocol, port)
        }
    };
    match port.parse::<u16>() {
        Ok(port) if port != 0 => Ok(DestinationPort { protocol, port }),
        _ => Err(format!(
            "{port:?} is not a port: give a number from 1 to 65535, as in tcp/80"
        )),
    }
}

impl ExplainArgs {
    fn request(&self) -> ExplainRequest {
        ExplainRequest {
            from: self.from.clone(),
            to: self.to.clone(),
            protocol: self.port.protocol,
            port: self.port.port,
        }
    }
}

/// The manifest of `podwire ctl apply` and `podwire ctl delete`.
#[derive(Debug, Clone, clap::Args)]
pub struct ManifestArgs {
    /// A file of Kubernetes YAML or JSON documents separated by `---`; `-` reads standard
    /// input.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: PathBuf,
}

/// What `podwire ctl get` lists.
#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub enum GetCommand {
    /// Services: addresses, ports, endpoints and whether the data plane implements them.
    #[command(visible_alias = "svc")]
    Services,
    /// Every endpoint of every Service, from its EndpointSlices or derived from its Pods.
    #[command(visible_alias = "ep")]
    Endpoints,
    /// Pods: labels, addresses and whether they are attached.
    #[command(visible_alias = "po")]
    Pods,
    /// The nodes of the cluster: their pod CIDRs, tunnel addresses and whether this node
    /// reaches their pods.
    #[command(visible_alias = "no")]
    Nodes,
    /// NetworkPolicies: how many pods of this node each selects, its rules, and whether the
    /// data plane enforces it.
    #[command(name = "networkpolicies", visible_alias = "netpol")]
    NetworkPolicies,
    /// ClusterNetworkPolicies: tier, priority, rules, and whether the data plane enforces
    /// them.
    #[command(name = "clusternetworkpolicies", visible_alias = "cnp")]
    ClusterNetworkPolicies,
    /// Namespaces: how many pods and services each has.
    #[command(visible_alias = "ns")]
    Namespaces,
}

/// What `podwire ctl show` shows.
#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub enum ShowCommand {
    /// Interfaces, their addresses and counters.
    Interfaces,
    /// Work done by each graph node on each worker, then the offload work done in software
    /// as rows of their own: offload-segment (calls: large packets cut for a device that
    /// cannot; packets: segments made), offload-checksum (checksums completed),
    /// offload-merge (calls: large packets made for a device that takes TSO; packets:
    /// segments merged into them).
    Runtime,
    /// Packets dropped or punted, by node and reason.
    Errors,
    /// Each worker's session table (connection tracking): how full, what came and went.
    Sessions,
    /// The forwarding table.
    Routes,
    /// The ARP / ND table.
    Neighbors,
    /// The packets traced so far, node by node.
    Trace,
    /// Whether the agent is healthy.
    Health,
    /// The pods' interfaces (CNI attachments): network, pod, addresses, how attached.
    Attachments,
    /// The pod networks: their address pools and whether they can take another pod.
    Networks,
    /// The NetworkPolicy rules of this node's pods and the new connections each allowed.
    Policies,
    /// The last changes the agent made to the data plane (transactions), newest first: what
    /// started each, what it did and whether it succeeded.
    Transactions {
        /// How many to list.
        #[arg(long, default_value_t = DEFAULT_TRANSACTIONS)]
        limit: usize,
    },
}

/// What `podwire ctl trace` does.
#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub enum TraceCommand {
    /// Trace the next N packets received; see them with `podwire ctl show trace`.
    Add {
        /// How many packets.
        #[arg(value_parser = clap::value_parser!(u32).range(1..))]
        packets: u32,
    },
    /// Empty the trace buffer.
    Clear,
}

/// Runs one `podwire ctl` command and prints its result.
pub fn run(args: CtlArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (json, wide) = (args.wants_json(), args.wants_wide());
    let client = Client::new(args.socket);
    let output = runtime.block_on(execute(&client, args.command, json, wide))?;
    print!("{output}");
    Ok(())
}

/// The text to print for `command`.
async fn execute(
    client: &Client,
    command: CtlCommand,
    json: bool,
    wide: bool,
) -> anyhow::Result<String> {
    let confirmation = |text: String| if json { String::new() } else { text };
    Ok(match command {
        CtlCommand::Show(what) => show(client, what, json).await?,
        CtlCommand::Trace(TraceCommand::Add { packets }) => {
            client.trace_add(packets).await?;
            confirmation(format!(
                "Tracing the next {packets} packets; see them with `podwire ctl show trace`.\n"
            ))
        }
        CtlCommand::Trace(TraceCommand::Clear) => {
            client.trace_clear().await?;
            confirmation("Trace buffer cleared.\n".to_owned())
        }
        CtlCommand::Apply(args) => {
            let report = client.cluster_apply(&read_manifest(&args.file)?).await;
            present(refusal_as_is(report)?, json, report_text)?
        }
        CtlCommand::Delete(args) => {
            let report = client.cluster_delete(&read_manifest(&args.file)?).await;
            present(refusal_as_is(report)?, json, report_text)?
        }
        CtlCommand::Get(what) => get(client, what, json, wide).await?,
        CtlCommand::Explain(args) => present(
            client.explain(&args.request()).await?,
            json,
            explanation_text,
        )?,
    })
}

/// The manifest in `file`, or on standard input for `-`.
fn read_manifest(file: &Path) -> anyhow::Result<ManifestRequest> {
    let manifest = if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the manifest from standard input")?;
        text
    } else {
        std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the manifest {}", file.display()))?
    };
    Ok(ManifestRequest { manifest })
}

/// A manifest the agent refused (HTTP 422) as the agent words it: every problem, one a
/// line, without the HTTP wrapping.
fn refusal_as_is(answer: Result<ManifestReport, ClientError>) -> anyhow::Result<ManifestReport> {
    match answer {
        Err(ClientError::Refused {
            status, message, ..
        }) if status.as_u16() == 422 => Err(anyhow::Error::msg(message)),
        other => Ok(other?),
    }
}

/// One line per object, as kubectl words it: `service/default/web created`.
fn report_text(report: &ManifestReport) -> String {
    report
        .objects
        .iter()
        .map(|o| format!("{} {}\n", object_name(&o.key), o.change))
        .collect()
}

/// `kind/namespace/name`, or `kind/name` for an object without a namespace.
fn object_name(key: &ObjectKey) -> String {
    let kind = key.kind.to_string().to_ascii_lowercase();
    match key.namespace.is_empty() {
        true => format!("{kind}/{}", key.name),
        false => format!("{kind}/{}/{}", key.namespace, key.name),
    }
}

async fn get(client: &Client, what: GetCommand, json: bool, wide: bool) -> anyhow::Result<String> {
    match what {
        GetCommand::Services => present(client.cluster_services().await?, json, |v| {
            services_table(v, wide)
        }),
        GetCommand::Endpoints => present(client.cluster_endpoints().await?, json, |v| {
            endpoints_table(v, wide)
        }),
        GetCommand::Pods => present(client.cluster_pods().await?, json, |v| pods_table(v, wide)),
        GetCommand::Nodes => present(client.cluster_nodes().await?, json, |v| {
            nodes_table(v, wide)
        }),
        GetCommand::NetworkPolicies => {
            get_objects(client, ObjectKind::NetworkPolicy, json, wide).await
        }
        GetCommand::ClusterNetworkPolicies => {
            get_objects(client, ObjectKind::ClusterNetworkPolicy, json, wide).await
        }
        GetCommand::Namespaces => get_objects(client, ObjectKind::Namespace, json, wide).await,
    }
}

/// The objects of a kind that has no richer view than [`ObjectView`].
async fn get_objects(
    client: &Client,
    kind: ObjectKind,
    json: bool,
    wide: bool,
) -> anyhow::Result<String> {
    present(client.cluster_objects(kind).await?, json, |v| {
        objects_table(v, kind, wide)
    })
}

async fn show(client: &Client, what: ShowCommand, json: bool) -> anyhow::Result<String> {
    match what {
        ShowCommand::Interfaces => {
            present(client.interfaces().await?, json, |v| interfaces_table(v))
        }
        ShowCommand::Runtime => present(client.runtime().await?, json, |v| runtime_table(v)),
        ShowCommand::Errors => present(client.errors().await?, json, |v| errors_table(v)),
        ShowCommand::Sessions => present(client.sessions().await?, json, |v| sessions_table(v)),
        ShowCommand::Routes => present(client.routes().await?, json, |v| routes_table(v)),
        ShowCommand::Neighbors => present(client.neighbors().await?, json, |v| neighbors_table(v)),
        ShowCommand::Trace => present(client.trace().await?, json, trace_text),
        ShowCommand::Health => present(client.health().await?, json, health_text),
        ShowCommand::Attachments => {
            present(client.attachments().await?, json, |v| attachments_table(v))
        }
        ShowCommand::Networks => present(client.networks().await?, json, |v| networks_table(v)),
        ShowCommand::Policies => present(client.policies().await?, json, |v| policies_table(v)),
        ShowCommand::Transactions { limit } => {
            present(client.transactions(limit).await?, json, |v| {
                transactions_table(v)
            })
        }
    }
}

/// `view` as pretty JSON, or as `human` writes it.
fn present<T: Serialize>(
    view: T,
    json: bool,
    human: impl FnOnce(&T) -> String,
) -> anyhow::Result<String> {
    if json {
        let mut text = serde_json::to_string_pretty(&view).context("cannot write JSON")?;
        text.push('\n');
        Ok(text)
    } else {
        Ok(human(&view))
    }
}

/// How a column's cells line up.
#[derive(Debug, Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// A column's title and alignment.
struct Column(&'static str, Align);

const fn text(title: &'static str) -> Column {
    Column(title, Align::Left)
}

const fn number(title: &'static str) -> Column {
    Column(title, Align::Right)
}

/// Lays out `rows` under `columns`: each column as wide as its widest cell, two spaces
/// apart, text to the left, numbers to the right, no trailing spaces.
fn table(columns: &[Column], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, Column(title, _))| {
            rows.iter()
                .filter_map(|row| row.get(i))
                .map(|cell| cell.chars().count())
                .chain([title.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let titles: Vec<String> = columns.iter().map(|c| c.0.to_owned()).collect();
    let mut out = String::new();
    for row in [&titles].into_iter().chain(rows) {
        let mut line = String::new();
        for ((cell, Column(_, align)), width) in row.iter().zip(columns).zip(&widths) {
            if !line.is_empty() {
                line.push_str("  ");
            }
            match align {
                Align::Left => line.push_str(&format!("{cell:<width$}")),
                Align::Right => line.push_str(&format!("{cell:>width$}")),
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `numerator / denominator` with two decimals; `-` when there is nothing to divide by.
fn ratio(numerator: u64, denominator: u64) -> String {
    if denominator == 0 {
        "-".to_owned()
    } else {
        format!("{:.2}", numerator as f64 / denominator as f64)
    }
}

/// The items joined by commas, `-` when there are none.
fn list_or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(",")
    }
}

/// An optional value, `-` when absent.
fn or_dash(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn interfaces_table(interfaces: &[InterfaceView]) -> String {
    let columns = [
        text("Name"),
        number("Idx"),
        text("Kind"),
        text("State"),
        number("MTU"),
        text("Offloads"),
        text("MAC"),
        text("Addresses"),
        text("Peer"),
        number("Rx packets"),
        number("Rx bytes"),
        number("Tx packets"),
        number("Tx bytes"),
        number("Drops"),
    ];
    let rows: Vec<Vec<String>> = interfaces
        .iter()
        .map(|i| {
            vec![
                i.name.clone(),
                i.index.to_string(),
                i.kind.clone(),
                (if i.up { "up" } else { "down" }).to_owned(),
                i.mtu.to_string(),
                list_or_dash(&i.offloads),
                i.mac.clone(),
                list_or_dash(&i.addresses),
                i.peer.clone(),
                i.rx_packets.to_string(),
                i.rx_bytes.to_string(),
                i.tx_packets.to_string(),
                i.tx_bytes.to_string(),
                i.drops.to_string(),
            ]
        })
        .collect();
    table(&columns, &rows)
}

fn attachments_table(attachments: &[Attachment]) -> String {
    let columns = [
        text("Network"),
        text("Pod"),
        text("Interface"),
        text("Kind"),
        text("Addresses"),
        text("Switch port"),
        text("Container"),
    ];
    let rows: Vec<Vec<String>> = attachments
        .iter()
        .map(|a| {
            let pod = match (&a.pod.namespace, &a.pod.name) {
                (Some(namespace), Some(name)) => format!("{namespace}/{name}"),
                _ => "-".to_owned(),
            };
            let addresses: Vec<String> = a.addresses.iter().map(ToString::to_string).collect();
            vec![
                a.key.network.clone(),
                pod,
                a.key.ifname.clone(),
                a.kind.to_string(),
                list_or_dash(&addresses),
                a.switch_interface.clone(),
                a.key.container_id.chars().take(12).collect(),
            ]
        })
        .collect();
    table(&columns, &rows)
}

fn networks_table(networks: &[NetworkStatus]) -> String {
    let columns = [
        text("Network"),
        text("Ready"),
        number("Pods"),
        number("MTU"),
        text("MTU from"),
        text("Pools (used/capacity)"),
        text("Reason"),
    ];
    let rows: Vec<Vec<String>> = networks
        .iter()
        .map(|n| {
            let pools: Vec<String> = n
                .pools
                .iter()
                .map(|p| format!("{} {}/{}", p.cidr, p.used, p.capacity))
                .collect();
            vec![
                n.name.clone(),
                (if n.ready { "yes" } else { "no" }).to_owned(),
                n.attachments.to_string(),
                or_dash(n.mtu.as_ref().map(|m| m.mtu)),
                or_dash(n.mtu.as_ref().map(|m| &m.source)),
                pools.join(", "),
                or_dash(n.reason.as_ref()),
            ]
        })
        .collect();
    table(&columns, &rows)
}

fn yes_no(value: bool) -> String {
    (if value { "yes" } else { "no" }).to_owned()
}

/// A status as a table shows it: its state alone, or with its reason when `wide`.
fn status_cell(status: &ObjectStatus, wide: bool) -> String {
    match wide {
        true => status.to_string(),
        false => status.state().to_owned(),
    }
}

/// Addresses joined by commas, `-` when there are none.
fn addresses(ips: &[IpAddr]) -> String {
    list_or_dash(&ips.iter().map(ToString::to_string).collect::<Vec<_>>())
}

/// `columns` with `extra` inserted before the last (the status) when `wide`.
fn with_wide<T>(mut columns: Vec<T>, extra: impl IntoIterator<Item = T>, wide: bool) -> Vec<T> {
    if wide {
        let last = columns.pop();
        columns.extend(extra);
        columns.extend(last);
    }
    columns
}

fn services_table(services: &[ServiceView], wide: bool) -> String {
    let columns = with_wide(
        vec![
            text("Namespace"),
            text("Name"),
            text("Type"),
            text("Cluster IPs"),
            text("External IPs"),
            text("Ports"),
            number("Endpoints"),
            number("Local"),
            text("Affinity"),
            text("Status"),
        ],
        [text("Frontends"), number("Health check")],
        wide,
    );
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|s| {
            with_wide(
                vec![
                    s.namespace.clone(),
                    s.name.clone(),
                    s.service_type.clone(),
                    addresses(&s.cluster_ips),
                    addresses(&s.external_ips),
                    list_or_dash(&s.ports),
                    s.endpoints.to_string(),
                    s.local_endpoints.to_string(),
                    or_dash(s.affinity_timeout_s.map(|t| format!("ClientIP {t}s"))),
                    status_cell(&s.status, wide),
                ],
                [
                    list_or_dash(&s.frontends),
                    or_dash(s.health_check_node_port),
                ],
                wide,
            )
        })
        .collect();
    table(&columns, &rows)
}

/// Endpoints have no status: `wide` adds the slice each comes from, last.
fn endpoints_table(endpoints: &[EndpointView], wide: bool) -> String {
    let mut columns = vec![
        text("Namespace"),
        text("Service"),
        text("Address"),
        text("Ports"),
        text("Node"),
        text("Pod"),
        text("Ready"),
        text("Serving"),
        text("Terminating"),
    ];
    if wide {
        columns.push(text("Slice"));
    }
    let rows: Vec<Vec<String>> = endpoints
        .iter()
        .map(|e| {
            let mut row = vec![
                e.namespace.clone(),
                e.service.clone(),
                e.address.to_string(),
                list_or_dash(&e.ports),
                or_dash(e.node.as_ref()),
                or_dash(e.pod.as_ref()),
                yes_no(e.ready),
                yes_no(e.serving),
                yes_no(e.terminating),
            ];
            if wide {
                row.push(e.slice.clone());
            }
            row
        })
        .collect();
    table(&columns, &rows)
}

/// The first address of a pod (as `kubectl get pods -o wide` shows), all of them when `wide`,
/// with the node it runs on.
fn pods_table(pods: &[PodView], wide: bool) -> String {
    let columns = with_wide(
        vec![
            text("Namespace"),
            text("Name"),
            text(if wide { "IPs" } else { "IP" }),
            text("Ready"),
            text("Labels"),
            text("Status"),
        ],
        [text("Node")],
        wide,
    );
    let rows: Vec<Vec<String>> = pods
        .iter()
        .map(|p| {
            let ips = match wide {
                true => addresses(&p.ips),
                false => or_dash(p.ips.first()),
            };
            with_wide(
                vec![
                    p.namespace.clone(),
                    p.name.clone(),
                    ips,
                    yes_no(p.ready),
                    list_or_dash(&p.labels),
                    status_cell(&p.status, wide),
                ],
                [or_dash(p.node.as_ref())],
                wide,
            )
        })
        .collect();
    table(&columns, &rows)
}

/// One node a row, this one marked.
fn nodes_table(nodes: &[NodeView], wide: bool) -> String {
    let columns = [
        text("Name"),
        text("Pod CIDRs"),
        text("Tunnel"),
        text("Status"),
    ];
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            let name = match n.this_node {
                true => format!("{} (this node)", n.name),
                false => n.name.clone(),
            };
            vec![
                name,
                list_or_dash(&n.pod_cidrs),
                or_dash(n.tunnel_address),
                status_cell(&n.status, wide),
            ]
        })
        .collect();
    table(&columns, &rows)
}

/// Objects of `kind` (no Namespace column for cluster-scoped kinds), with a summary.
fn objects_table(objects: &[ObjectView], kind: ObjectKind, wide: bool) -> String {
    let namespaced = kind.is_namespaced();
    let columns: Vec<Column> = [text("Namespace")]
        .into_iter()
        .filter(|_| namespaced)
        .chain([text("Name"), text("Summary"), text("Status")])
        .collect();
    let rows: Vec<Vec<String>> = objects
        .iter()
        .map(|o| {
            [o.namespace.clone()]
                .into_iter()
                .filter(|_| namespaced)
                .chain([
                    o.name.clone(),
                    o.summary.clone(),
                    status_cell(&o.status, wide),
                ])
                .collect()
        })
        .collect();
    table(&columns, &rows)
}

/// One transaction a row, as the agent lists them (newest first).
fn transactions_table(transactions: &[TransactionView]) -> String {
    let columns = [
        number("ID"),
        text("Started (UTC)"),
        number("Took"),
        text("Trigger"),
        text("Objects"),
        text("Notes"),
        text("Result"),
    ];
    let rows: Vec<Vec<String>> = transactions
        .iter()
        .map(|t| {
            let objects = match &t.objects[..] {
                [] => "-".to_owned(),
                [one] => format!("{} {}", one.key, one.change),
                many => many.len().to_string(),
            };
            vec![
                t.id.to_string(),
                time_of_day(t.started_unix_ms),
                duration_text(t.duration_us),
                t.trigger.clone(),
                objects,
                if t.notes.is_empty() {
                    "-".to_owned()
                } else {
                    t.notes.join("; ")
                },
                t.outcome.clone(),
            ]
        })
        .collect();
    table(&columns, &rows)
}

/// `HH:MM:SS.mmm` (UTC) of a time in milliseconds since the Unix epoch.
fn time_of_day(unix_ms: u64) -> String {
    let (seconds, ms) = (unix_ms / 1000, unix_ms % 1000);
    let (hours, minutes) = (seconds / 3600 % 24, seconds / 60 % 60);
    format!("{hours:02}:{minutes:02}:{:02}.{ms:03}", seconds % 60)
}

/// A duration in microseconds in the unit that suits it: `850µs`, `12.3ms`, `1.25s`.
fn duration_text(us: u64) -> String {
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..1_000_000 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

fn policies_table(rules: &[PolicyRuleView]) -> String {
    let columns = [text("Pod"), text("Rule"), text("Action"), number("Packets")];
    let rows: Vec<Vec<String>> = rules
        .iter()
        .map(|r| {
            vec![
                r.pod.clone(),
                r.rule.clone(),
                r.action.clone(),
                r.packets.to_string(),
            ]
        })
        .collect();
    table(&columns, &rows)
}

/// The verdict, what decided it and why, then each side's verdict.
fn explanation_text(explanation: &Explanation) -> String {
    format!(
        "verdict: {}\npolicy:  {}\nrule:    {}\nreason:  {}\negress:  {}\ningress: {}\n",
        explanation.verdict,
        or_dash(explanation.policy.as_ref()),
        or_dash(explanation.rule.as_ref()),
        explanation.reason,
        side_text(explanation.egress.as_ref()),
        side_text(explanation.ingress.as_ref()),
    )
}

/// One direction's verdict in a few words.
fn side_text(verdict: Option<&Verdict>) -> String {
    let Some(verdict) = verdict else {
        return "not checked: not a pod".to_owned();
    };
    let isolating = || {
        let names: Vec<String> = verdict.isolating.iter().map(ToString::to_string).collect();
        names.join(", ")
    };
    match (verdict.allowed, &verdict.rule) {
        (true, _) if verdict.isolating.is_empty() => {
            "allowed: no policy selects the pod".to_owned()
        }
        (true, Some(rule)) => format!("allowed by {rule}"),
        (true, None) => format!("allowed although isolated by {}", isolating()),
        (false, _) => format!("denied: isolated by {}, and no rule allows it", isolating()),
    }
}

fn runtime_table(nodes: &[NodeRuntimeView]) -> String {
    let columns = [
        number("Worker"),
        text("Name"),
        number("Calls"),
        number("Vectors"),
        number("Packets"),
        number("Vectors/Call"),
        number("Packets/Vector"),
        number("ns/Packet"),
    ];
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            vec![
                n.worker.to_string(),
                n.node.clone(),
                n.calls.to_string(),
                n.vectors.to_string(),
                n.packets.to_string(),
                ratio(n.vectors, n.calls),
                ratio(n.packets, n.vectors),
                ratio(n.nanos, n.packets),
            ]
        })
        .collect();
    table(&columns, &rows)
}

fn errors_table(errors: &[ErrorView]) -> String {
    let columns = [
        number("Worker"),
        number("Count"),
        text("Node"),
        text("Reason"),
        text("Description"),
    ];
    let rows: Vec<Vec<String>> = errors
        .iter()
        .map(|e| {
            vec![
                e.worker.to_string(),
                e.count.to_string(),
                e.node.clone(),
                e.reason.clone(),
                e.description.clone(),
            ]
        })
        .collect();
    table(&columns, &rows)
}

fn sessions_table(sessions: &[podwire_model::api::SessionTableView]) -> String {
    let columns = [
        number("Worker"),
        number("Active"),
        number("Capacity"),
        number("Created"),
        number("Expired"),
        number("Evicted"),
        number("Refused (full)"),
        number("Cleared (stale UDP)"),
    ];
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            [
                u64::from(s.worker),
                s.active,
                s.capacity,
                s.created,
                s.expired,
                s.evicted,
                s.refused_full,
                s.cleared,
            ]
            .iter()
            .map(u64::to_string)
            .collect()
        })
        .collect();
    table(&columns, &rows)
}

fn routes_table(routes: &[RouteView]) -> String {
    let columns = [
        text("Prefix"),
        text("Action"),
        text("Via"),
        text("Interface"),
    ];
    let rows: Vec<Vec<String>> = routes
        .iter()
        .map(|r| {
            vec![
                r.prefix.clone(),
                r.action.to_string(),
                or_dash(r.via.as_ref()),
                or_dash(r.interface.as_ref()),
            ]
        })
        .collect();
    table(&columns, &rows)
}

fn neighbors_table(neighbors: &[NeighborView]) -> String {
    let columns = [
        text("Interface"),
        text("IP"),
        text("MAC"),
        text("State"),
        number("Age (s)"),
    ];
    let rows: Vec<Vec<String>> = neighbors
        .iter()
        .map(|n| {
            vec![
                n.interface.clone(),
                n.ip.clone(),
                if n.mac.is_empty() {
                    "-".to_owned()
                } else {
                    n.mac.clone()
                },
                n.state.to_string(),
                or_dash(n.age_ms.map(|ms| format!("{}.{:03}", ms / 1000, ms % 1000))),
            ]
        })
        .collect();
    table(&columns, &rows)
}

/// Each packet with the nodes it went through, details indented under each node.
fn trace_text(trace: &TraceView) -> String {
    if trace.packets.is_empty() {
        return "No packets traced. Trace some with `podwire ctl trace add N`.\n".to_owned();
    }
    let mut out = String::new();
    for packet in &trace.packets {
        let seconds = packet.timestamp_ns / 1_000_000_000;
        let nanos = packet.timestamp_ns % 1_000_000_000;
        out.push_str(&format!(
            "Packet {} (worker {}, received on {} at {seconds}.{nanos:09} s)\n",
            packet.id, packet.worker, packet.rx_interface
        ));
        for step in &packet.steps {
            out.push_str(&format!("  {}\n", step.node));
            for line in step.detail.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        out.push('\n');
    }
    out
}

fn health_text(health: &Health) -> String {
    format!(
        "status:  {}\nworkers: {}\nuptime:  {} s\n",
        health.status, health.workers, health.uptime_s
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use podwire_model::api::{HealthStatus, NeighborState, RouteAction, TraceStep, TracedPacket};

    use super::*;

    #[test]
    fn runtime_table_aligns_columns_and_derives_the_ratios() {
        let nodes = [
            NodeRuntimeView {
                worker: 0,
                node: "ethernet-input".into(),
                calls: 4,
                vectors: 10,
                packets: 1000,
                nanos: 25_000,
            },
            NodeRuntimeView {
                worker: 1,
                node: "ip4-lookup".into(),
                calls: 0,
                vectors: 0,
                packets: 0,
                nanos: 0,
            },
        ];
        assert_eq!(
            runtime_table(&nodes),
            concat!(
                "Worker  Name            Calls  Vectors  Packets  Vectors/Call  Packets/Vector  ns/Packet\n",
                "     0  ethernet-input      4       10     1000          2.50          100.00      25.00\n",
                "     1  ip4-lookup          0        0        0             -               -          -\n",
            )
        );
    }

    #[test]
    fn routes_table_shows_absent_values_as_dashes() {
        let routes = [
            RouteView {
                prefix: "10.9.0.0/16".into(),
                action: RouteAction::Forward,
                via: Some("192.168.50.2".into()),
                interface: Some("uplink0".into()),
            },
            RouteView {
                prefix: "0.0.0.0/0".into(),
                action: RouteAction::Unreachable,
                via: None,
                interface: None,
            },
        ];
        assert_eq!(
            routes_table(&routes),
            concat!(
                "Prefix       Action       Via           Interface\n",
                "10.9.0.0/16  forward      192.168.50.2  uplink0\n",
                "0.0.0.0/0    unreachable  -             -\n",
            )
        );
    }

    #[test]
    fn interfaces_table_has_one_row_per_interface() {
        let interface = InterfaceView {
            index: 1,
            name: "uplink0".into(),
            kind: "af-packet".into(),
            mac: "02:00:00:00:00:01".into(),
            mtu: 1500,
            offloads: vec!["csum".into(), "tso4".into()],
            up: false,
            addresses: vec!["192.168.50.1/24".into(), "fd00:50::1/64".into()],
            peer: "veth-up".into(),
            rx_packets: 10,
            rx_bytes: 1000,
            tx_packets: 20,
            tx_bytes: 2000,
            drops: 1,
        };
        assert_eq!(
            interfaces_table(&[interface]),
            concat!(
                "Name     Idx  Kind       State   MTU  Offloads   MAC                Addresses                      Peer     Rx packets  Rx bytes  Tx packets  Tx bytes  Drops\n",
                "uplink0    1  af-packet  down   1500  csum,tso4  02:00:00:00:00:01  192.168.50.1/24,fd00:50::1/64  veth-up          10      1000          20      2000      1\n",
            )
        );
    }

    #[test]
    fn errors_and_neighbors_tables() {
        let errors = [ErrorView {
            worker: 0,
            node: "ip4-input".into(),
            reason: "ttl-expired".into(),
            description: "IP TTL expired".into(),
            count: 12345,
        }];
        assert_eq!(
            errors_table(&errors),
            concat!(
                "Worker  Count  Node       Reason       Description\n",
                "     0  12345  ip4-input  ttl-expired  IP TTL expired\n",
            )
        );
        let neighbors = [
            NeighborView {
                interface: "uplink0".into(),
                ip: "192.168.50.2".into(),
                mac: "02:00:00:00:00:02".into(),
                state: NeighborState::Reachable,
                age_ms: Some(1500),
            },
            NeighborView {
                interface: "uplink0".into(),
                ip: "192.168.50.3".into(),
                mac: String::new(),
                state: NeighborState::Incomplete,
                age_ms: None,
            },
        ];
        assert_eq!(
            neighbors_table(&neighbors),
            concat!(
                "Interface  IP            MAC                State       Age (s)\n",
                "uplink0    192.168.50.2  02:00:00:00:00:02  reachable     1.500\n",
                "uplink0    192.168.50.3  -                  incomplete        -\n",
            )
        );
    }

    #[test]
    fn an_empty_table_still_has_its_titles() {
        assert_eq!(routes_table(&[]), "Prefix  Action  Via  Interface\n");
    }

    #[test]
    fn networks_table_shows_each_networks_mtu_and_where_it_comes_from() {
        use podwire_model::attach::{NetworkMtu, PoolStatus};
        let networks = [
            NetworkStatus {
                name: "default".into(),
                ready: true,
                reason: None,
                pools: vec![PoolStatus {
                    cidr: "10.244.1.0/24".parse().unwrap(),
                    capacity: 253,
                    used: 2,
                }],
                attachments: 2,
                mtu: Some(NetworkMtu {
                    mtu: 8950,
                    source: "tunnel over uplink0, MTU 9000".into(),
                }),
            },
            NetworkStatus {
                name: "undecided".into(),
                ready: true,
                reason: None,
                pools: vec![],
                attachments: 0,
                mtu: None,
            },
        ];
        assert_eq!(
            networks_table(&networks),
            concat!(
                "Network    Ready  Pods   MTU  MTU from                       Pools (used/capacity)  Reason\n",
                "default    yes       2  8950  tunnel over uplink0, MTU 9000  10.244.1.0/24 2/253    -\n",
                "undecided  yes       0     -  -                                                     -\n",
            )
        );
    }

    #[test]
    fn trace_lists_each_packet_and_indents_multi_line_details() {
        let trace = TraceView {
            packets: vec![TracedPacket {
                id: 3,
                worker: 1,
                rx_interface: "uplink0".into(),
                timestamp_ns: 12_000_001_234,
                steps: vec![
                    TraceStep {
                        node: "ethernet-input".into(),
                        detail: "IP4: 02:00:00:00:00:02 -> 02:00:00:00:00:01".into(),
                    },
                    TraceStep {
                        node: "ip4-input".into(),
                        detail: "ICMP: 10.0.0.2 -> 10.0.0.3\n  ttl 64".into(),
                    },
                ],
            }],
        };
        assert_eq!(
            trace_text(&trace),
            concat!(
                "Packet 3 (worker 1, received on uplink0 at 12.000001234 s)\n",
                "  ethernet-input\n",
                "    IP4: 02:00:00:00:00:02 -> 02:00:00:00:00:01\n",
                "  ip4-input\n",
                "    ICMP: 10.0.0.2 -> 10.0.0.3\n",
                "      ttl 64\n",
                "\n",
            )
        );
        assert!(trace_text(&TraceView::default()).starts_with("No packets traced."));
    }

    #[test]
    fn health_and_json_output() {
        let health = Health {
            status: HealthStatus::Degraded,
            workers: 2,
            uptime_s: 61,
        };
        assert_eq!(
            health_text(&health),
            "status:  degraded\nworkers: 2\nuptime:  61 s\n"
        );
        let json = present(health.clone(), true, health_text).unwrap();
        let back: Health = serde_json::from_str(&json).unwrap();
        assert_eq!(back, health);
    }

    #[test]
    fn apply_reports_a_line_per_object_as_kubectl_does() {
        use podwire_model::cluster::{Change, ObjectChange, ObjectKind};
        let change = |kind, namespace: &str, name: &str, change| ObjectChange {
            key: ObjectKey {
                kind,
                namespace: namespace.into(),
                name: name.into(),
            },
            change,
        };
        let report = ManifestReport {
            objects: vec![
                change(ObjectKind::Namespace, "", "shop", Change::Created),
                change(ObjectKind::Service, "shop", "web", Change::Configured),
                change(
                    ObjectKind::EndpointSlice,
                    "shop",
                    "web-1",
                    Change::Unchanged,
                ),
                change(ObjectKind::Pod, "shop", "web-0", Change::NotFound),
            ],
        };
        assert_eq!(
            report_text(&report),
            concat!(
                "namespace/shop created\n",
                "service/shop/web configured\n",
                "endpointslice/shop/web-1 unchanged\n",
                "pod/shop/web-0 not found\n",
            )
        );
    }

    #[test]
    fn a_refused_manifest_is_printed_as_the_agent_words_it() {
        let refusal = |status: &str| ClientError::Refused {
            method: "POST".parse().unwrap(),
            path: "/v1/cluster/apply".into(),
            status: status.parse().unwrap(),
            message: "the manifest was refused, nothing was changed:\nproblem 1\nproblem 2".into(),
            kind: None,
        };
        let error = refusal_as_is(Err(refusal("422"))).unwrap_err();
        assert_eq!(
            format!("{error:#}"),
            "the manifest was refused, nothing was changed:\nproblem 1\nproblem 2"
        );
        let error = refusal_as_is(Err(refusal("500"))).unwrap_err();
        assert!(
            format!("{error:#}").starts_with("the podwire agent refused POST /v1/cluster/apply"),
            "{error:#}"
        );
    }

    #[test]
    fn a_missing_manifest_file_is_named() {
        let error = read_manifest(Path::new("/nonexistent/web.yaml")).unwrap_err();
        assert!(
            format!("{error:#}").starts_with("cannot read the manifest /nonexistent/web.yaml: "),
            "{error:#}"
        );
    }

    fn services() -> [ServiceView; 2] {
        let web = ServiceView {
            namespace: "default".into(),
            name: "web".into(),
            service_type: "NodePort".into(),
            cluster_ips: vec!["10.96.0.10".parse().unwrap()],
            external_ips: Vec::new(),
            ports: vec!["80/TCP:30080→8080".into(), "53/UDP".into()],
            frontends: vec![
                "10.96.0.10:80/TCP".into(),
                "*:30080/TCP".into(),
                "10.96.0.10:53/UDP".into(),
            ],
            endpoints: 2,
            local_endpoints: 1,
            affinity_timeout_s: Some(10800),
            health_check_node_port: None,
            status: ObjectStatus::Applied,
        };
        let api = ServiceView {
            name: "api".into(),
            service_type: "LoadBalancer".into(),
            cluster_ips: vec!["10.96.0.11".parse().unwrap()],
            external_ips: vec!["192.0.2.10".parse().unwrap()],
            ports: vec!["443/TCP".into()],
            frontends: vec!["10.96.0.11:443/TCP".into()],
            affinity_timeout_s: None,
            health_check_node_port: Some(32000),
            status: ObjectStatus::Retrying {
                reason: "the data plane is busy".into(),
                attempts: 2,
            },
            ..web.clone()
        };
        [web, api]
    }

    #[test]
    fn services_show_their_state_and_wide_adds_frontends_and_reasons() {
        assert_eq!(
            services_table(&services(), false),
            concat!(
                "Namespace  Name  Type          Cluster IPs  External IPs  Ports                     Endpoints  Local  Affinity         Status\n",
                "default    web   NodePort      10.96.0.10   -             80/TCP:30080→8080,53/UDP          2      1  ClientIP 10800s  applied\n",
                "default    api   LoadBalancer  10.96.0.11   192.0.2.10    443/TCP                           2      1  -                retrying\n",
            )
        );
        assert_eq!(
            services_table(&services(), true),
            concat!(
                "Namespace  Name  Type          Cluster IPs  External IPs  Ports                     Endpoints  Local  Affinity         Frontends                                        Health check  Status\n",
                "default    web   NodePort      10.96.0.10   -             80/TCP:30080→8080,53/UDP          2      1  ClientIP 10800s  10.96.0.10:80/TCP,*:30080/TCP,10.96.0.10:53/UDP             -  applied\n",
                "default    api   LoadBalancer  10.96.0.11   192.0.2.10    443/TCP                           2      1  -                10.96.0.11:443/TCP                                      32000  retrying (attempt 2): the data plane is busy\n",
            )
        );
    }

    #[test]
    fn endpoints_wide_adds_the_slice() {
        let endpoints = [EndpointView {
            namespace: "default".into(),
            service: "web".into(),
            slice: "web-podwire-ipv4".into(),
            address: "10.244.0.5".parse().unwrap(),
            ports: vec!["http:8080/TCP".into()],
            node: None,
            pod: Some("default/web-0".into()),
            ready: false,
            serving: true,
            terminating: true,
        }];
        assert_eq!(
            endpoints_table(&endpoints, false),
            concat!(
                "Namespace  Service  Address     Ports          Node  Pod            Ready  Serving  Terminating\n",
                "default    web      10.244.0.5  http:8080/TCP  -     default/web-0  no     yes      yes\n",
            )
        );
        assert_eq!(
            endpoints_table(&endpoints, true),
            concat!(
                "Namespace  Service  Address     Ports          Node  Pod            Ready  Serving  Terminating  Slice\n",
                "default    web      10.244.0.5  http:8080/TCP  -     default/web-0  no     yes      yes          web-podwire-ipv4\n",
            )
        );
    }

    #[test]
    fn pods_show_one_address_and_wide_adds_every_address_the_node_and_reasons() {
        let pods = [
            PodView {
                namespace: "default".into(),
                name: "web-0".into(),
                labels: vec!["app=web".into(), "tier=front".into()],
                ips: Vec::new(),
                node: Some("node-a".into()),
                ready: true,
                status: ObjectStatus::Pending("not attached on this node yet".into()),
            },
            PodView {
                namespace: "default".into(),
                name: "web-1".into(),
                labels: vec!["app=web".into()],
                ips: vec!["10.244.1.5".parse().unwrap(), "fd44::1:5".parse().unwrap()],
                node: None,
                ready: false,
                status: ObjectStatus::Applied,
            },
        ];
        assert_eq!(
            pods_table(&pods, false),
            concat!(
                "Namespace  Name   IP          Ready  Labels              Status\n",
                "default    web-0  -           yes    app=web,tier=front  pending\n",
                "default    web-1  10.244.1.5  no     app=web             applied\n",
            )
        );
        assert_eq!(
            pods_table(&pods, true),
            concat!(
                "Namespace  Name   IPs                   Ready  Labels              Node    Status\n",
                "default    web-0  -                     yes    app=web,tier=front  node-a  pending: not attached on this node yet\n",
                "default    web-1  10.244.1.5,fd44::1:5  no     app=web             -       applied\n",
            )
        );
    }

    #[test]
    fn nodes_mark_this_one_and_wide_says_why_a_node_is_not_applied() {
        let nodes = [
            NodeView {
                name: "node-a".into(),
                pod_cidrs: vec!["10.244.0.0/24".into(), "fd44::/64".into()],
                tunnel_address: Some("192.168.60.1".parse().unwrap()),
                this_node: true,
                status: ObjectStatus::Applied,
            },
            NodeView {
                name: "node-b".into(),
                pod_cidrs: Vec::new(),
                tunnel_address: None,
                this_node: false,
                status: ObjectStatus::Pending("it has no pod CIDR yet".into()),
            },
        ];
        assert_eq!(
            nodes_table(&nodes, false),
            concat!(
                "Name                Pod CIDRs                Tunnel        Status\n",
                "node-a (this node)  10.244.0.0/24,fd44::/64  192.168.60.1  applied\n",
                "node-b              -                        -             pending\n",
            )
        );
        assert!(
            nodes_table(&nodes, true)
                .ends_with("node-b              -                        -             pending: it has no pod CIDR yet\n"),
            "{}",
            nodes_table(&nodes, true)
        );
    }

    #[test]
    fn policies_show_their_state_and_wide_says_why_they_are_not_applied() {
        let view = |kind, namespace: &str, name: &str, summary: &str, status| ObjectView {
            kind,
            namespace: namespace.into(),
            name: name.into(),
            summary: summary.into(),
            status,
        };
        let policies = [
            view(
                ObjectKind::NetworkPolicy,
                "shop",
                "web",
                "selects 2 pods on this node, 3 ingress / 1 egress rules",
                ObjectStatus::Applied,
            ),
            view(
                ObjectKind::NetworkPolicy,
                "shop",
                "cache",
                "selects 0 pods on this node, 1 ingress / 0 egress rules",
                ObjectStatus::Pending("selects no pod on this node".into()),
            ),
        ];
        assert_eq!(
            objects_table(&policies, ObjectKind::NetworkPolicy, false),
            concat!(
                "Namespace  Name   Summary                                                  Status\n",
                "shop       web    selects 2 pods on this node, 3 ingress / 1 egress rules  applied\n",
                "shop       cache  selects 0 pods on this node, 1 ingress / 0 egress rules  pending\n",
            )
        );
        let wide = objects_table(&policies, ObjectKind::NetworkPolicy, true);
        assert!(
            wide.ends_with("rules  pending: selects no pod on this node\n"),
            "{wide}"
        );

        // Cluster-scoped kinds have no Namespace column.
        let cluster = [view(
            ObjectKind::ClusterNetworkPolicy,
            "",
            "deny-red",
            "tier Admin, priority 10, 1 rule",
            ObjectStatus::Failed("spec.priority: 5000 is not a priority".into()),
        )];
        assert_eq!(
            objects_table(&cluster, ObjectKind::ClusterNetworkPolicy, false),
            concat!(
                "Name      Summary                          Status\n",
                "deny-red  tier Admin, priority 10, 1 rule  failed\n",
            )
        );
        assert!(
            objects_table(&cluster, ObjectKind::ClusterNetworkPolicy, true)
                .ends_with("1 rule  failed: spec.priority: 5000 is not a priority\n")
        );
        let namespaces = [view(
            ObjectKind::Namespace,
            "",
            "shop",
            "3 pods, 1 service",
            ObjectStatus::Applied,
        )];
        assert_eq!(
            objects_table(&namespaces, ObjectKind::Namespace, true),
            "Name  Summary            Status\nshop  3 pods, 1 service  applied\n"
        );
    }

    #[test]
    fn get_takes_policies_and_namespaces_by_kubectl_names() {
        for (names, what) in [
            (["networkpolicies", "netpol"], "NetworkPolicies"),
            (["clusternetworkpolicies", "cnp"], "ClusterNetworkPolicies"),
            (["namespaces", "ns"], "Namespaces"),
        ] {
            for name in names {
                let ctl = Ctl::try_parse_from(["ctl", "get", name, "-o", "wide"]).unwrap();
                assert!(ctl.args.wants_wide());
                assert_eq!(format!("{:?}", ctl.args.command), format!("Get({what})"));
            }
        }
    }

    #[test]
    fn transactions_show_when_how_long_what_and_how_it_ended() {
        use podwire_model::api::TransactionObject;
        let object = |key: &str, change: &str| TransactionObject {
            key: key.into(),
            change: change.into(),
            status: "applied".into(),
        };
        let transaction = |id, objects, notes: &[&str], outcome: &str| TransactionView {
            id,
            // 2023-11-14 22:13:20.042 UTC, and later ones a few seconds on.
            started_unix_ms: 1_700_000_000_042 + 3_600_000 * (id - 1),
            duration_us: [0, 850, 12_345, 1_250_000][id as usize],
            trigger: format!("etcd: {id} events"),
            objects,
            notes: notes.iter().map(|n| n.to_string()).collect(),
            outcome: outcome.into(),
        };
        let transactions = [
            transaction(
                3,
                vec![
                    object("Service shop/web", "configured"),
                    object("Pod shop/web-0", "created"),
                ],
                &["routes: +2 -0", "services re-rendered: 1"],
                "failed: etcd is unreachable",
            ),
            transaction(2, vec![object("Node node-b", "created")], &[], "ok"),
            transaction(1, Vec::new(), &[], "ok"),
        ];
        assert_eq!(
            transactions_table(&transactions),
            concat!(
                "ID  Started (UTC)    Took  Trigger         Objects              Notes                                   Result\n",
                " 3  00:13:20.042    1.25s  etcd: 3 events  2                    routes: +2 -0; services re-rendered: 1  failed: etcd is unreachable\n",
                " 2  23:13:20.042   12.3ms  etcd: 2 events  Node node-b created  -                                       ok\n",
                " 1  22:13:20.042    850µs  etcd: 1 events  -                    -                                       ok\n",
            )
        );
        assert_eq!(duration_text(999), "999µs");
        assert_eq!(duration_text(1_000), "1.0ms");
        assert_eq!(duration_text(999_949), "999.9ms");
        assert_eq!(duration_text(1_000_000), "1.00s");
        assert_eq!(time_of_day(0), "00:00:00.000");
        assert_eq!(time_of_day(86_399_999), "23:59:59.999");
    }

    /// `podwire ctl …` parsed on its own.
    #[derive(Debug, Parser)]
    struct Ctl {
        #[command(flatten)]
        args: CtlArgs,
    }

    #[test]
    fn global_flags_go_anywhere_and_trace_add_needs_a_positive_count() {
        let ctl = Ctl::try_parse_from(["ctl", "show", "runtime", "--json", "--socket", "/tmp/s"])
            .unwrap();
        assert!(ctl.args.json);
        assert_eq!(ctl.args.socket, PathBuf::from("/tmp/s"));
        assert!(matches!(
            ctl.args.command,
            CtlCommand::Show(ShowCommand::Runtime)
        ));
        let ctl = Ctl::try_parse_from(["ctl", "trace", "add", "50"]).unwrap();
        assert!(matches!(
            ctl.args.command,
            CtlCommand::Trace(TraceCommand::Add { packets: 50 })
        ));
        assert!(Ctl::try_parse_from(["ctl", "trace", "add", "0"]).is_err());
    }

    #[test]
    fn apply_and_delete_take_a_file_or_stdin_and_get_takes_kubectl_short_names() {
        let ctl = Ctl::try_parse_from(["ctl", "apply", "-f", "-"]).unwrap();
        assert!(matches!(&ctl.args.command, CtlCommand::Apply(a) if a.file == Path::new("-")));
        let ctl = Ctl::try_parse_from(["ctl", "delete", "--filename", "web.yaml"]).unwrap();
        assert!(
            matches!(&ctl.args.command, CtlCommand::Delete(a) if a.file == Path::new("web.yaml"))
        );
        assert!(Ctl::try_parse_from(["ctl", "apply"]).is_err());
        let ctl = Ctl::try_parse_from(["ctl", "get", "svc", "--json"]).unwrap();
        assert!(ctl.args.json);
        assert!(matches!(
            ctl.args.command,
            CtlCommand::Get(GetCommand::Services)
        ));
        for (name, what) in [
            ("endpoints", "Endpoints"),
            ("ep", "Endpoints"),
            ("po", "Pods"),
        ] {
            let ctl = Ctl::try_parse_from(["ctl", "get", name]).unwrap();
            assert_eq!(format!("{:?}", ctl.args.command), format!("Get({what})"));
        }
    }

    #[test]
    fn output_wide_or_json_goes_anywhere_and_get_nodes_takes_its_short_name() {
        let parse = |args: &[&str]| Ctl::try_parse_from([&["ctl"], args].concat()).map(|c| c.args);
        let args = parse(&["get", "svc", "-o", "wide"]).unwrap();
        assert!(args.wants_wide() && !args.wants_json());
        assert!(matches!(
            args.command,
            CtlCommand::Get(GetCommand::Services)
        ));
        let args = parse(&["--output", "wide", "get", "pods"]).unwrap();
        assert!(args.wants_wide());
        let args = parse(&["get", "no", "-o", "json"]).unwrap();
        assert!(args.wants_json() && !args.wants_wide());
        assert!(matches!(args.command, CtlCommand::Get(GetCommand::Nodes)));
        let args = parse(&["get", "nodes"]).unwrap();
        assert!(!args.wants_json() && !args.wants_wide());
        let error = parse(&["get", "pods", "-o", "yaml"]).unwrap_err();
        assert!(error.to_string().contains("wide"), "{error}");
    }

    #[test]
    fn show_transactions_lists_fifty_unless_told() {
        let ctl = Ctl::try_parse_from(["ctl", "show", "transactions"]).unwrap();
        assert!(matches!(
            ctl.args.command,
            CtlCommand::Show(ShowCommand::Transactions { limit: 50 })
        ));
        let ctl =
            Ctl::try_parse_from(["ctl", "show", "transactions", "--limit", "5", "--json"]).unwrap();
        assert!(ctl.args.json);
        assert!(matches!(
            ctl.args.command,
            CtlCommand::Show(ShowCommand::Transactions { limit: 5 })
        ));
        assert!(Ctl::try_parse_from(["ctl", "show", "transactions", "--limit", "-1"]).is_err());
    }

    #[test]
    fn explain_takes_a_pod_or_an_address_and_a_port_with_an_optional_protocol() {
        let ctl = Ctl::try_parse_from([
            "ctl",
            "explain",
            "--from",
            "shop/web-0",
            "--to",
            "10.244.0.5",
            "--port",
            "80",
            "--json",
        ])
        .unwrap();
        assert!(ctl.args.json);
        let CtlCommand::Explain(args) = ctl.args.command else {
            panic!("expected explain, got {:?}", ctl.args.command);
        };
        assert_eq!(
            args.request(),
            ExplainRequest {
                from: "shop/web-0".into(),
                to: "10.244.0.5".into(),
                protocol: Protocol::Tcp,
                port: 80,
            }
        );
        for (given, protocol, port) in [
            ("tcp/443", Protocol::Tcp, 443),
            ("UDP/53", Protocol::Udp, 53),
            ("Sctp/9", Protocol::Sctp, 9),
            ("65535", Protocol::Tcp, 65535),
        ] {
            assert_eq!(
                parse_port(given),
                Ok(DestinationPort { protocol, port }),
                "{given}"
            );
        }
        assert!(parse_party("fd00:244::5").is_ok());
        assert!(
            Ctl::try_parse_from(["ctl", "explain", "--from", "a/b", "--to", "c/d"]).is_err(),
            "--port is required"
        );
    }

    #[test]
    fn explain_refuses_ports_and_parties_it_cannot_ask_about() {
        for (given, error) in [
            (
                "icmp/8",
                r#""icmp" is not a protocol NetworkPolicies match: give tcp, udp or sctp, as in tcp/80"#,
            ),
            (
                "/80",
                r#""" is not a protocol NetworkPolicies match: give tcp, udp or sctp, as in tcp/80"#,
            ),
            (
                "80/tcp",
                r#""80" is not a protocol NetworkPolicies match: give tcp, udp or sctp, as in tcp/80"#,
            ),
            (
                "tcp/",
                r#""" is not a port: give a number from 1 to 65535, as in tcp/80"#,
            ),
            (
                "udp/0",
                r#""0" is not a port: give a number from 1 to 65535, as in tcp/80"#,
            ),
            (
                "65536",
                r#""65536" is not a port: give a number from 1 to 65535, as in tcp/80"#,
            ),
            (
                "http",
                r#""http" is not a port: give a number from 1 to 65535, as in tcp/80"#,
            ),
        ] {
            assert_eq!(parse_port(given), Err(error.to_owned()), "{given}");
        }
        for given in ["web-0", "shop/", "/web-0", "shop/web/0", "10.244.0.256", ""] {
            assert_eq!(
                parse_party(given),
                Err("give a pod as NAMESPACE/POD, or an IP address".to_owned()),
                "{given:?}"
            );
        }
        let error = Ctl::try_parse_from([
            "ctl",
            "explain",
            "--from",
            "web-0",
            "--to",
            "shop/db-0",
            "--port",
            "80",
        ])
        .unwrap_err();
        assert!(error.to_string().contains("--from"), "{error}");
    }

    fn explanation(verdict: &str, policy: Option<&str>, rule: Option<&str>) -> Explanation {
        Explanation {
            verdict: verdict.into(),
            policy: policy.map(Into::into),
            rule: rule.map(Into::into),
            egress: None,
            ingress: None,
            reason: "the reason".into(),
        }
    }

    #[test]
    fn explanations_name_the_verdict_the_policy_the_rule_and_each_side() {
        use podwire_model::policy::{PolicyDirection, PolicyId, RuleId};
        let policy = |name: &str| PolicyId {
            namespace: "shop".into(),
            name: name.into(),
        };
        let denied = Explanation {
            egress: Some(Verdict {
                allowed: true,
                rule: Some(RuleId {
                    policy: policy("web-out"),
                    direction: PolicyDirection::Egress,
                    index: 1,
                }),
                isolating: vec![policy("web-out")],
                tier: None,
                passed: Vec::new(),
            }),
            ingress: Some(Verdict {
                allowed: false,
                rule: None,
                isolating: vec![policy("db-a"), policy("db-b")],
                tier: None,
                passed: Vec::new(),
            }),
            ..explanation("deny", Some("shop/db-a"), Some("ingress"))
        };
        assert_eq!(
            explanation_text(&denied),
            concat!(
                "verdict: deny\n",
                "policy:  shop/db-a\n",
                "rule:    ingress\n",
                "reason:  the reason\n",
                "egress:  allowed by shop/web-out egress[1]\n",
                "ingress: denied: isolated by shop/db-a, shop/db-b, and no rule allows it\n",
            )
        );
        let open = Explanation {
            ingress: Some(Verdict {
                allowed: true,
                rule: None,
                isolating: Vec::new(),
                tier: None,
                passed: Vec::new(),
            }),
            ..explanation("allow", None, None)
        };
        assert_eq!(
            explanation_text(&open),
            concat!(
                "verdict: allow\n",
                "policy:  -\n",
                "rule:    -\n",
                "reason:  the reason\n",
                "egress:  not checked: not a pod\n",
                "ingress: allowed: no policy selects the pod\n",
            )
        );
        let json = present(denied.clone(), true, explanation_text).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["verdict"], "deny");
        assert_eq!(value["policy"], "shop/db-a");
        assert_eq!(value["rule"], "ingress");
    }

    #[test]
    fn show_policies_is_a_table_of_rule_counters() {
        let ctl = Ctl::try_parse_from(["ctl", "show", "policies"]).unwrap();
        assert!(matches!(
            ctl.args.command,
            CtlCommand::Show(ShowCommand::Policies)
        ));
        let rules = [
            PolicyRuleView {
                pod: "shop/db-0".into(),
                rule: "shop/db-access ingress[0]".into(),
                action: "Allow".into(),
                packets: 1234,
            },
            PolicyRuleView {
                pod: "shop/web-0".into(),
                rule: "shop/web-out egress[1]".into(),
                action: "Allow".into(),
                packets: 0,
            },
            PolicyRuleView {
                pod: "shop/web-0".into(),
                rule: "ClusterNetworkPolicy/lockdown ingress[0]".into(),
                action: "Admin Deny".into(),
                packets: 7,
            },
        ];
        assert_eq!(
            policies_table(&rules),
            concat!(
                "Pod         Rule                                      Action      Packets\n",
                "shop/db-0   shop/db-access ingress[0]                 Allow          1234\n",
                "shop/web-0  shop/web-out egress[1]                    Allow             0\n",
                "shop/web-0  ClusterNetworkPolicy/lockdown ingress[0]  Admin Deny        7\n",
            )
        );
    }
}
