//! The state file: what reopening gives back, crashes, corrupt files, a changed config.

use std::fs;

use super::super::store::{STATE_FILE_TMP, VERSION};
use super::super::{RegistryError, STATE_FILE, StoreError};
use super::*;

fn dual_stack() -> Vec<NetworkConfig> {
    vec![network("default", &["10.251.0.0/24", "fd00:251::/112"])]
}

fn records(registry: &Registry) -> Vec<Attachment> {
    registry.iter().cloned().collect()
}

/// The error of opening `dir`, which must fail.
fn open_err(dir: &TempDir, networks: &[NetworkConfig]) -> RegistryError {
    Registry::open(dir.path(), networks).expect_err("open must fail")
}

#[test]
fn reopen_gives_the_same_records_and_cursors() {
    let (dir, mut registry) = open_new(&dual_stack());
    for c in ["c1", "c2", "c3"] {
        add_ok(&mut registry, &key("default", c, "eth0"));
    }
    registry
        .remove(&key("default", "c3", "eth0"))
        .expect("remove");
    let before = records(&registry);
    drop(registry);

    let mut reopened = Registry::open(dir.path(), &dual_stack()).expect("reopen");
    assert_eq!(records(&reopened), before);
    assert!(
        reopened.load_warnings().is_empty(),
        "{:?}",
        reopened.load_warnings()
    );
    assert_eq!(reopened.status()[0].pools[0].used, 2);
    // The cursor survived: .3 was handed out last (then freed), so the next is .4.
    assert_eq!(
        add_ok(&mut reopened, &key("default", "c4", "eth0")),
        vec![ip("10.251.0.4"), ip("fd00:251::4")]
    );
}

#[test]
fn the_file_has_the_documented_shape() {
    let (dir, mut registry) = open_new(&dual_stack());
    add_ok(&mut registry, &key("default", "c1", "eth0"));
    let text = fs::read_to_string(dir.path().join(STATE_FILE)).expect("state file");
    let json: serde_json::Value = serde_json::from_str(&text).expect("state file is JSON");
    assert_eq!(json["version"], VERSION);
    assert_eq!(json["attachments"][0]["key"]["container_id"], "c1");
    assert_eq!(json["cursors"]["default"]["10.251.0.0/24"], "10.251.0.1");
    assert_eq!(json["cursors"]["default"]["fd00:251::/112"], "fd00:251::1");
    assert!(
        !dir.path().join(STATE_FILE_TMP).exists(),
        "the temporary file was renamed"
    );
}

#[test]
fn open_creates_a_missing_state_dir() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let nested = dir.path().join("a/b/state");
    let mut registry = Registry::open(&nested, &dual_stack()).expect("opens");
    assert!(nested.is_dir());
    add_ok(&mut registry, &key("default", "c1", "eth0"));
    assert!(nested.join(STATE_FILE).is_file());
}

#[test]
fn a_state_dir_that_is_a_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("not-a-dir");
    fs::write(&file, b"").expect("write");
    let err = Registry::open(&file.join("state"), &dual_stack()).expect_err("cannot create");
    assert!(matches!(
        err,
        RegistryError::Open(StoreError::CreateDir { .. })
    ));
    let message = err.to_string();
    assert!(
        message.contains("not-a-dir/state") && message.contains("node.state_dir"),
        "{message}"
    );
}

#[test]
fn a_leftover_tmp_file_from_a_crash_is_ignored() {
    let (dir, mut registry) = open_new(&dual_stack());
    add_ok(&mut registry, &key("default", "c1", "eth0"));
    let before = records(&registry);
    drop(registry);
    // A crash in the middle of the next write: a torn temporary file.
    fs::write(
        dir.path().join(STATE_FILE_TMP),
        b"{\"version\": 1, \"attachm",
    )
    .expect("write");

    let mut reopened = Registry::open(dir.path(), &dual_stack()).expect("reopen after crash");
    assert_eq!(records(&reopened), before);
    assert_eq!(
        add_ok(&mut reopened, &key("default", "c2", "eth0"))[0],
        ip("10.251.0.2")
    );
    drop(reopened);
    let reopened = Registry::open(dir.path(), &dual_stack()).expect("reopen");
    assert_eq!(reopened.len(), 2);
}

#[test]
fn a_crash_before_the_first_rename_leaves_an_empty_registry() {
    let dir = tempfile::tempdir().expect("temporary directory");
    fs::write(dir.path().join(STATE_FILE_TMP), b"{\"vers").expect("write");
    let registry = Registry::open(dir.path(), &dual_stack()).expect("opens");
    assert!(registry.is_empty());
}

#[test]
fn a_corrupt_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temporary directory");
    fs::write(dir.path().join(STATE_FILE), b"{not json").expect("write");
    let err = open_err(&dir, &dual_stack());
    assert!(matches!(
        err,
        RegistryError::Open(StoreError::Corrupt { .. })
    ));
    let message = err.to_string();
    let path = dir.path().join(STATE_FILE);
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains("corrupt") && message.contains("restore it from a backup"),
        "{message}"
    );
}

#[test]
fn a_truncated_file_is_a_clear_error() {
    let (dir, mut registry) = open_new(&dual_stack());
    add_ok(&mut registry, &key("default", "c1", "eth0"));
    drop(registry);
    let path = dir.path().join(STATE_FILE);
    let text = fs::read(&path).expect("read");
    fs::write(&path, &text[..text.len() / 2]).expect("truncate");
    assert!(matches!(
        open_err(&dir, &dual_stack()),
        RegistryError::Open(StoreError::Corrupt { .. })
    ));
}

#[test]
fn a_file_of_the_wrong_shape_is_corrupt_and_says_where() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join(STATE_FILE);
    fs::write(&path, br#"{"version": 1, "attachments": [{"key": 3}]}"#).expect("write");
    let message = open_err(&dir, &dual_stack()).to_string();
    assert!(message.contains("line 1 column"), "{message}");
    fs::write(&path, br#"{"attachments": []}"#).expect("write");
    let message = open_err(&dir, &dual_stack()).to_string();
    assert!(message.contains("no \"version\""), "{message}");
    fs::write(&path, b"[]").expect("write");
    let message = open_err(&dir, &dual_stack()).to_string();
    assert!(message.contains("not a JSON object"), "{message}");
}

#[test]
fn a_newer_version_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let newer = VERSION + 1;
    fs::write(
        dir.path().join(STATE_FILE),
        format!(r#"{{"version": {newer}, "attachments": [], "shiny": true}}"#),
    )
    .expect("write");
    let err = open_err(&dir, &dual_stack());
    assert!(
        matches!(err, RegistryError::Open(StoreError::NewerVersion { found, .. }) if found == newer)
    );
    assert!(
        err.to_string().contains(&format!("format version {newer}")),
        "{err}"
    );
}

#[test]
fn an_unreadable_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temporary directory");
    // A directory where the file should be: reading it fails even as root.
    fs::create_dir(dir.path().join(STATE_FILE)).expect("mkdir");
    let err = open_err(&dir, &dual_stack());
    assert!(matches!(err, RegistryError::Open(StoreError::Read { .. })));
    assert!(
        err.to_string().contains("cannot read the attachment state"),
        "{err}"
    );
}

#[test]
fn a_key_recorded_twice_is_corrupt() {
    let (dir, mut registry) = open_new(&dual_stack());
    add_ok(&mut registry, &key("default", "c1", "eth0"));
    drop(registry);
    let path = dir.path().join(STATE_FILE);
    let mut json: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).expect("read")).expect("JSON");
    let record = json["attachments"][0].clone();
    json["attachments"]
        .as_array_mut()
        .expect("array")
        .push(record);
    fs::write(&path, serde_json::to_vec(&json).expect("JSON")).expect("write");
    let message = open_err(&dir, &dual_stack()).to_string();
    assert!(
        message.contains("eth0 of container c1 on network default twice"),
        "{message}"
    );
}

#[test]
fn records_of_a_removed_network_are_kept_and_warned_about() {
    let both = [
        network("a", &["10.0.0.0/24"]),
        network("b", &["10.0.1.0/24"]),
    ];
    let (dir, mut registry) = open_new(&both);
    add_ok(&mut registry, &key("a", "c1", "eth0"));
    add_ok(&mut registry, &key("b", "c2", "eth0"));
    drop(registry);

    let only_a = [network("a", &["10.0.0.0/24"])];
    let mut registry = Registry::open(dir.path(), &only_a).expect("reopen");
    assert_eq!(registry.len(), 2);
    let orphan = key("b", "c2", "eth0");
    assert!(registry.get(&orphan).is_some());
    let warnings = registry.load_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("network b is no longer in the config"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].contains("10.0.1.1") && warnings[0].contains("c2"),
        "{}",
        warnings[0]
    );
    assert_eq!(registry.status().len(), 1);
    // Adding to it is refused; deleting it works and sticks.
    assert!(add(&mut registry, &key("b", "c3", "eth0")).is_err());
    assert!(registry.remove(&orphan).expect("remove").is_some());
    drop(registry);
    let registry = Registry::open(dir.path(), &only_a).expect("reopen");
    assert!(registry.get(&orphan).is_none());
    assert!(registry.load_warnings().is_empty());
}

#[test]
fn records_outside_a_changed_pool_are_kept_and_their_addresses_stay_taken() {
    let (dir, mut registry) = open_new(&[network("a", &["10.0.0.0/24"])]);
    for c in ["c1", "c2"] {
        add_ok(&mut registry, &key("a", c, "eth0"));
    }
    drop(registry);

    // Narrowed to a /31, which has .0 and .1: c2's .2 falls out.
    let narrowed = [network("a", &["10.0.0.0/31"])];
    let mut registry = Registry::open(dir.path(), &narrowed).expect("reopen");
    assert_eq!(registry.len(), 2);
    let warnings = registry.load_warnings().to_vec();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("10.0.0.2 is outside the pod CIDRs of network a"),
        "{}",
        warnings[0]
    );
    // The /31 has .0 and .1; .1 is still held, so only .0 is free.
    assert_eq!(registry.status()[0].pools[0].used, 1);
    assert_eq!(
        add_ok(&mut registry, &key("a", "c3", "eth0")),
        vec![ip("10.0.0.0")]
    );
    assert!(add(&mut registry, &key("a", "c4", "eth0")).is_err());
}

#[test]
fn an_address_held_twice_in_the_file_stays_taken_until_both_are_gone() {
    let (dir, mut registry) = open_new(&[network("a", &["10.0.0.0/30"])]);
    add_ok(&mut registry, &key("a", "c1", "eth0"));
    drop(registry);
    // Hand-edit the file: a second record with the same address.
    let path = dir.path().join(STATE_FILE);
    let mut json: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).expect("read")).expect("JSON");
    let mut twin = json["attachments"][0].clone();
    twin["key"]["container_id"] = "c2".into();
    json["attachments"]
        .as_array_mut()
        .expect("array")
        .push(twin);
    json["cursors"] = serde_json::json!({});
    fs::write(&path, serde_json::to_vec(&json).expect("JSON")).expect("write");

    let mut registry =
        Registry::open(dir.path(), &[network("a", &["10.0.0.0/30"])]).expect("reopen");
    let warnings = registry.load_warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("10.0.0.1 is also held by")),
        "{warnings:?}"
    );
    registry.remove(&key("a", "c1", "eth0")).expect("remove");
    // c2 still holds .1: the only free one is .2, and after it none.
    assert_eq!(
        add_ok(&mut registry, &key("a", "c3", "eth0")),
        vec![ip("10.0.0.2")]
    );
    assert!(add(&mut registry, &key("a", "c4", "eth0")).is_err());
    registry.remove(&key("a", "c2", "eth0")).expect("remove");
    assert_eq!(
        add_ok(&mut registry, &key("a", "c4", "eth0")),
        vec![ip("10.0.0.1")]
    );
}

#[test]
fn a_cursor_of_a_changed_pool_is_dropped_and_one_outside_its_pool_warned_about() {
    let (dir, mut registry) = open_new(&[network("a", &["10.0.0.0/24"])]);
    add_ok(&mut registry, &key("a", "c1", "eth0"));
    registry.remove(&key("a", "c1", "eth0")).expect("remove");
    drop(registry);
    // Another CIDR: the old cursor does not apply; allocation starts at the beginning.
    let mut registry =
        Registry::open(dir.path(), &[network("a", &["10.9.0.0/24"])]).expect("reopen");
    assert!(registry.load_warnings().is_empty());
    assert_eq!(
        add_ok(&mut registry, &key("a", "c1", "eth0")),
        vec![ip("10.9.0.1")]
    );
    drop(registry);
    // A cursor edited to an address the pool does not hand out.
    let path = dir.path().join(STATE_FILE);
    let mut json: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).expect("read")).expect("JSON");
    json["cursors"]["a"]["10.9.0.0/24"] = "10.9.0.255".into();
    fs::write(&path, serde_json::to_vec(&json).expect("JSON")).expect("write");
    let registry = Registry::open(dir.path(), &[network("a", &["10.9.0.0/24"])]).expect("reopen");
    let warnings = registry.load_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("cursor 10.9.0.255"), "{}", warnings[0]);
}

#[test]
fn a_failed_save_keeps_nothing_of_an_add_and_keeps_what_a_remove_removed() {
    let (dir, mut registry) = open_new(&dual_stack());
    let c1 = key("default", "c1", "eth0");
    add_ok(&mut registry, &c1);
    let saved = fs::read(dir.path().join(STATE_FILE)).expect("state file");
    // A directory in the way of the temporary file makes every save fail, even as root.
    let blocker = dir.path().join(STATE_FILE_TMP);
    fs::create_dir(&blocker).expect("mkdir");

    let c2 = key("default", "c2", "eth0");
    let err = add(&mut registry, &c2).expect_err("save fails");
    assert!(matches!(
        err,
        AddError::Registry(RegistryError::Persist(StoreError::Write { .. }))
    ));
    let message = err.to_string();
    assert!(
        message.contains(&blocker.display().to_string()) && message.contains("nothing was changed"),
        "{message}"
    );
    assert!(registry.get(&c2).is_none());
    assert_eq!(registry.status()[0].pools[0].used, 1);

    let err = registry.remove(&c1).expect_err("save fails");
    assert!(matches!(err, RegistryError::Persist(_)));
    assert!(registry.get(&c1).is_some());
    assert_eq!(registry.status()[0].pools[0].used, 1);
    assert_eq!(
        fs::read(dir.path().join(STATE_FILE)).expect("state file"),
        saved
    );

    fs::remove_dir(&blocker).expect("rmdir");
    // The failed ADD moved no cursor: c2 gets what it would have got.
    assert_eq!(
        add_ok(&mut registry, &c2),
        vec![ip("10.251.0.2"), ip("fd00:251::2")]
    );
    assert!(registry.remove(&c1).expect("remove").is_some());
    drop(registry);
    let registry = Registry::open(dir.path(), &dual_stack()).expect("reopen");
    assert_eq!(
        registry.iter().map(|a| a.key.clone()).collect::<Vec<_>>(),
        vec![c2]
    );
}

#[test]
fn an_attachment_that_cannot_be_written_is_refused() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let (dir, mut registry) = open_new(&dual_stack());
    let k = key("default", "c1", "eth0");
    let err = registry
        .add(&k, |addresses| {
            let mut bad = attachment(&k, addresses);
            bad.netns = PathBuf::from(OsStr::from_bytes(b"/run/netns/\xff"));
            Ok::<_, Infallible>(bad)
        })
        .expect_err("a path that is not UTF-8 cannot go into JSON");
    assert!(matches!(
        err,
        AddError::Registry(RegistryError::Persist(StoreError::Encode { .. }))
    ));
    assert!(err.to_string().contains("UTF-8"), "{err}");
    assert!(registry.is_empty());
    assert!(!dir.path().join(STATE_FILE).exists());
    assert_eq!(add_ok(&mut registry, &k)[0], ip("10.251.0.1"));
}
