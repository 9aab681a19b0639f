//! A ported upstream test: the objects it gives the proxier, state after state, and the
//! packet-flow cases it runs against each state.

use serde_json::Value;

use crate::flows::Flow;

/// One upstream test function, or one of its subtests (`t.Run`).
pub struct Suite {
    /// The upstream file and function: `nftables TestClusterIPGeneral`.
    pub upstream: &'static str,
    /// The subtest's name, as upstream has it.
    pub subtest: Option<&'static str>,
    /// The node's name, as the endpoints' `nodeName` say it.
    pub node_name: &'static str,
    /// Why the whole subtest is not run (its cases are kept, for the record).
    pub skip: Option<&'static str>,
    /// The states upstream puts the proxier in, in order.
    pub phases: Vec<Phase>,
}

/// One state of the proxier and the cases run against it.
pub struct Phase {
    /// The Services and EndpointSlices in force (a Service missing from a later phase is
    /// deleted).
    pub objects: Vec<Value>,
    pub flows: Vec<Flow>,
}

/// The test `upstream` on node `node_name`, with no state yet.
pub fn suite(upstream: &'static str, node_name: &'static str) -> Suite {
    Suite {
        upstream,
        subtest: None,
        node_name,
        skip: None,
        phases: Vec::new(),
    }
}

impl Suite {
    /// Names the subtest.
    pub fn subtest(self, name: &'static str) -> Suite {
        Suite {
            subtest: Some(name),
            ..self
        }
    }

    /// Adds a state: `objects` in force, `flows` run against them.
    pub fn then(mut self, objects: Vec<Value>, flows: &[Flow]) -> Suite {
        self.phases.push(Phase {
            objects,
            flows: flows.to_vec(),
        });
        self
    }

    /// Keeps the subtest on record without running it, for `reason`.
    pub fn skipped(self, reason: &'static str) -> Suite {
        Suite {
            skip: Some(reason),
            ..self
        }
    }

    /// How it is called in reports.
    pub fn label(&self) -> String {
        match self.subtest {
            Some(sub) => format!("{} / {sub}", self.upstream),
            None => self.upstream.to_string(),
        }
    }
}
