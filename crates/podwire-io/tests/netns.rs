//! Named network namespaces and running code inside them (root).

mod common;

use std::path::Path;

use common::{TestNs, ip, root_or_skip, unique};
use podwire_io::netns::{Error, NetNs};

#[test]
fn a_named_namespace_is_created_opened_entered_and_deleted() {
    if !root_or_skip() {
        return;
    }
    let host = NetNs::current().unwrap().inode().unwrap();
    let test = TestNs::new();
    let path = Path::new("/run/netns").join(&test.name);
    assert!(path.exists());
    assert!(
        ip(&["netns", "list"]).contains(&test.name),
        "ip netns sees it"
    );

    let created = test.ns.inode().unwrap();
    assert_ne!(created, host, "a new namespace, not ours");
    assert_eq!(
        NetNs::open_named(&test.name).unwrap().inode().unwrap(),
        created
    );
    assert_eq!(NetNs::open(&path).unwrap().inode().unwrap(), created);

    let inside = test
        .ns
        .run_in(|| NetNs::current().unwrap().inode().unwrap())
        .unwrap();
    assert_eq!(inside, created, "run_in runs inside the namespace");
    assert_eq!(
        NetNs::current().unwrap().inode().unwrap(),
        host,
        "and leaves the caller where it was"
    );
    // What `ip` sees inside is a fresh namespace: only a loopback.
    let links = ip(&["-n", &test.name, "-o", "link"]);
    assert_eq!(links.lines().count(), 1, "{links}");

    NetNs::delete_named(&test.name).unwrap();
    assert!(!path.exists());
    assert!(matches!(
        NetNs::open_named(&test.name),
        Err(Error::Open { .. })
    ));
    NetNs::delete_named(&test.name).expect("deleting twice is fine");
}

#[test]
fn a_name_cannot_be_created_twice() {
    if !root_or_skip() {
        return;
    }
    let test = TestNs::new();
    let err = NetNs::create_named(&test.name).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { ref name } if *name == test.name));
    // The failed attempt did not disturb the existing one.
    let again = NetNs::open_named(&test.name).unwrap();
    assert_eq!(again.inode().unwrap(), test.ns.inode().unwrap());
}

#[test]
fn namespaces_made_by_iproute2_are_interchangeable() {
    if !root_or_skip() {
        return;
    }
    let name = unique("podwire-test-ip-");
    ip(&["netns", "add", &name]);
    // Made by `ip`, removed by us (also if the assertions fail).
    struct Delete<'a>(&'a str);
    impl Drop for Delete<'_> {
        fn drop(&mut self) {
            let _ = NetNs::delete_named(self.0);
        }
    }
    let _guard = Delete(&name);
    let ns = NetNs::open_named(&name).unwrap();
    let inside = ns.run_in(|| NetNs::current().unwrap().inode().unwrap());
    assert_eq!(inside.unwrap(), ns.inode().unwrap());
    NetNs::delete_named(&name).unwrap();
    assert!(!ip(&["netns", "list"]).contains(&name));
}

#[test]
fn two_namespaces_are_distinct_and_a_clone_is_the_same() {
    if !root_or_skip() {
        return;
    }
    let (a, b) = (TestNs::new(), TestNs::new());
    assert_ne!(a.ns.inode().unwrap(), b.ns.inode().unwrap());
    let a2 = a.ns.try_clone().unwrap();
    assert_eq!(a2.inode().unwrap(), a.ns.inode().unwrap());
    let inside = a2.run_in(|| NetNs::current().unwrap().inode().unwrap());
    assert_eq!(inside.unwrap(), a.ns.inode().unwrap());
}
