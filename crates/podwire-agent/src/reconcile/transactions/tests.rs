use std::time::Duration;

use super::*;

/// `ms` milliseconds after the epoch.
fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn service(name: &str) -> ObjectKey {
    ObjectKey {
        kind: ObjectKind::Service,
        namespace: "shop".into(),
        name: name.into(),
    }
}

/// Logs a transaction of `trigger` from `start` ms to `end` ms; returns its id.
fn log_one(
    log: &mut TransactionLog,
    trigger: Trigger,
    outcome: Result<(), String>,
    (start, end): (u64, u64),
) -> u64 {
    let transaction = log.begin(trigger, at(start));
    log.finish(transaction, outcome, at(end))
}

#[test]
fn a_finished_transaction_keeps_what_it_did_and_when() {
    let mut log = TransactionLog::default();
    let mut transaction = log.begin(Trigger::Apply { objects: 2 }, at(1_700_000_000_123));
    transaction
        .object(service("web"), Change::Created, ObjectStatus::Applied)
        .object(
            service("api"),
            Change::Configured,
            ObjectStatus::Pending("no endpoints".into()),
        )
        .note("routes: +2 -0");
    let finished = at(1_700_000_000_123) + Duration::from_micros(1_500);
    assert_eq!(log.finish(transaction, Ok(()), finished), 1);

    let [view] = &log.recent(10)[..] else {
        panic!("expected one transaction, got {:?}", log.recent(10));
    };
    assert_eq!(view.id, 1);
    assert_eq!(view.started_unix_ms, 1_700_000_000_123);
    assert_eq!(view.duration_us, 1_500);
    assert_eq!(view.trigger, "apply: 2 objects");
    assert_eq!(
        view.objects,
        [
            TransactionObject {
                key: "Service shop/web".into(),
                change: "created".into(),
                status: "applied".into(),
            },
            TransactionObject {
                key: "Service shop/api".into(),
                change: "configured".into(),
                status: "pending: no endpoints".into(),
            },
        ]
    );
    assert_eq!(view.notes, ["routes: +2 -0"]);
    assert_eq!(view.outcome, "ok");
}

#[test]
fn ids_count_up_from_one_in_the_order_transactions_finish() {
    let mut log = TransactionLog::new(8);
    let first = log.begin(Trigger::Start, at(10));
    let second = log.begin(
        Trigger::Attach {
            pod: "shop/web-0".into(),
        },
        at(20),
    );
    // The later one finishes first, so it is logged first.
    assert_eq!(log.finish(second, Ok(()), at(25)), 1);
    assert_eq!(log.finish(first, Ok(()), at(30)), 2);
    let recent = log.recent(8);
    let ids: Vec<u64> = recent.iter().map(|t| t.id).collect();
    assert_eq!(ids, [2, 1], "newest first");
    assert_eq!(recent[0].trigger, "agent start");
    assert_eq!(recent[1].trigger, "attach shop/web-0");
    assert_eq!(log.recent(1).len(), 1);
    assert_eq!(log.recent(1)[0].id, 2);
    assert!(log.recent(0).is_empty());
}

#[test]
fn the_log_keeps_only_the_last_capacity_transactions() {
    let mut log = TransactionLog::new(3);
    for event in 1..=5 {
        let trigger = Trigger::Source {
            source: "etcd",
            events: event,
        };
        log_one(&mut log, trigger, Ok(()), (event as u64, event as u64));
    }
    let recent = log.recent(10);
    let ids: Vec<u64> = recent.iter().map(|t| t.id).collect();
    assert_eq!(ids, [5, 4, 3]);
    assert_eq!(recent[0].trigger, "etcd: 5 events");

    let mut none = TransactionLog::new(0);
    assert_eq!(log_one(&mut none, Trigger::Start, Ok(()), (0, 1)), 1);
    assert_eq!(
        log_one(&mut none, Trigger::Start, Err("no".into()), (1, 2)),
        2
    );
    assert!(none.recent(10).is_empty());
    assert_eq!(
        none.failed_count(),
        1,
        "failures are counted even when not kept"
    );
}

#[test]
fn failures_are_counted_and_say_why() {
    let mut log = TransactionLog::new(2);
    let node = |name: &str| Trigger::NodeJoined { node: name.into() };
    log_one(&mut log, node("node-b"), Ok(()), (0, 1));
    log_one(
        &mut log,
        node("node-c"),
        Err("node-c has no tunnel address".into()),
        (1, 2),
    );
    log_one(
        &mut log,
        node("node-d"),
        Err("etcd is unreachable".into()),
        (2, 3),
    );
    log_one(&mut log, node("node-e"), Ok(()), (3, 4));
    assert_eq!(log.failed_count(), 2);
    let outcomes: Vec<String> = log.recent(2).into_iter().map(|t| t.outcome).collect();
    assert_eq!(outcomes, ["ok", "failed: etcd is unreachable"]);
}

#[test]
fn a_clock_that_steps_back_makes_a_transaction_take_no_time() {
    let mut log = TransactionLog::default();
    log_one(&mut log, Trigger::Start, Ok(()), (5_000, 4_000));
    let view = &log.recent(1)[0];
    assert_eq!(view.duration_us, 0);
    assert_eq!(view.started_unix_ms, 5_000);
}

#[test]
fn triggers_say_what_started_the_transaction() {
    use ObjectKind::Pod;
    for (trigger, text) in [
        (Trigger::Start, "agent start"),
        (Trigger::Apply { objects: 1 }, "apply: 1 object"),
        (Trigger::Delete { objects: 3 }, "delete: 3 objects"),
        (
            Trigger::Source {
                source: "kubernetes",
                events: 1,
            },
            "kubernetes: 1 event",
        ),
        (
            Trigger::Relist {
                source: "kubernetes",
                kind: Pod,
            },
            "kubernetes: relist of Pod",
        ),
        (
            Trigger::Detach {
                pod: "shop/web-0".into(),
            },
            "detach shop/web-0",
        ),
        (
            Trigger::NodeLeft {
                node: "node-b".into(),
            },
            "node left: node-b",
        ),
        (
            Trigger::Retry {
                what: "Service shop/web".into(),
                attempt: 2,
            },
            "retry (attempt 2): Service shop/web",
        ),
    ] {
        assert_eq!(trigger.to_string(), text);
    }
}
