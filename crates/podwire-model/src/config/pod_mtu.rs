//! The MTU a pod gets: that of where its traffic leaves the node, unless its `[[network]]` or
//! `[[pod]]` gives one, which is then an upper bound the cluster's tunnel may lower.
//!
//! A pod's packets leave a node through the cluster's VXLAN tunnel (to other nodes' pods) and
//! through the masquerade interfaces (out of the cluster). A pod MTU above the way out makes
//! the switch refuse or cut the pod's large packets; one below it wastes what the way out
//! carries (on a 9000-byte uplink, pods at 1500 lose most of jumbo frames' gain). The node
//! knows the ways out only once its interfaces are attached, so the rule is a function of
//! what it found there: [`PodExits`].

use std::fmt;

use super::DEFAULT_NETWORK_MTU;

/// Where pods' traffic leaves this node, with the MTUs the node found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodExits {
    /// The cluster's VXLAN tunnel, when the node is in a cluster.
    pub tunnel: Option<TunnelExit>,
    /// The masquerade interfaces (`services.masquerade_interfaces`) with their MTUs.
    pub masquerade: Vec<(String, u32)>,
}

/// The cluster's VXLAN tunnel as a way out of the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelExit {
    /// The interface it runs over (`cluster.uplink`).
    pub uplink: String,
    /// The uplink's MTU.
    pub uplink_mtu: u32,
    /// The tunnel's own: the uplink's less the encapsulation.
    pub mtu: u32,
}

/// A pod's MTU and where it comes from, as the daemon logs it: `MTU 8950 (tunnel over eth1,
/// MTU 9000)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodMtu {
    /// The MTU.
    pub mtu: u32,
    /// Why that one.
    pub from: MtuSource,
}

/// What decided a pod's MTU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MtuSource {
    /// The config's `mtu`, which fits every way out that bounds it.
    Given,
    /// The config's `mtu`, lowered: the tunnel cannot carry it.
    GivenOverTunnel {
        /// What the config gave.
        given: u32,
        /// The tunnel that lowered it.
        tunnel: TunnelExit,
    },
    /// None given: the tunnel's, the smallest way out.
    Tunnel(TunnelExit),
    /// None given: this masquerade interface's, the smallest way out.
    Masquerade(String),
    /// None given and no way out to fit: [`DEFAULT_NETWORK_MTU`].
    Default,
}

/// The MTU of a pod whose config gives `given` (`None`: no `mtu`) on a node whose pods'
/// traffic leaves through `exits`.
///
/// Without `given`: the smallest MTU among the tunnel and the masquerade interfaces (the
/// tunnel on a tie), [`DEFAULT_NETWORK_MTU`] when there are none. With it: `given`, lowered
/// to the tunnel's when the tunnel cannot carry it; a masquerade interface does not lower it
/// (a larger pod MTU is the file's choice for traffic that stays on the node).
pub fn pod_mtu(given: Option<u32>, exits: &PodExits) -> PodMtu {
    match (given, &exits.tunnel) {
        (Some(given), Some(tunnel)) if tunnel.mtu < given => PodMtu {
            mtu: tunnel.mtu,
            from: MtuSource::GivenOverTunnel {
                given,
                tunnel: tunnel.clone(),
            },
        },
        (Some(given), _) => PodMtu {
            mtu: given,
            from: MtuSource::Given,
        },
        (None, tunnel) => {
            let tunnel = tunnel.iter().map(|t| (t.mtu, MtuSource::Tunnel(t.clone())));
            let masquerade = (exits.masquerade.iter())
                .map(|(name, mtu)| (*mtu, MtuSource::Masquerade(name.clone())));
            // `min_by_key` keeps the first of equals: the tunnel, then file order.
            let (mtu, from) = tunnel
                .chain(masquerade)
                .min_by_key(|(mtu, _)| *mtu)
                .unwrap_or((DEFAULT_NETWORK_MTU, MtuSource::Default));
            PodMtu { mtu, from }
        }
    }
}

impl fmt::Display for PodMtu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MTU {} ({})", self.mtu, self.from)
    }
}

impl fmt::Display for MtuSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MtuSource::Given => f.write_str("given in the config"),
            MtuSource::GivenOverTunnel { given, tunnel } => write!(
                f,
                "{given} given in the config, lowered to fit the tunnel over {}, MTU {}",
                tunnel.uplink, tunnel.uplink_mtu
            ),
            MtuSource::Tunnel(tunnel) => {
                write!(
                    f,
                    "tunnel over {}, MTU {}",
                    tunnel.uplink, tunnel.uplink_mtu
                )
            }
            MtuSource::Masquerade(name) => write!(f, "masquerade interface {name}"),
            MtuSource::Default => f.write_str(
                "the default: no tunnel and no masquerade interface, and no mtu in the config",
            ),
        }
    }
}
