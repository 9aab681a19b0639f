//! The CNI spec versions podwire speaks, and its answer to `VERSION`.

use std::fmt;

/// A CNI spec version podwire speaks. Ordered: later versions compare greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpecVersion {
    /// 1.0.0: the first spec with only config lists; no STATUS, no GC.
    V1_0_0,
    /// 1.1.0: adds STATUS, GC, `cniVersions`, `interfaces[].mtu` and `socketPath`.
    V1_1_0,
}

/// The versions podwire speaks, as `VERSION` reports them, oldest first.
pub const SUPPORTED_VERSIONS: [&str; 2] = ["1.0.0", "1.1.0"];

impl SpecVersion {
    /// The newest version podwire speaks.
    pub const NEWEST: SpecVersion = SpecVersion::V1_1_0;

    /// The version written out (`"1.0.0"`).
    pub fn as_str(self) -> &'static str {
        match self {
            SpecVersion::V1_0_0 => SUPPORTED_VERSIONS[0],
            SpecVersion::V1_1_0 => SUPPORTED_VERSIONS[1],
        }
    }

    /// The version named exactly by `text`, if podwire speaks it. Like the reference
    /// plugins, only the exact strings match (`"1.0"` does not).
    pub fn parse(text: &str) -> Option<SpecVersion> {
        match text {
            "1.0.0" => Some(SpecVersion::V1_0_0),
            "1.1.0" => Some(SpecVersion::V1_1_0),
            _ => None,
        }
    }

    /// Whether this version has the STATUS and GC verbs and the 1.1 result fields
    /// (`interfaces[].mtu`, `interfaces[].socketPath`).
    pub fn is_1_1_or_later(self) -> bool {
        self >= SpecVersion::V1_1_0
    }
}

impl fmt::Display for SpecVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer to `VERSION`: `{"cniVersion": <the input's>, "supportedVersions": [...]}`.
///
/// The spec echoes the version the runtime sent; any version is answered, supported or not,
/// since the runtime asks precisely to find out. When stdin is empty, not JSON or has no
/// `cniVersion` string, the answer says the newest version podwire speaks.
pub fn version_answer(stdin: &[u8]) -> String {
    let asked = serde_json::from_slice::<serde_json::Value>(stdin)
        .ok()
        .and_then(|config| match config.get("cniVersion") {
            Some(serde_json::Value::String(version)) if !version.is_empty() => {
                Some(version.clone())
            }
            _ => None,
        });
    answer(asked.as_deref())
}

/// The answer to `VERSION` when the runtime asked with `asked` (`None`: the newest).
pub fn answer(asked: Option<&str>) -> String {
    let answer = serde_json::json!({
        "cniVersion": asked.unwrap_or(SpecVersion::NEWEST.as_str()),
        "supportedVersions": SUPPORTED_VERSIONS,
    });
    answer.to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn answer(stdin: &str) -> Value {
        serde_json::from_str(&version_answer(stdin.as_bytes())).expect("the answer is JSON")
    }

    #[test]
    fn parses_exactly_the_supported_versions() {
        assert_eq!(SpecVersion::parse("1.0.0"), Some(SpecVersion::V1_0_0));
        assert_eq!(SpecVersion::parse("1.1.0"), Some(SpecVersion::V1_1_0));
        for other in ["1.0", "0.4.0", "1.2.0", "", " 1.0.0", "v1.0.0"] {
            assert_eq!(SpecVersion::parse(other), None, "{other:?}");
        }
        for version in [SpecVersion::V1_0_0, SpecVersion::V1_1_0] {
            assert_eq!(SpecVersion::parse(version.as_str()), Some(version));
        }
    }

    #[test]
    fn only_1_1_has_status_and_gc() {
        assert!(!SpecVersion::V1_0_0.is_1_1_or_later());
        assert!(SpecVersion::V1_1_0.is_1_1_or_later());
        assert!(SpecVersion::V1_0_0 < SpecVersion::V1_1_0);
    }

    #[test]
    fn version_echoes_any_input_version() {
        for asked in ["0.1.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0", "2.0.0"] {
            assert_eq!(
                answer(&format!(r#"{{"cniVersion":"{asked}"}}"#)),
                json!({"cniVersion": asked, "supportedVersions": ["1.0.0", "1.1.0"]}),
            );
        }
    }

    #[test]
    fn version_answers_even_without_a_usable_input() {
        let newest = json!({"cniVersion": "1.1.0", "supportedVersions": ["1.0.0", "1.1.0"]});
        for stdin in [
            "",
            "not json",
            "[]",
            "{}",
            r#"{"cniVersion": 1}"#,
            r#"{"cniVersion": ""}"#,
        ] {
            assert_eq!(answer(stdin), newest, "{stdin:?}");
        }
    }
}
