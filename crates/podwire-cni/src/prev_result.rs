//! A `prevResult`: the result of the plugins before podwire in the chain (ADD), or of the
//! whole ADD (CHECK, DEL). ADD appends podwire's interfaces, addresses and routes to it and
//! passes everything else through untouched; CHECK compares it with the attachment.

use podwire_model::Cidr;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::json_kind;
use crate::result::{IpEntry, SuccessResult};

/// A parsed `prevResult`, with the JSON kept as the runtime sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct PrevResult {
    raw: Map<String, Value>,
    interfaces: Vec<PrevInterface>,
    ips: Vec<PrevIp>,
}

/// What podwire reads of one `interfaces` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrevInterface {
    /// `name`
    pub name: String,
    /// `mac`
    pub mac: Option<String>,
    /// `sandbox`
    pub sandbox: Option<String>,
}

/// What podwire reads of one `ips` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrevIp {
    /// `address`
    pub address: Cidr,
    /// `interface`: an index into `interfaces`.
    pub interface: Option<usize>,
}

/// Why a `prevResult` is not a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrevResultError {
    /// Not a JSON object.
    #[error("it is {0}, not an object")]
    NotAnObject(&'static str),
    /// A field has the wrong type or value.
    #[error("{field} {why}")]
    BadField {
        /// The field, as a path (`ips[1].address`).
        field: String,
        /// What is wrong with it.
        why: String,
    },
}

fn bad(field: impl Into<String>, why: impl Into<String>) -> PrevResultError {
    PrevResultError::BadField {
        field: field.into(),
        why: why.into(),
    }
}

/// The list under `key`; absent or null: empty.
fn list<'a>(raw: &'a Map<String, Value>, key: &str) -> Result<&'a [Value], PrevResultError> {
    match raw.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(entries)) => Ok(entries),
        Some(other) => Err(bad(key, format!("is {}, not a list", json_kind(other)))),
    }
}

/// The object at `field`.
fn entry<'a>(value: &'a Value, field: &str) -> Result<&'a Map<String, Value>, PrevResultError> {
    value
        .as_object()
        .ok_or_else(|| bad(field, format!("is {}, not an object", json_kind(value))))
}

/// The optional string under `key` of `object` (at `field`).
fn optional_string(
    object: &Map<String, Value>,
    field: &str,
    key: &str,
) -> Result<Option<String>, PrevResultError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(bad(
            format!("{field}.{key}"),
            format!("is {}, not a string", json_kind(other)),
        )),
    }
}

impl PrevResult {
    /// Parses the `prevResult` value, checking the parts podwire reads.
    pub fn parse(value: &Value) -> Result<PrevResult, PrevResultError> {
        let raw = value
            .as_object()
            .ok_or(PrevResultError::NotAnObject(json_kind(value)))?;
        let interfaces = list(raw, "interfaces")?
            .iter()
            .enumerate()
            .map(|(i, value)| {
                let field = format!("interfaces[{i}]");
                let object = entry(value, &field)?;
                Ok(PrevInterface {
                    name: optional_string(object, &field, "name")?
                        .ok_or_else(|| bad(&field, "has no name"))?,
                    mac: optional_string(object, &field, "mac")?,
                    sandbox: optional_string(object, &field, "sandbox")?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ips = list(raw, "ips")?
            .iter()
            .enumerate()
            .map(|(i, value)| {
                let field = format!("ips[{i}]");
                let object = entry(value, &field)?;
                let address = optional_string(object, &field, "address")?
                    .ok_or_else(|| bad(&field, "has no address"))?;
                let address = address.parse::<Cidr>().map_err(|e| {
                    bad(
                        format!("{field}.address"),
                        format!("{address:?} is not an address/length: {e}"),
                    )
                })?;
                let interface = match object.get("interface") {
                    None | Some(Value::Null) => None,
                    Some(index) => Some(
                        index
                            .as_u64()
                            .and_then(|index| usize::try_from(index).ok())
                            .ok_or_else(|| {
                                bad(
                                    format!("{field}.interface"),
                                    "is not an index into interfaces",
                                )
                            })?,
                    ),
                };
                Ok(PrevIp { address, interface })
            })
            .collect::<Result<Vec<_>, _>>()?;
        list(raw, "routes")?;
        match raw.get("dns") {
            None | Some(Value::Null | Value::Object(_)) => {}
            Some(other) => {
                return Err(bad(
                    "dns",
                    format!("is {}, not an object", json_kind(other)),
                ));
            }
        }
        Ok(PrevResult {
            raw: raw.clone(),
            interfaces,
            ips,
        })
    }

    /// The interfaces listed.
    pub fn interfaces(&self) -> &[PrevInterface] {
        &self.interfaces
    }

    /// The addresses listed.
    pub fn ips(&self) -> &[PrevIp] {
        &self.ips
    }

    /// ADD's answer in a chain: this result with `ours` appended. podwire's interfaces come
    /// after the earlier ones, so its `ips[].interface` indices are shifted by their number;
    /// routes are appended; `dns` stays as the earlier plugins set it unless they set none.
    /// Every other key passes through unchanged; `cniVersion` becomes `ours`'s.
    pub fn chain(&self, ours: &SuccessResult) -> String {
        let shift = self.interfaces.len();
        let shifted_ips = ours.ips.iter().map(|ip| IpEntry {
            interface: ip.interface.map(|index| index + shift),
            ..ip.clone()
        });

        let mut chained = self.raw.clone();
        chained.insert("cniVersion".to_owned(), Value::from(ours.cni_version));
        append(&mut chained, "interfaces", ours.interfaces.iter());
        append(&mut chained, "ips", shifted_ips);
        append(&mut chained, "routes", ours.routes.iter());
        let earlier_has_dns = matches!(
            chained.get("dns"),
            Some(Value::Object(earlier)) if !earlier.is_empty()
        );
        if let (Some(dns), false) = (&ours.dns, earlier_has_dns) {
            chained.insert("dns".to_owned(), json(dns));
        }
        Value::Object(chained).to_string()
    }
}

/// Appends `entries` to the list under `key` (made if absent or null).
fn append<T: Serialize>(
    chained: &mut Map<String, Value>,
    key: &str,
    entries: impl Iterator<Item = T>,
) {
    let entries = entries.map(|entry| json(&entry));
    match chained.get_mut(key) {
        Some(Value::Array(earlier)) => earlier.extend(entries),
        // `parse` admitted only a list, null or nothing here.
        _ => {
            let entries: Vec<Value> = entries.collect();
            if !entries.is_empty() {
                chained.insert(key.to_owned(), Value::Array(entries));
            }
        }
    }
}

fn json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).expect("the result's types serialize to JSON without fail")
}

#[cfg(test)]
mod tests;
