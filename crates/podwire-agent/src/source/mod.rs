//! Where the cluster objects come from when they are not applied on this node: etcd
//! ([`etcd`]) or the Kubernetes API (`podwire_k8s::watch`). Either hands the store
//! [`podwire_k8s::source::SourceEvent`]s.

pub mod etcd;
