//! What a node's kernel has — links, global addresses, main-table routes — as a set of lines
//! that two snapshots can be compared by: what a node stopped and started again, or a test,
//! left behind.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

use super::namespace::Namespace;

/// One line per link, address and route: `link ul0`, `addr ul0 192.168.60.11/24`,
/// `route 10.244.0.0/16 dev pwhost`. Link-local addresses and routes are left out: the kernel
/// makes them itself for every link that comes up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot(BTreeSet<String>);

impl Snapshot {
    /// The snapshot of `namespace` now.
    pub fn take(namespace: &Namespace) -> anyhow::Result<Snapshot> {
        let mut lines = BTreeSet::new();
        for link in array(&namespace.ip_json(&["link", "show"])?) {
            lines.insert(format!("link {}", text(&link["ifname"])));
        }
        for link in array(&namespace.ip_json(&["addr", "show"])?) {
            for a in array(&link["addr_info"]) {
                if a["scope"] != "link" {
                    lines.insert(format!(
                        "addr {} {}/{}",
                        text(&link["ifname"]),
                        text(&a["local"]),
                        a["prefixlen"]
                    ));
                }
            }
        }
        for family in ["-4", "-6"] {
            for route in array(&namespace.ip_json(&[family, "route", "show"])?) {
                if let Some(line) = route_line(&route) {
                    lines.insert(line);
                }
            }
        }
        Ok(Snapshot(lines))
    }

    /// What `later` has that this has not (`+ …`) and what it lost (`- …`).
    pub fn changes(&self, later: &Snapshot) -> Vec<String> {
        let added = later.0.difference(&self.0).map(|l| format!("+ {l}"));
        let lost = self.0.difference(&later.0).map(|l| format!("- {l}"));
        added.chain(lost).collect()
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.0 {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// A route as one line, or `None` for a link-local one.
fn route_line(route: &Value) -> Option<String> {
    let dst = text(&route["dst"]);
    if dst.starts_with("fe80:") || dst.starts_with("ff00:") {
        return None;
    }
    let mut line = format!("route {dst}");
    for key in ["gateway", "dev", "type"] {
        if let Some(value) = route[key].as_str() {
            line += &format!(" {key} {value}");
        }
    }
    Some(line)
}

fn array(value: &Value) -> Vec<Value> {
    value.as_array().cloned().unwrap_or_default()
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}
