//! L2 interfaces: ports of a `[[bridge_domain]]` and cross-connected pairs, for any interface
//! kind.
//!
//! A cross-connect is symmetric: `xconnect = "b"` on interface `a` pairs `a` and `b` both ways,
//! whether or not `b` says `xconnect = "a"` too. Naming it on both ends is allowed; naming a
//! different partner on the other end is not, nor giving either end addresses or a bridge
//! domain.

use std::time::Duration;

use super::super::file::{BridgeDomainSection, ConfigFile, InterfaceSection};
use super::super::{BridgeDomainConfig, DEFAULT_MAC_AGE, Forwarding, InterfaceConfig};
use super::{Validator, values};

impl Validator {
    /// How the interface `raw` forwards, checked against the bridge domains and the other
    /// interfaces of `file`.
    pub(super) fn forwarding(
        &mut self,
        at: &str,
        raw: &InterfaceSection,
        file: &ConfigFile,
    ) -> Option<Forwarding> {
        let forwarding = match (&raw.bridge_domain, &raw.xconnect) {
            (None, None) => return Some(Forwarding::Routed),
            (Some(_), Some(_)) => {
                self.problem(
                    format!("{at}.xconnect"),
                    "an interface is a port of a bridge domain or cross-connected, not both; remove bridge_domain or xconnect".to_owned(),
                );
                return None;
            }
            (Some(domain), None) => self.bridge_port(at, domain, file).map(Forwarding::Bridged),
            (None, Some(peer)) => self
                .cross_connect(at, raw, peer, file)
                .map(Forwarding::CrossConnect),
        };
        if !raw.addresses.is_empty() {
            let key = if raw.bridge_domain.is_some() {
                "bridge_domain"
            } else {
                "xconnect"
            };
            self.problem(
                format!("{at}.addresses"),
                format!(
                    "an L2 interface ({key}) has no addresses of its own; remove them, or remove {key} to route on it"
                ),
            );
            return None;
        }
        forwarding
    }

    /// `bridge_domain = "domain"`: it must be a `[[bridge_domain]]`.
    fn bridge_port(&mut self, at: &str, domain: &str, file: &ConfigFile) -> Option<String> {
        if file.bridge_domain.iter().any(|b| b.name == domain) {
            return Some(domain.to_owned());
        }
        let names: Vec<_> = file.bridge_domain.iter().map(|b| b.name.as_str()).collect();
        let choices = if names.is_empty() {
            format!("add a [[bridge_domain]] section with name = {domain:?}")
        } else {
            format!("name one of {}", names.join(", "))
        };
        self.problem(
            format!("{at}.bridge_domain"),
            format!("there is no [[bridge_domain]] named {domain:?}; {choices}"),
        );
        None
    }

    /// `xconnect = "peer"` on `raw`: the peer must be another interface free to pair with it.
    fn cross_connect(
        &mut self,
        at: &str,
        raw: &InterfaceSection,
        peer: &str,
        file: &ConfigFile,
    ) -> Option<String> {
        let field = format!("{at}.xconnect");
        let Some(other) = file.interface.iter().find(|i| i.name == peer) else {
            let names: Vec<_> = file
                .interface
                .iter()
                .map(|i| i.name.as_str())
                .filter(|&name| name != raw.name)
                .collect();
            let choices = if names.is_empty() {
                "add the [[interface]] to pair it with".to_owned()
            } else {
                format!("name one of {}", names.join(", "))
            };
            self.problem(
                &field,
                format!("there is no interface named {peer:?}; {choices}"),
            );
            return None;
        };
        let refusal = if peer == raw.name {
            Some("an interface cannot be cross-connected with itself; name another one".to_owned())
        } else if let Some(domain) = &other.bridge_domain {
            Some(format!(
                "interface {peer:?} is a port of bridge domain {domain:?}; a cross-connected interface has no other port: remove its bridge_domain"
            ))
        } else if !other.addresses.is_empty() {
            Some(format!(
                "interface {peer:?} has addresses; both ends of a cross-connect forward by MAC: remove its addresses"
            ))
        } else {
            None
        };
        if let Some(problem) = refusal {
            self.problem(&field, problem);
            return None;
        }
        let paired = [(raw.name.as_str(), peer), (peer, raw.name.as_str())];
        for (end, partner) in paired {
            if let Some((taken, by)) = self.cross_connects.get(end)
                && taken != partner
            {
                let problem = format!(
                    "interface {end:?} is already cross-connected with {taken:?} by {by}; an interface has one partner"
                );
                self.problem(&field, problem);
                return None;
            }
        }
        for (end, partner) in paired {
            self.cross_connects
                .entry(end.to_owned())
                .or_insert_with(|| (partner.to_owned(), field.clone()));
        }
        Some(peer.to_owned())
    }

    pub(super) fn bridge_domain(
        &mut self,
        at: &str,
        raw: &BridgeDomainSection,
    ) -> Option<BridgeDomainConfig> {
        let name_field = format!("{at}.name");
        let name = self.check(&name_field, values::bridge_domain_name(&raw.name));
        if let Some(name) = &name {
            self.unique(
                |v| &mut v.bridge_domain_names,
                name.clone(),
                &name_field,
                |first| {
                    format!(
                        "{name:?} is already the name of {first}; bridge domain names must be unique"
                    )
                },
            );
        }
        let mac_age = raw.mac_age_s.map_or(Some(DEFAULT_MAC_AGE), |seconds| {
            let age = (seconds > 0).then(|| Duration::from_secs(seconds));
            if age.is_none() {
                self.problem(
                    format!("{at}.mac_age_s"),
                    "0 would forget every MAC address at once; give at least 1 (seconds, default 300)"
                        .to_owned(),
                );
            }
            age
        });
        Some(BridgeDomainConfig {
            name: name?,
            learn: raw.learn.unwrap_or(true),
            flood: raw.flood.unwrap_or(true),
            mac_age: mac_age?,
        })
    }
}

/// Makes every cross-connect symmetric: the partner named by one end gets it too.
pub(super) fn pair_cross_connects(interfaces: &mut [InterfaceConfig]) {
    let pairs: Vec<(String, String)> = interfaces
        .iter()
        .filter_map(|i| match &i.forwarding {
            Forwarding::CrossConnect(peer) => Some((peer.clone(), i.name.clone())),
            _ => None,
        })
        .collect();
    for (end, partner) in pairs {
        if let Some(other) = interfaces.iter_mut().find(|i| i.name == end) {
            other.forwarding = Forwarding::CrossConnect(partner);
        }
    }
}

/// Why the interface `name` of `file` forwards by MAC, if it does: it names a bridge domain or
/// a partner, or another interface names it as its partner.
pub(super) fn layer2_reason(file: &ConfigFile, name: &str) -> Option<String> {
    let own = file.interface.iter().find(|i| i.name == name)?;
    if let Some(domain) = &own.bridge_domain {
        return Some(format!("bridge_domain {domain:?}"));
    }
    if let Some(peer) = &own.xconnect {
        return Some(format!("xconnect {peer:?}"));
    }
    file.interface
        .iter()
        .find(|i| i.xconnect.as_deref() == Some(name))
        .map(|i| format!("interface {:?} cross-connects it", i.name))
}
