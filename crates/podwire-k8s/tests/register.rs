//! A node publishing its tunnel address on its Node, against the fake API server
//! ([`support::FakeApi`]): the JSON merge patch the API server receives, no write when the
//! annotation already holds the address, and what a refusal says.

mod support;

use std::net::IpAddr;

use axum::http::Method;
use podwire_k8s::register::{Published, RegisterError, publish_tunnel_address};
use podwire_k8s::watch::client;
use podwire_model::cluster::TUNNEL_ADDRESS_ANNOTATION;
use serde_json::json;
use support::{FakeApi, NODE_B, Reply, Seen};

fn patches(seen: &[Seen]) -> Vec<Seen> {
    seen.iter()
        .filter(|s| s.method == Method::PATCH)
        .cloned()
        .collect()
}

fn address(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[tokio::test]
async fn the_address_is_merged_into_the_annotations_and_not_written_again() {
    let fake = FakeApi::new()
        .script(
            NODE_B,
            vec![Reply::ok("node-b.json"), Reply::ok("node-b.annotated.json")],
            vec![],
        )
        .script_patches(NODE_B, vec![Reply::ok("node-b.annotated.json")]);
    let kubeconfig = fake.clone().start().await;
    let client = client(Some(kubeconfig.path())).await.unwrap();

    let published = publish_tunnel_address(&client, "node-b", address("192.168.60.2")).await;
    assert_eq!(published.unwrap(), Published::Written);
    let [patch] = &patches(&fake.seen())[..] else {
        panic!("one PATCH: {:?}", fake.seen());
    };
    assert_eq!(patch.path, NODE_B);
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(patch.field_manager.as_deref(), Some("podwire"));
    // Only the annotation: a merge patch of anything else would overwrite the kubelet's
    // and the controller manager's fields.
    let body: serde_json::Value = serde_json::from_slice(&patch.body).unwrap();
    assert_eq!(
        body,
        json!({"metadata": {"annotations": {TUNNEL_ADDRESS_ANNOTATION: "192.168.60.2"}}})
    );

    // A restart: the Node already says so.
    let published = publish_tunnel_address(&client, "node-b", address("192.168.60.2")).await;
    assert_eq!(published.unwrap(), Published::Unchanged);
    assert_eq!(patches(&fake.seen()).len(), 1, "{:?}", fake.seen());
}

#[tokio::test]
async fn another_address_in_the_annotation_is_replaced() {
    let fake = FakeApi::new()
        .script(NODE_B, vec![Reply::ok("node-b.annotated.json")], vec![])
        .script_patches(NODE_B, vec![Reply::ok("node-b.annotated.json")]);
    let kubeconfig = fake.clone().start().await;
    let client = client(Some(kubeconfig.path())).await.unwrap();

    let published = publish_tunnel_address(&client, "node-b", address("fd00:60::2")).await;
    assert_eq!(published.unwrap(), Published::Written);
    let [patch] = &patches(&fake.seen())[..] else {
        panic!("one PATCH: {:?}", fake.seen());
    };
    let body: serde_json::Value = serde_json::from_slice(&patch.body).unwrap();
    assert_eq!(
        body["metadata"]["annotations"][TUNNEL_ADDRESS_ANNOTATION],
        "fd00:60::2"
    );
}

#[tokio::test]
async fn a_refusal_says_what_the_service_account_needs() {
    let fake = FakeApi::new()
        .script(NODE_B, vec![Reply::ok("node-b.json")], vec![])
        .script_patches(NODE_B, vec![Reply::status("forbidden-patch.json")]);
    let kubeconfig = fake.clone().start().await;
    let client = client(Some(kubeconfig.path())).await.unwrap();

    let error = publish_tunnel_address(&client, "node-b", address("192.168.60.2"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, RegisterError::Forbidden { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("the service account needs patch on nodes: apply deploy/10-rbac.yaml"),
        "{message}"
    );
    assert!(message.contains("Node node-b"), "{message}");

    // No Node of that name (404): nothing to annotate, and no PATCH tried.
    let error = publish_tunnel_address(&client, "node-x", address("192.168.60.2"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, RegisterError::NodeUnreadable { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("Node node-x"), "{error}");
    let patched: Vec<String> = patches(&fake.seen()).into_iter().map(|s| s.path).collect();
    assert_eq!(patched, [NODE_B]);
}
