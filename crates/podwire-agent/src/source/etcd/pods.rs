//! A Pod's status in etcd: the node that runs a pod records its addresses there, as a kubelet
//! would, and an apply of the Pod keeps what the node recorded.

use std::net::IpAddr;

use etcd_client::{Compare, CompareOp, Txn, TxnOp};
use podwire_k8s::object::Object;
use podwire_model::cluster::{ObjectKey, ObjectKind};
use serde_json::{Value, json};

use super::{CAS_ATTEMPTS, EtcdError, EtcdStore, request};

/// Whether writing `object` keeps the stored status: a Pod that comes without one.
pub(super) fn keeps_stored_status(object: &Object) -> bool {
    matches!(object, Object::Pod(pod) if pod.status.is_none())
}

/// Gives `incoming` (a Pod without a status, as JSON) the status of `stored` (the Pod in
/// the store, as JSON) and its `spec.nodeName` when `incoming` names no node.
pub(super) fn keep_stored_status(incoming: &mut Value, stored: &Value) {
    if let Some(status) = stored.get("status") {
        incoming["status"] = status.clone();
    }
    let node = stored.pointer("/spec/nodeName");
    if let Some(node) = node
        && incoming.pointer("/spec/nodeName").is_none()
    {
        if !incoming.get("spec").is_some_and(Value::is_object) {
            incoming["spec"] = json!({});
        }
        incoming["spec"]["nodeName"] = node.clone();
    }
}

/// Records in `pod` (a Pod as JSON) that it runs on `node` with `ips`, or, with no `ips`,
/// that it no longer runs on `node` (unless it runs on another node by now, which is then
/// left alone). Whether `pod` changed.
pub(super) fn record_pod_ips(pod: &mut Value, node: &str, ips: &[IpAddr]) -> bool {
    let before = pod.clone();
    if !pod.get("spec").is_some_and(Value::is_object) {
        pod["spec"] = json!({});
    }
    if !pod.get("status").is_some_and(Value::is_object) {
        pod["status"] = json!({});
    }
    match ips.first() {
        Some(first) => {
            pod["spec"]["nodeName"] = json!(node);
            pod["status"]["podIP"] = json!(first.to_string());
            pod["status"]["podIPs"] = ips.iter().map(|ip| json!({"ip": ip.to_string()})).collect();
        }
        None => {
            let elsewhere = pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|named| !named.is_empty() && named != node);
            if elsewhere {
                *pod = before;
                return false;
            }
            for (part, field) in [
                ("spec", "nodeName"),
                ("status", "podIP"),
                ("status", "podIPs"),
            ] {
                if let Some(fields) = pod[part].as_object_mut() {
                    fields.remove(field);
                }
            }
        }
    }
    // Leave no empty spec or status behind: an empty one says nothing an absent one does not.
    for part in ["spec", "status"] {
        if pod[part].as_object().is_some_and(|o| o.is_empty())
            && let Some(fields) = pod.as_object_mut()
        {
            fields.remove(part);
        }
    }
    *pod != before
}

impl EtcdStore {
    /// Records that Pod `namespace/name` runs on `node` with `ips` (`status.podIP`,
    /// `status.podIPs`, `spec.nodeName`), as a kubelet would. With no `ips`, clears them:
    /// the pod no longer runs on `node` (left alone when it runs on another node by now).
    /// A compare-and-swap on the stored revision, retried when someone else wrote the Pod
    /// meanwhile. `Ok(false)` when the store has no such Pod.
    pub async fn set_pod_ips(
        &self,
        namespace: &str,
        name: &str,
        node: &str,
        ips: &[IpAddr],
    ) -> Result<bool, EtcdError> {
        let key = self.keys.object(&ObjectKey {
            kind: ObjectKind::Pod,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })?;
        for _ in 0..CAS_ATTEMPTS {
            let stored = self.get_many(&[key.as_str()]).await?.remove(key.as_str());
            let Some(stored) = stored.flatten() else {
                return Ok(false);
            };
            let mut pod = self.decode(&stored)?.to_json();
            if !record_pod_ips(&mut pod, node, ips) {
                return Ok(true);
            }
            // What is written must still be a Pod podwire reads back.
            let pod = Object::from_json(pod).map_err(|e| EtcdError::Undecodable {
                key: key.clone(),
                problem: e.to_string(),
            })?;
            let txn = Txn::new()
                .when([Compare::mod_revision(
                    key.as_str(),
                    CompareOp::Equal,
                    stored.mod_revision(),
                )])
                .and_then([TxnOp::put(key.as_str(), pod.to_json().to_string(), None)]);
            let response = request("record a Pod's addresses", self.kv().txn(txn)).await?;
            if response.succeeded() {
                return Ok(true);
            }
        }
        Err(EtcdError::Conflict {
            key,
            attempts: CAS_ATTEMPTS,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(texts: &[&str]) -> Vec<IpAddr> {
        texts.iter().map(|t| t.parse().unwrap()).collect()
    }

    fn pod() -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"},
               "spec": {"containers": [{"name": "c"}]}})
    }

    #[test]
    fn records_the_addresses_and_the_node() {
        let mut value = pod();
        assert!(record_pod_ips(
            &mut value,
            "n1",
            &ips(&["10.1.0.5", "fd00::5"])
        ));
        assert_eq!(value["spec"]["nodeName"], "n1");
        assert_eq!(value["status"]["podIP"], "10.1.0.5");
        assert_eq!(
            value["status"]["podIPs"],
            json!([{"ip": "10.1.0.5"}, {"ip": "fd00::5"}])
        );
        assert_eq!(value["spec"]["containers"][0]["name"], "c");
        // The same again changes nothing.
        assert!(!record_pod_ips(
            &mut value,
            "n1",
            &ips(&["10.1.0.5", "fd00::5"])
        ));
        let Object::Pod(decoded) = Object::from_json(value).unwrap() else {
            panic!("a Pod decodes as a Pod");
        };
        assert_eq!(decoded.status.unwrap().pod_ips.unwrap().len(), 2);
    }

    #[test]
    fn clearing_takes_the_addresses_and_the_node_away() {
        let mut value = pod();
        record_pod_ips(&mut value, "n1", &ips(&["10.1.0.5"]));
        assert!(record_pod_ips(&mut value, "n1", &[]));
        assert_eq!(value.pointer("/spec/nodeName"), None);
        assert_eq!(value.pointer("/status/podIP"), None);
        assert_eq!(value.pointer("/status/podIPs"), None);
        assert_eq!(value, pod(), "nothing is left behind");
        assert!(!record_pod_ips(&mut value, "n1", &[]));
    }

    #[test]
    fn clearing_from_another_node_leaves_the_pod_alone() {
        let mut value = pod();
        record_pod_ips(&mut value, "n2", &ips(&["10.2.0.7"]));
        let recorded = value.clone();
        assert!(!record_pod_ips(&mut value, "n1", &[]));
        assert_eq!(value, recorded);
    }

    #[test]
    fn an_apply_without_status_keeps_the_stored_status_and_node() {
        let mut stored = pod();
        record_pod_ips(&mut stored, "n1", &ips(&["10.1.0.5"]));
        let mut incoming = pod();
        incoming["metadata"]["labels"] = json!({"app": "web"});
        keep_stored_status(&mut incoming, &stored);
        assert_eq!(incoming["status"], stored["status"]);
        assert_eq!(incoming["spec"]["nodeName"], "n1");
        assert_eq!(incoming["metadata"]["labels"]["app"], "web");
    }

    #[test]
    fn an_apply_that_names_a_node_keeps_its_own() {
        let mut stored = pod();
        record_pod_ips(&mut stored, "n1", &ips(&["10.1.0.5"]));
        let mut incoming = pod();
        incoming["spec"]["nodeName"] = json!("n9");
        keep_stored_status(&mut incoming, &stored);
        assert_eq!(incoming["spec"]["nodeName"], "n9");
        let mut bare = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}});
        keep_stored_status(&mut bare, &stored);
        assert_eq!(bare["spec"]["nodeName"], "n1");
    }

    #[test]
    fn only_pods_without_status_keep_the_stored_one() {
        let bare = Object::from_json(pod()).unwrap();
        assert!(keeps_stored_status(&bare));
        let mut with_status = pod();
        with_status["status"] = json!({"phase": "Running"});
        assert!(!keeps_stored_status(
            &Object::from_json(with_status).unwrap()
        ));
        let service = Object::from_json(json!({"apiVersion": "v1", "kind": "Service",
                                               "metadata": {"name": "s"}}))
        .unwrap();
        assert!(!keeps_stored_status(&service));
    }
}
