//! A runtime's side of a conflist: libcni's chaining rules.

use std::fmt;
use std::path::Path;

use serde_json::Value;

use super::call::{CniEnv, Invocation, Plugin, PluginDir};

/// Runs a conflist the way libcni does: per plugin, the request config is
/// the plugin object with the list's `cniVersion` and `name` injected,
/// `runtimeConfig` = the capability args the plugin declares in
/// `capabilities` (which is then removed), and `prevResult`. ADD runs in
/// order, each with the previous plugin's result; CHECK in order and DEL in
/// reverse, each with the final ADD result.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// Where plugins are looked up by `type`.
    pub cni_path: String,
}

/// A chain step that failed.
#[derive(Debug)]
pub struct ChainFailure {
    /// The plugin's position in the list.
    pub index: usize,
    /// Its call (boxed: it is large, and errors travel by value).
    pub invocation: Box<Invocation>,
}

impl fmt::Display for ChainFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "plugin #{} of the list failed:\n{}",
            self.index, self.invocation
        )
    }
}

impl Runtime {
    /// A runtime that finds plugins in `dir` (podwire) and Debian's directory.
    pub fn new(dir: &PluginDir) -> Runtime {
        Runtime {
            cni_path: dir.cni_path(),
        }
    }

    /// The executable for plugin type `kind`, searched along `CNI_PATH`.
    pub fn find(&self, kind: &str) -> Plugin {
        let path = self
            .cni_path
            .split(':')
            .map(|dir| Path::new(dir).join(kind))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("no plugin {kind:?} in CNI_PATH {}", self.cni_path));
        Plugin {
            path,
            cni_path: self.cni_path.clone(),
        }
    }

    /// The request config of plugin `index` of `list`.
    pub fn request(
        &self,
        list: &Value,
        index: usize,
        capability_args: &Value,
        prev_result: Option<&Value>,
    ) -> Value {
        let mut conf = list["plugins"][index].clone();
        let obj = conf.as_object_mut().expect("a plugin is a JSON object");
        obj.insert("cniVersion".into(), list["cniVersion"].clone());
        obj.insert("name".into(), list["name"].clone());
        if let Some(Value::Object(caps)) = obj.remove("capabilities") {
            let mut runtime_config = serde_json::Map::new();
            for (cap, on) in caps {
                if on == Value::Bool(true)
                    && let Some(arg) = capability_args.get(&cap)
                {
                    runtime_config.insert(cap, arg.clone());
                }
            }
            if !runtime_config.is_empty() {
                obj.insert("runtimeConfig".into(), Value::Object(runtime_config));
            }
        }
        if let Some(prev) = prev_result {
            obj.insert("prevResult".into(), prev.clone());
        }
        conf
    }

    fn plugins(list: &Value) -> usize {
        list["plugins"]
            .as_array()
            .expect("a conflist has a plugins list")
            .len()
    }

    fn call(
        &self,
        verb: &str,
        list: &Value,
        index: usize,
        env: &CniEnv,
        capability_args: &Value,
        prev: Option<&Value>,
    ) -> Invocation {
        let kind = list["plugins"][index]["type"]
            .as_str()
            .expect("a plugin has a type");
        let conf = self.request(list, index, capability_args, prev);
        self.find(kind).invoke(verb, env, &conf)
    }

    /// ADD through the list; the final result.
    pub fn add(
        &self,
        list: &Value,
        env: &CniEnv,
        capability_args: &Value,
    ) -> Result<Value, ChainFailure> {
        let mut prev: Option<Value> = None;
        for index in 0..Self::plugins(list) {
            let invocation = self.call("ADD", list, index, env, capability_args, prev.as_ref());
            if !invocation.success() {
                return Err(ChainFailure {
                    index,
                    invocation: Box::new(invocation),
                });
            }
            prev = Some(invocation.json.clone().unwrap_or(Value::Null));
        }
        Ok(prev.unwrap_or(Value::Null))
    }

    /// CHECK through the list with the final ADD result.
    pub fn check(
        &self,
        list: &Value,
        env: &CniEnv,
        capability_args: &Value,
        result: &Value,
    ) -> Result<(), ChainFailure> {
        self.check_skipping(list, env, capability_args, result, &[])
    }

    /// [`Runtime::check`], leaving out the plugins of the types in `skip`
    /// (for a peer plugin whose own CHECK is broken).
    pub fn check_skipping(
        &self,
        list: &Value,
        env: &CniEnv,
        capability_args: &Value,
        result: &Value,
        skip: &[&str],
    ) -> Result<(), ChainFailure> {
        for index in 0..Self::plugins(list) {
            let kind = list["plugins"][index]["type"].as_str().unwrap_or("");
            if skip.contains(&kind) {
                continue;
            }
            let invocation = self.call("CHECK", list, index, env, capability_args, Some(result));
            if !invocation.success() {
                return Err(ChainFailure {
                    index,
                    invocation: Box::new(invocation),
                });
            }
        }
        Ok(())
    }

    /// DEL through the list in reverse with the final ADD result (if any).
    pub fn del(
        &self,
        list: &Value,
        env: &CniEnv,
        capability_args: &Value,
        result: Option<&Value>,
    ) -> Result<(), ChainFailure> {
        for index in (0..Self::plugins(list)).rev() {
            let invocation = self.call("DEL", list, index, env, capability_args, result);
            if !invocation.success() {
                return Err(ChainFailure {
                    index,
                    invocation: Box::new(invocation),
                });
            }
        }
        Ok(())
    }

    /// ADD, returning a guard that DELs on drop (as a runtime eventually
    /// does), so that a failing test leaves no iptables rules, qdiscs or
    /// addresses behind. A failed ADD is DELed at once, also like a runtime.
    pub fn attach(
        &self,
        list: &Value,
        env: &CniEnv,
        capability_args: &Value,
    ) -> Result<Attached, ChainFailure> {
        match self.add(list, env, capability_args) {
            Ok(result) => Ok(Attached {
                runtime: self.clone(),
                list: list.clone(),
                env: env.clone(),
                capability_args: capability_args.clone(),
                result,
                deleted: false,
            }),
            Err(failure) => {
                let _ = self.del(list, env, capability_args, None);
                Err(failure)
            }
        }
    }
}

/// A conflist ADDed to one container; DELed on drop unless [`Attached::del`] ran.
pub struct Attached {
    runtime: Runtime,
    list: Value,
    env: CniEnv,
    capability_args: Value,
    /// The final ADD result.
    pub result: Value,
    deleted: bool,
}

impl Attached {
    /// CHECK with the final result.
    pub fn check(&self) -> Result<(), ChainFailure> {
        self.runtime
            .check(&self.list, &self.env, &self.capability_args, &self.result)
    }

    /// CHECK with the final result, leaving out the plugins of the types in `skip`.
    pub fn check_skipping(&self, skip: &[&str]) -> Result<(), ChainFailure> {
        self.runtime.check_skipping(
            &self.list,
            &self.env,
            &self.capability_args,
            &self.result,
            skip,
        )
    }

    /// DEL with the final result.
    pub fn del(&mut self) -> Result<(), ChainFailure> {
        self.deleted = true;
        self.runtime.del(
            &self.list,
            &self.env,
            &self.capability_args,
            Some(&self.result),
        )
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        if !self.deleted {
            let _ = self.del();
        }
    }
}
