//! `${NAME}` in the config file, replaced by the environment variable `NAME`: one config
//! (a Kubernetes ConfigMap) serves every node, and what differs per node (its name) comes
//! from the environment (the DaemonSet sets `NODE_NAME` from `spec.nodeName`).

/// Why the config's placeholders could not be filled in.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvError {
    /// A `${` with no `}`.
    #[error("line {line}: \"${{\" without its closing \"}}\": write ${{NAME}}")]
    Unclosed {
        /// Where, counting from 1.
        line: usize,
    },
    /// The variable is not set.
    #[error(
        "line {line}: the config uses ${{{name}}} but the environment has no {name}: set it (the Kubernetes DaemonSet sets NODE_NAME from spec.nodeName)"
    )]
    Unset {
        /// Where, counting from 1.
        line: usize,
        /// The variable.
        name: String,
    },
}

/// `text` with every `${NAME}` replaced by `lookup(NAME)`.
pub fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, EnvError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let line = 1 + text[..text.len() - rest.len() + start]
            .matches('\n')
            .count();
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(EnvError::Unclosed { line })?;
        let name = &after[..end];
        let value = lookup(name).ok_or_else(|| EnvError::Unset {
            line,
            name: name.to_owned(),
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "NODE_NAME").then(|| "node-a".to_owned())
    }

    #[test]
    fn placeholders_are_replaced_and_the_rest_is_kept() {
        let text = "[node]\nname = \"${NODE_NAME}\" # ${NODE_NAME}\nworkers = 1\n";
        assert_eq!(
            expand(text, env).unwrap(),
            "[node]\nname = \"node-a\" # node-a\nworkers = 1\n"
        );
        assert_eq!(
            expand("no placeholder $HOME", env).unwrap(),
            "no placeholder $HOME"
        );
    }

    #[test]
    fn an_unset_variable_or_an_open_placeholder_is_an_error_with_its_line() {
        assert_eq!(
            expand("a\nb = \"${UPLINK}\"", env),
            Err(EnvError::Unset {
                line: 2,
                name: "UPLINK".into()
            })
        );
        assert_eq!(
            expand("a\n\nb = \"${NODE_NAME\"", env),
            Err(EnvError::Unclosed { line: 3 })
        );
    }
}
