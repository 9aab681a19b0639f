//! Which backends answered a run of requests, and what that says about the Service.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::IpAddr;

use super::lab::SvcLab;
use super::traffic::Answer;

/// Makes `count` requests with `ask`; each must be answered by one of `backends`, which
/// must have seen the source address `source`. Returns how many each backend answered.
pub fn tally(
    lab: &SvcLab,
    what: &str,
    count: usize,
    backends: &BTreeSet<String>,
    source: IpAddr,
    mut ask: impl FnMut() -> io::Result<Answer>,
) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for i in 0..count {
        let answer = ask().unwrap_or_else(|e| {
            panic!(
                "{what}: request {i} of {count} failed: {e} ({:?})\n{}",
                e.kind(),
                lab.views()
            )
        });
        assert!(
            backends.contains(&answer.backend),
            "{what}: answered by {answer}, not one of {backends:?}"
        );
        assert_eq!(
            answer.source.ip(),
            source,
            "{what}: the backend saw the source {}, expected {source} ({answer})",
            answer.source
        );
        *seen.entry(answer.backend).or_insert(0) += 1;
    }
    seen
}

/// Asserts that `seen` has every one of `backends`.
pub fn assert_spread(what: &str, seen: &BTreeMap<String, usize>, backends: &BTreeSet<String>) {
    let reached: BTreeSet<String> = seen.keys().cloned().collect();
    assert_eq!(
        &reached, backends,
        "{what}: connections should spread over every backend; got {seen:?}"
    );
}

/// Asserts that `seen` has exactly one backend; returns it.
pub fn assert_pinned(what: &str, seen: &BTreeMap<String, usize>) -> String {
    assert_eq!(
        seen.len(),
        1,
        "{what}: every connection should land on one backend; got {seen:?}"
    );
    seen.keys().next().cloned().unwrap_or_default()
}
