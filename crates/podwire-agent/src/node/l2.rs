//! L2 interfaces in the tables: bridge domains with their ports, and the modes of bridged and
//! cross-connected interfaces, known once every interface has its index.

use podwire_dataplane::interface::{BridgeDomainId, IfIndex, InterfaceMode};
use podwire_dataplane::tables::{BridgeDomainConfig, Tables, TablesBuilder};
use podwire_model::config::{Config, Forwarding};

use super::NodeError;

/// The mode each L2 interface gets, once the tables are built.
#[derive(Debug, Default)]
pub(super) struct L2Modes(Vec<(IfIndex, InterfaceMode)>);

/// Adds the config's bridge domains, with their ports, to `tables`; `index` says where an
/// interface is. Returns the modes to give the L2 interfaces.
pub(super) fn add_bridge_domains(
    tables: &mut TablesBuilder,
    config: &Config,
    index: impl Fn(&str) -> Option<IfIndex>,
) -> Result<L2Modes, NodeError> {
    let index = |name: &str| {
        index(name).ok_or_else(|| NodeError::UnknownInterface {
            what: "an L2 interface".to_owned(),
            interface: name.to_owned(),
        })
    };
    let mut modes = Vec::new();
    for domain in &config.bridge_domains {
        let members = config
            .interfaces
            .iter()
            .filter(|i| matches!(&i.forwarding, Forwarding::Bridged(d) if *d == domain.name));
        let ports = members
            .map(|i| index(&i.name))
            .collect::<Result<Vec<_>, _>>()?;
        let id: BridgeDomainId = tables.add_bridge_domain(BridgeDomainConfig {
            name: domain.name.clone(),
            ports: ports.clone(),
            learn: domain.learn,
            flood: domain.flood,
            mac_age: domain.mac_age,
        });
        modes.extend(ports.into_iter().map(|p| (p, InterfaceMode::Bridged(id))));
    }
    for interface in &config.interfaces {
        if let Forwarding::CrossConnect(peer) = &interface.forwarding {
            let mode = InterfaceMode::CrossConnect(index(peer)?);
            modes.push((index(&interface.name)?, mode));
        }
    }
    Ok(L2Modes(modes))
}

impl L2Modes {
    /// Gives the L2 interfaces of `tables` their modes.
    pub(super) fn apply(&self, tables: &mut Tables) {
        for (index, mode) in self.0.iter().cloned() {
            if let Some(interface) = tables.interfaces.get_mut(index.as_usize()) {
                interface.mode = mode;
            }
        }
    }
}
