//! The transaction log: the most recent batches of changes the agent made to the data plane.
//!
//! A batch (a transaction) is whatever one trigger caused: an apply, a few events from a
//! source, a pod attached, a node that joined. The caller opens it with
//! [`TransactionLog::begin`], records what it did to each object and any other effect as it
//! goes, and closes it with [`TransactionLog::finish`], which numbers it and keeps it. The log
//! keeps the last `capacity` transactions and counts the failed ones since it was made.
//!
//! The log does no I/O and reads no clock: the caller gives the time, so tests can too.

use std::collections::VecDeque;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use podwire_model::api::{TransactionObject, TransactionView};
use podwire_model::cluster::{Change, ObjectKey, ObjectKind, ObjectStatus};

/// How many transactions a log keeps unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 256;

/// What started a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The agent started: everything rendered from the store.
    Start,
    /// `podwire ctl apply` of a manifest.
    Apply {
        /// Objects in the manifest.
        objects: usize,
    },
    /// `podwire ctl delete` of a manifest.
    Delete {
        /// Objects in the manifest.
        objects: usize,
    },
    /// Changes a source of cluster objects reported.
    Source {
        /// `etcd` or `kubernetes`.
        source: &'static str,
        /// The events handled together.
        events: usize,
    },
    /// A source listed one kind again (after a lost watch): the store now holds that list.
    Relist {
        /// `etcd` or `kubernetes`.
        source: &'static str,
        /// The kind listed.
        kind: ObjectKind,
    },
    /// A pod interface wired (CNI ADD).
    Attach {
        /// The pod, `namespace/name`.
        pod: String,
    },
    /// A pod interface unwired (CNI DEL).
    Detach {
        /// The pod, `namespace/name`.
        pod: String,
    },
    /// Another node joined the cluster (or this agent first saw it).
    NodeJoined {
        /// Its name.
        node: String,
    },
    /// Another node left the cluster.
    NodeLeft {
        /// Its name.
        node: String,
    },
    /// A new attempt at something that failed.
    Retry {
        /// What is tried again.
        what: String,
        /// The attempt, from 2 (the first retry).
        attempt: u32,
    },
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |n: usize, one: &str, many: &str| match n {
            1 => format!("1 {one}"),
            n => format!("{n} {many}"),
        };
        match self {
            Trigger::Start => f.write_str("agent start"),
            Trigger::Apply { objects } => {
                write!(f, "apply: {}", count(*objects, "object", "objects"))
            }
            Trigger::Delete { objects } => {
                write!(f, "delete: {}", count(*objects, "object", "objects"))
            }
            Trigger::Source { source, events } => {
                write!(f, "{source}: {}", count(*events, "event", "events"))
            }
            Trigger::Relist { source, kind } => write!(f, "{source}: relist of {kind}"),
            Trigger::Attach { pod } => write!(f, "attach {pod}"),
            Trigger::Detach { pod } => write!(f, "detach {pod}"),
            Trigger::NodeJoined { node } => write!(f, "node joined: {node}"),
            Trigger::NodeLeft { node } => write!(f, "node left: {node}"),
            Trigger::Retry { what, attempt } => write!(f, "retry (attempt {attempt}): {what}"),
        }
    }
}

/// A transaction under way: what started it and what it has done so far. Hand it to
/// [`TransactionLog::finish`] when done.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a transaction is only logged when finished"]
pub struct Transaction {
    trigger: Trigger,
    started: SystemTime,
    objects: Vec<TransactionObject>,
    notes: Vec<String>,
}

impl Transaction {
    /// Records what the transaction did to `key` and the status it left it in.
    pub fn object(&mut self, key: ObjectKey, change: Change, status: ObjectStatus) -> &mut Self {
        self.objects.push(TransactionObject {
            key: key.to_string(),
            change: change.to_string(),
            status: status.to_string(),
        });
        self
    }

    /// Records an effect that is not one object's: `routes: +2 -0`, `services re-rendered: 3`.
    pub fn note(&mut self, text: impl Into<String>) -> &mut Self {
        self.notes.push(text.into());
        self
    }
}

/// The most recent transactions, numbered from 1.
#[derive(Debug, Clone)]
pub struct TransactionLog {
    capacity: usize,
    /// Oldest first.
    kept: VecDeque<TransactionView>,
    /// Transactions finished so far: the last id given.
    finished: u64,
    failed: u64,
}

impl Default for TransactionLog {
    fn default() -> Self {
        TransactionLog::new(DEFAULT_CAPACITY)
    }
}

impl TransactionLog {
    /// A log that keeps the last `capacity` transactions (none when 0; it still counts them).
    pub fn new(capacity: usize) -> TransactionLog {
        TransactionLog {
            capacity,
            kept: VecDeque::with_capacity(capacity),
            finished: 0,
            failed: 0,
        }
    }

    /// Opens a transaction for `trigger`, started at `now`. It has no id until finished.
    pub fn begin(&self, trigger: Trigger, now: SystemTime) -> Transaction {
        Transaction {
            trigger,
            started: now,
            objects: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Closes `transaction` at `now` with its `outcome` (the reason, when it failed), gives it
    /// the next id and keeps it, forgetting the oldest when the log is full. Returns the id.
    pub fn finish(
        &mut self,
        transaction: Transaction,
        outcome: Result<(), String>,
        now: SystemTime,
    ) -> u64 {
        self.finished += 1;
        let outcome = match outcome {
            Ok(()) => "ok".to_owned(),
            Err(reason) => {
                self.failed += 1;
                format!("failed: {reason}")
            }
        };
        // A wall clock stepped back during the transaction makes it take no time, not fail.
        let took = now.duration_since(transaction.started).unwrap_or_default();
        let since_epoch = transaction
            .started
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let view = TransactionView {
            id: self.finished,
            started_unix_ms: saturating_u64(since_epoch.as_millis()),
            duration_us: saturating_u64(took.as_micros()),
            trigger: transaction.trigger.to_string(),
            objects: transaction.objects,
            notes: transaction.notes,
            outcome,
        };
        if self.capacity > 0 {
            if self.kept.len() == self.capacity {
                self.kept.pop_front();
            }
            self.kept.push_back(view);
        }
        self.finished
    }

    /// The last `limit` transactions kept, newest first.
    pub fn recent(&self, limit: usize) -> Vec<TransactionView> {
        self.kept.iter().rev().take(limit).cloned().collect()
    }

    /// Transactions that failed since the log was made, kept or not.
    pub fn failed_count(&self) -> u64 {
        self.failed
    }
}

/// A count of milliseconds or microseconds, which no clock makes overflow a `u64`, saturated
/// all the same.
fn saturating_u64(count: u128) -> u64 {
    u64::try_from(count).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
