//! The cache of a source's objects: copied under the store's lock, written without it, in
//! turns, the last copy winning.

use podwire_k8s::manifest;
use podwire_k8s::source::SourceEvent;

use super::*;

/// Service `default/<name>` as a source hands it.
fn applied(name: &str, cluster_ip: &str) -> SourceEvent {
    let text = service("default", name, cluster_ip, "");
    SourceEvent::Applied(manifest::parse(&text).unwrap().remove(0))
}

/// The Services the store's file holds, by name.
fn saved(dir: &tempfile::TempDir) -> Vec<String> {
    open(dir).objects().map(|o| o.key().name).collect()
}

#[test]
fn a_copy_is_what_the_store_was_when_it_was_taken() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let pods = Attached::default();
    assert!(cluster.cache_snapshot().is_none(), "nothing to save");

    cluster.sync(vec![applied("a", "10.96.0.10")], &pods);
    let first = cluster.cache_snapshot().expect("a change to save");
    // The store changes while the copy is written.
    cluster.sync(vec![applied("b", "10.96.0.11")], &pods);
    assert!(first.write().unwrap());
    assert_eq!(saved(&dir), ["a"]);

    let second = cluster.cache_snapshot().expect("b is not saved yet");
    assert!(second.write().unwrap());
    assert_eq!(saved(&dir), ["a", "b"]);
    assert!(cluster.cache_snapshot().is_none(), "everything is saved");
}

#[test]
fn an_older_copy_never_replaces_a_newer_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let pods = Attached::default();
    cluster.sync(vec![applied("a", "10.96.0.10")], &pods);
    let older = cluster.cache_snapshot().unwrap();
    cluster.sync(vec![applied("b", "10.96.0.11")], &pods);
    let newer = cluster.cache_snapshot().unwrap();

    assert!(newer.write().unwrap());
    assert!(!older.write().unwrap(), "a newer copy is saved");
    assert_eq!(saved(&dir), ["a", "b"]);
    assert!(cluster.cache_snapshot().is_none());
}

#[test]
fn writers_at_once_take_turns_and_the_last_copy_wins() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let pods = Attached::default();
    let mut copies = Vec::new();
    for (i, name) in ["a", "b", "c", "d"].into_iter().enumerate() {
        cluster.sync(vec![applied(name, &format!("10.96.0.{}", 10 + i))], &pods);
        copies.push(cluster.cache_snapshot().unwrap());
    }
    let written: usize = std::thread::scope(|scope| {
        let writers: Vec<_> = copies
            .into_iter()
            .rev()
            .map(|copy| scope.spawn(move || copy.write().unwrap()))
            .collect();
        writers
            .into_iter()
            .map(|w| usize::from(w.join().unwrap()))
            .sum()
    });
    assert!((1..=4).contains(&written));
    assert_eq!(saved(&dir), ["a", "b", "c", "d"]);
    assert!(!dir.path().join("cluster.json.tmp").exists());
}

#[test]
fn an_applied_manifest_is_saved_past_a_copy_taken_before() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let pods = Attached::default();
    cluster.sync(vec![applied("a", "10.96.0.10")], &pods);
    let older = cluster.cache_snapshot().unwrap();
    cluster
        .apply(&service("default", "b", "10.96.0.11", ""), &pods)
        .unwrap();
    assert!(cluster.cache_snapshot().is_none(), "apply saved everything");
    assert!(!older.write().unwrap());
    assert_eq!(saved(&dir), ["a", "b"]);
}
