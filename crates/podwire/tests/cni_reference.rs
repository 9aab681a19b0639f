//! The same CNI calls against Debian's reference plugins (`bridge` with
//! `host-local`) and against podwire: both must fail where the spec says a
//! plugin fails, with the same spec error code where the spec names one (1,
//! 4, 6, 7), succeed where it says DEL succeeds, and return an ADD result of
//! the same shape. On a difference the test prints a table of both sides.
//!
//! Debian's plugins speak CNI up to 1.0.0 (kubernetes.md §1.8), so every
//! config here says 1.0.0; their own failures use code 999 where podwire's
//! have codes of their own, so those rows only ask for a failure.

mod support;

use serde_json::{Value, json};
use support::cni::*;
use support::*;

/// What one call did, as a table cell.
#[derive(Debug, Clone)]
struct Seen {
    exit: Option<i32>,
    code: Option<u64>,
    note: String,
}

impl Seen {
    fn of(call: &Invocation) -> Seen {
        Seen {
            exit: call.status.code(),
            code: call.code(),
            // Without an error JSON, stderr is what libcni would report.
            note: match call.msg() {
                msg if msg.is_empty() => call.stderr.lines().next().unwrap_or("").to_owned(),
                msg => msg,
            },
        }
    }

    fn cell(&self) -> String {
        match (self.exit, self.code) {
            (Some(0), _) => "exit 0".to_owned(),
            (exit, Some(code)) => format!("exit {} code {code}", exit.unwrap_or(-1)),
            (exit, None) => format!("exit {} no error JSON", exit.unwrap_or(-1)),
        }
    }
}

/// What the spec asks of both plugins in one case.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Exit 0.
    Success,
    /// Exit 1 with this spec code.
    Code(u64),
    /// Exit 1 with a plugin-specific code (≥ 100).
    PluginCode,
    /// Any failure: exit status not 0.
    Failure,
    /// Exit 0 with a result of the ADD shape; the string says what is wrong.
    AddShape,
}

impl Expect {
    fn text(self) -> String {
        match self {
            Expect::Success => "exit 0".into(),
            Expect::Code(c) => format!("exit 1 code {c}"),
            Expect::PluginCode => "exit 1 code >= 100".into(),
            Expect::Failure => "exit != 0".into(),
            Expect::AddShape => "exit 0, ADD result shape".into(),
        }
    }

    /// Whether `seen` meets the expectation; `shape` is the ADD shape
    /// problem, if any.
    fn met(self, seen: &Seen, shape: &Option<String>) -> bool {
        match self {
            Expect::Success => seen.exit == Some(0),
            Expect::Code(c) => seen.exit == Some(1) && seen.code == Some(c),
            Expect::PluginCode => seen.exit == Some(1) && seen.code.is_some_and(|c| c >= 100),
            Expect::Failure => seen.exit != Some(0),
            Expect::AddShape => seen.exit == Some(0) && shape.is_none(),
        }
    }
}

/// One row of the comparison.
struct Row {
    case: &'static str,
    expect: Expect,
    sides: Vec<(Seen, Option<String>)>,
}

/// What is wrong with the shape of an ADD result, if anything: the
/// container interface must be listed with `sandbox`, every ip must point at
/// it by index, and `routes` and `dns` must be there.
fn shape_problem(result: &Value, netns: &str) -> Option<String> {
    if result["cniVersion"] != "1.0.0" {
        return Some(format!("cniVersion is {} not 1.0.0", result["cniVersion"]));
    }
    let Some(interfaces) = result["interfaces"].as_array() else {
        return Some("no interfaces list".into());
    };
    let Some(sandboxed) = interfaces
        .iter()
        .position(|i| i["name"] == "eth0" && i["sandbox"] == netns)
    else {
        return Some(format!("no interface eth0 with sandbox {netns}"));
    };
    let Some(ips) = result["ips"].as_array().filter(|ips| !ips.is_empty()) else {
        return Some("no ips".into());
    };
    for ip in ips {
        if ip["interface"].as_u64() != Some(sandboxed as u64) {
            return Some(format!(
                "ip {} has interface {} instead of {sandboxed} (eth0)",
                ip["address"], ip["interface"]
            ));
        }
        if ip["address"].as_str().is_none_or(|a| !a.contains('/')) {
            return Some(format!("ip address {} is not a CIDR", ip["address"]));
        }
    }
    if result["routes"].as_array().is_none_or(|r| r.is_empty()) {
        return Some("no routes".into());
    }
    if !result["dns"].is_object() {
        return Some("no dns".into());
    }
    None
}

/// One plugin set up for the cases: its config, and the namespace its pod lives in.
struct Side {
    label: &'static str,
    plugin: Plugin,
    conf: Value,
    netns: Netns,
}

impl Side {
    fn env(&self, container: &str) -> CniEnv {
        CniEnv::pod(container, &netns_path(&self.netns), "eth0")
    }

    fn call(&self, verb: &str, env: &CniEnv, conf: &Value) -> Invocation {
        self.plugin.invoke(verb, env, conf)
    }

    /// Runs every case in order; one (seen, shape problem) per case.
    fn run_cases(&self) -> Vec<(Seen, Option<String>)> {
        let path = netns_path(&self.netns);
        let container = unique("ref");
        let env = self.env(&container);
        let mut out = Vec::new();
        let mut record = |call: &Invocation, shape: Option<String>| {
            out.push((Seen::of(call), shape));
        };

        let missing = CniEnv::new();
        record(&self.call("ADD", &missing, &self.conf), None);
        let missing_del = CniEnv::new().netns(&path);
        record(&self.call("DEL", &missing_del, &self.conf), None);
        record(&self.plugin.invoke_raw("ADD", &env, b"{not json"), None);
        let mut nameless = self.conf.clone();
        nameless.as_object_mut().unwrap().remove("name");
        record(&self.call("ADD", &env, &nameless), None);
        let mut future = self.conf.clone();
        future["cniVersion"] = json!("7.7.7");
        record(&self.call("ADD", &env, &future), None);

        let add = self.call("ADD", &env, &self.conf);
        let result = add.json.clone().unwrap_or(Value::Null);
        let shape = if add.success() {
            shape_problem(&result, &path)
        } else {
            Some(format!("ADD failed: {}", add.msg()))
        };
        record(&add, shape);
        record(&self.call("ADD", &env, &self.conf), None);
        let mut with_prev = self.conf.clone();
        with_prev["prevResult"] = result;
        record(&self.call("CHECK", &env, &with_prev), None);
        let _ = self.netns.run(&["ip", "link", "del", "eth0"]);
        record(&self.call("CHECK", &env, &with_prev), None);
        record(&self.call("DEL", &env, &with_prev), None);
        record(&self.call("DEL", &env, &with_prev), None);
        let no_netns = CniEnv::new().containerid(&container).ifname("eth0");
        record(&self.call("DEL", &no_netns, &self.conf), None);
        let never_added = self.env(&unique("never"));
        record(&self.call("DEL", &never_added, &self.conf), None);
        out
    }
}

/// The cases, in the order [`Side::run_cases`] runs them.
const CASES: &[(&str, Expect)] = &[
    ("ADD without CONTAINERID/NETNS/IFNAME", Expect::Code(4)),
    ("DEL without CONTAINERID/IFNAME", Expect::Code(4)),
    ("ADD, stdin not JSON", Expect::Code(6)),
    ("ADD, config without name", Expect::Code(7)),
    ("ADD, cniVersion 7.7.7", Expect::Code(1)),
    ("ADD", Expect::AddShape),
    ("ADD again (duplicate)", Expect::PluginCode),
    ("CHECK right after ADD", Expect::Success),
    ("CHECK after `ip link del eth0`", Expect::Failure),
    ("DEL", Expect::Success),
    ("DEL again", Expect::Success),
    ("DEL without CNI_NETNS", Expect::Success),
    ("DEL with no prior ADD", Expect::Success),
];

fn table(rows: &[Row], labels: &[&str]) -> String {
    let mut s = format!("{:<40} {:<26}", "case", "spec / expected");
    for l in labels {
        s += &format!(" {l:<26}");
    }
    s += "\n";
    for row in rows {
        s += &format!("{:<40} {:<26}", row.case, row.expect.text());
        for (seen, shape) in &row.sides {
            let mark = if row.expect.met(seen, shape) {
                ""
            } else {
                "  <-- "
            };
            s += &format!(" {:<26}", format!("{}{mark}", seen.cell()));
        }
        s += "\n";
    }
    s += "\nwhat the failing calls said:\n";
    for row in rows {
        for ((seen, shape), label) in row.sides.iter().zip(labels) {
            if !row.expect.met(seen, shape) {
                s += &format!(
                    "  {} / {label}: {} {}\n",
                    row.case,
                    seen.note,
                    shape.clone().unwrap_or_default()
                );
            }
        }
    }
    s
}

#[test]
fn reference_plugins_and_podwire_answer_the_same_cases_alike() {
    if !root_or_skip() {
        return;
    }
    // Debian: bridge + host-local, with a default route so that the result
    // has routes like podwire's.
    let bridge = HostLink(unique("cbr"));
    let ipam_dir = tempfile::tempdir().unwrap();
    let block = Block::unique();
    let debian = Side {
        label: "debian bridge",
        plugin: Plugin::debian("bridge"),
        conf: json!({
            "cniVersion": "1.0.0",
            "name": unique("refbr"),
            "type": "bridge",
            "bridge": bridge.0,
            "isGateway": true,
            "isDefaultGateway": true,
            "ipam": {"type": "host-local", "subnet": block.v4, "dataDir": ipam_dir.path()},
            "dns": {"nameservers": ["10.96.0.10"]},
        }),
        netns: Netns::new("refd"),
    };
    let lab = Lab::start(vec![NetSpec::new("default")]);
    let podwire = Side {
        label: "podwire",
        plugin: lab.plugin(),
        conf: lab.conf("default", "1.0.0"),
        netns: Netns::new("refp"),
    };
    let sides = [&debian, &podwire];
    let results: Vec<Vec<(Seen, Option<String>)>> = sides.iter().map(|s| s.run_cases()).collect();
    let rows: Vec<Row> = CASES
        .iter()
        .enumerate()
        .map(|(i, (case, expect))| Row {
            case,
            expect: *expect,
            sides: results.iter().map(|r| r[i].clone()).collect(),
        })
        .collect();
    let labels: Vec<&str> = sides.iter().map(|s| s.label).collect();
    let all_met = rows.iter().all(|row| {
        row.sides
            .iter()
            .all(|(seen, shape)| row.expect.met(seen, shape))
    });
    assert!(
        all_met,
        "the plugins differ from the spec (marked <--):\n{}",
        table(&rows, &labels)
    );
    // The plugin-specific codes of a duplicate ADD need not agree, but the
    // addresses DEL freed must be free again on both sides.
    assert_eq!(
        lab.used("default"),
        0,
        "podwire still holds addresses after the DELs: {:?}",
        lab.networks()
    );
    let leftover = std::fs::read_dir(ipam_dir.path())
        .unwrap()
        .flatten()
        .flat_map(|net| {
            std::fs::read_dir(net.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|f| f.file_name().to_string_lossy().starts_with("10."))
        .count();
    assert_eq!(
        leftover, 0,
        "host-local still holds addresses after the DELs"
    );
}
