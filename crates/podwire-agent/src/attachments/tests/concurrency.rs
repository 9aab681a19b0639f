//! The registry behind the agent's mutex.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread;

use super::*;

#[test]
fn fifty_threads_adding_at_once_get_fifty_distinct_addresses() {
    let networks = [network("default", &["10.251.0.0/24", "fd00:251::/64"])];
    let (dir, registry) = open_new(&networks);
    let registry = Arc::new(Mutex::new(registry));
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let registry = Arc::clone(&registry);
            thread::spawn(move || {
                let k = key("default", &format!("c{i}"), "eth0");
                let mut registry = registry.lock().expect("registry lock");
                add_ok(&mut registry, &k)
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for thread in threads {
        let addresses = thread.join().expect("adding thread");
        assert_eq!(addresses.len(), 2);
        for address in addresses {
            assert!(seen.insert(address), "{address} was handed out twice");
        }
    }
    assert_eq!(seen.len(), 100);
    drop(registry);
    let reopened = Registry::open(dir.path(), &networks).expect("reopen");
    assert_eq!(reopened.len(), 50);
    assert_eq!(reopened.status()[0].pools[0].used, 50);
}
