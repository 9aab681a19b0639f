//! How long an ADD takes the registry, mostly saving the state file. Prints figures, asserts
//! nothing about time: run with
//! `cargo test -p podwire-agent --release attachments::tests::timing -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use super::*;

/// ADDs timed at each size (each followed by an untimed DEL, so the size stays put).
const ROUNDS: u32 = 200;

#[test]
#[ignore = "prints timings; run by hand"]
fn time_add_with_1_100_1000_attachments() {
    let networks = [network("default", &["10.0.0.0/16", "fd00::/64"])];
    for existing in [1usize, 100, 1000] {
        let (_dir, mut registry) = open_new(&networks);
        for i in 0..existing.saturating_sub(1) {
            add_ok(&mut registry, &key("default", &format!("{i:064x}"), "eth0"));
        }
        let mut total = Duration::ZERO;
        for round in 0..ROUNDS {
            let k = key("default", &format!("timed{round:059x}"), "eth0");
            let start = Instant::now();
            add_ok(&mut registry, &k);
            total += start.elapsed();
            registry.remove(&k).expect("remove");
        }
        let file = std::fs::metadata(registry.state_file())
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "registry add with {existing:>4} attachments: {:>7.1} µs per add (state file {} KiB)",
            (total / ROUNDS).as_secs_f64() * 1e6,
            file / 1024,
        );
    }
}
