//! The nodes of the graph, and the standard graph they make.
//!
//! Each node lives in its own module with its drop reasons and its tests.
//! [`standard_nodes`] lists them in pipeline order (see DESIGN.md): the
//! dispatcher runs the first node that has packets, so this order is the
//! order a vector flows in.

pub mod arp;
pub mod ethernet_input;
pub mod glean;
pub mod icmp;
pub mod interface_output;
pub mod ip4;
pub mod ip6;
pub(crate) mod ip_common;
pub mod l2;
pub mod nat;
pub mod ndp;
pub mod policy;
pub mod vxlan;

use crate::graph::Node;

/// Every node of a worker's graph, in pipeline order.
pub fn standard_nodes() -> Vec<Box<dyn Node>> {
    vec![
        // NODES: each node module adds its node(s) here, in pipeline order.
        Box::new(ethernet_input::EthernetInput),
        Box::new(l2::input::L2Input),
        Box::new(l2::xconnect::L2Xconnect),
        Box::new(arp::ArpInput),
        Box::new(ip4::input::Ip4Input),
        Box::new(nat::Ip4NatIn::default()),
        Box::new(policy::Ip4Policy::default()),
        Box::new(ip4::lookup::Ip4Lookup),
        Box::new(ip4::local::Ip4Local),
        Box::new(icmp::echo4::Ip4IcmpEcho),
        Box::new(icmp::error4::Ip4IcmpError),
        Box::new(nat::Ip4NatOut::default()),
        Box::new(ip4::rewrite::Ip4Rewrite),
        Box::new(arp::Ip4Glean::default()),
        Box::new(ip6::input::Ip6Input),
        Box::new(nat::Ip6NatIn::default()),
        Box::new(policy::Ip6Policy::default()),
        Box::new(ip6::lookup::Ip6Lookup),
        Box::new(ip6::local::Ip6Local),
        Box::new(icmp::echo6::Ip6IcmpEcho),
        Box::new(icmp::error6::Ip6IcmpError),
        Box::new(nat::Ip6NatOut::default()),
        Box::new(ip6::rewrite::Ip6Rewrite),
        Box::new(ndp::Ip6Ndp),
        Box::new(ndp::Ip6Glean::default()),
        Box::new(vxlan::VxlanInput),
        Box::new(vxlan::VxlanEncap::default()),
        Box::new(interface_output::InterfaceOutput::default()),
    ]
}
