//! `podwire install-cni`: puts the plugin where the container runtime looks for it (this very
//! binary, as `podwire` in the CNI bin dir) and writes the network config list that makes
//! the runtime use it, podwire first and `portmap` after it for hostPorts.
//!
//! Both files are written under a temporary name in their directory and renamed into place,
//! so that a runtime starting a pod meanwhile runs the old plugin or the new one, never a
//! half-written file.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use podwire_cni::names;
use podwire_model::attach::DEFAULT_NETWORK;
use podwire_model::config::DEFAULT_API_SOCKET;
use serde_json::json;

/// The plugin's file name in the bin dir: the `type` the conflist names.
const PLUGIN_NAME: &str = "podwire";

/// `podwire install-cni --bin-dir DIR --conf-dir DIR ...`
#[derive(Debug, clap::Args)]
pub struct InstallCniArgs {
    /// Where the runtime looks for CNI plugins (its CNI_PATH, e.g. /opt/cni/bin).
    #[arg(long)]
    pub bin_dir: PathBuf,
    /// Where the runtime reads network configs (e.g. /etc/cni/net.d).
    #[arg(long)]
    pub conf_dir: PathBuf,
    /// The podwire network pods attach to (a [[network]] of the agent's config).
    #[arg(long, default_value = DEFAULT_NETWORK)]
    pub network: String,
    /// The agent's API socket, as the plugin will find it.
    #[arg(long, default_value = DEFAULT_API_SOCKET)]
    pub agent_socket: PathBuf,
    /// The CNI network's name.
    #[arg(long, default_value = "podwire")]
    pub name: String,
    /// The conflist's file name; runtimes take the first in lexical order.
    #[arg(long, default_value = "10-podwire.conflist")]
    pub conflist_name: String,
}

/// Why the plugin or its config could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// `--name` breaks the CNI rules for network names.
    #[error("--name {name:?} is not a valid CNI network name: {source}")]
    BadName {
        /// The name.
        name: String,
        /// What is wrong with it.
        source: names::NameError,
    },
    /// `--network` is empty.
    #[error("--network is empty; name a [[network]] of the agent's config, e.g. default")]
    EmptyNetwork,
    /// `--agent-socket` is relative.
    #[error(
        "--agent-socket {0:?} is not an absolute path; the plugin runs in the runtime's directory, so write it from /"
    )]
    RelativeSocket(PathBuf),
    /// `--conflist-name` is not a plain `.conflist` file name.
    #[error(
        "--conflist-name {0:?} is not a file name ending in .conflist; runtimes read only those (e.g. 10-podwire.conflist)"
    )]
    BadConflistName(String),
    /// The path of the running binary is unknown.
    #[error("cannot find the running podwire binary to copy: {0}")]
    NoExecutable(#[source] std::io::Error),
    /// A file system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("create the directory").
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// Installs the plugin and its conflist and prints what it wrote.
pub fn run(args: InstallCniArgs) -> anyhow::Result<()> {
    check(&args)?;
    let executable = std::env::current_exe().map_err(InstallError::NoExecutable)?;
    let plugin = args.bin_dir.join(PLUGIN_NAME);
    let conflist = args.conf_dir.join(&args.conflist_name);

    create_dir(&args.bin_dir)?;
    let binary = fs::File::open(&executable).map_err(io("read", &executable))?;
    write_atomically(&plugin, binary, 0o755)?;
    println!(
        "installed the CNI plugin {} (a copy of {})",
        plugin.display(),
        executable.display()
    );

    create_dir(&args.conf_dir)?;
    let text = serde_json::to_string_pretty(&conflist_json(&args))
        .expect("a JSON value serializes without fail")
        + "\n";
    write_atomically(&conflist, text.as_bytes(), 0o644)?;
    println!(
        "wrote {}: network {:?} of the agent at {}, then portmap",
        conflist.display(),
        args.network,
        args.agent_socket.display()
    );
    Ok(())
}

fn check(args: &InstallCniArgs) -> Result<(), InstallError> {
    names::check_identifier(&args.name).map_err(|source| InstallError::BadName {
        name: args.name.clone(),
        source,
    })?;
    if args.network.is_empty() {
        return Err(InstallError::EmptyNetwork);
    }
    if !args.agent_socket.is_absolute() {
        return Err(InstallError::RelativeSocket(args.agent_socket.clone()));
    }
    let plain_name = Path::new(&args.conflist_name).file_name()
        == Some(args.conflist_name.as_ref())
        && args.conflist_name.len() > ".conflist".len();
    if !plain_name || !args.conflist_name.ends_with(".conflist") {
        return Err(InstallError::BadConflistName(args.conflist_name.clone()));
    }
    Ok(())
}

/// The conflist: cniVersion 1.0.0 for runtimes and chained plugins that stop there (Debian's
/// plugins do), `cniVersions` so that newer runtimes pick 1.1.0 and get STATUS and GC.
fn conflist_json(args: &InstallCniArgs) -> serde_json::Value {
    json!({
        "cniVersion": "1.0.0",
        "cniVersions": podwire_cni::SUPPORTED_VERSIONS,
        "name": args.name,
        "plugins": [
            {
                "type": PLUGIN_NAME,
                "network": args.network,
                "agentSocket": args.agent_socket,
                "capabilities": {"CNIDeviceInfoFile": true},
            },
            {
                "type": "portmap",
                "capabilities": {"portMappings": true},
            },
        ],
    })
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> InstallError {
    let path = path.to_owned();
    move |source| InstallError::Io {
        action,
        path,
        source,
    }
}

fn create_dir(dir: &Path) -> Result<(), InstallError> {
    fs::create_dir_all(dir).map_err(io("create the directory", dir))
}

/// Writes `contents` to `path` with `mode`: to a temporary file beside it, synced, then
/// renamed over it. The temporary file is removed if anything fails before the rename.
fn write_atomically(path: &Path, mut contents: impl Read, mode: u32) -> Result<(), InstallError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".podwire-install-")
        .tempfile_in(dir)
        .map_err(io("create a temporary file in", dir))?;
    std::io::copy(&mut contents, &mut file)
        .and_then(|_| {
            file.as_file()
                .set_permissions(fs::Permissions::from_mode(mode))
        })
        .and_then(|()| file.as_file().sync_all())
        .map_err(io("write", file.path()))?;
    file.persist(path)
        .map_err(|error| io("rename a temporary file to", path)(error.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> InstallCniArgs {
        InstallCniArgs {
            bin_dir: "/opt/cni/bin".into(),
            conf_dir: "/etc/cni/net.d".into(),
            network: "default".into(),
            agent_socket: DEFAULT_API_SOCKET.into(),
            name: "podwire".into(),
            conflist_name: "10-podwire.conflist".into(),
        }
    }

    #[test]
    fn the_defaults_pass() {
        check(&args()).expect("the defaults are valid");
    }

    #[test]
    fn bad_arguments_are_refused_with_the_reason() {
        let bad_name = InstallCniArgs {
            name: "-x".into(),
            ..args()
        };
        assert!(matches!(
            check(&bad_name),
            Err(InstallError::BadName { .. })
        ));
        let no_network = InstallCniArgs {
            network: String::new(),
            ..args()
        };
        assert!(matches!(
            check(&no_network),
            Err(InstallError::EmptyNetwork)
        ));
        let relative = InstallCniArgs {
            agent_socket: "podwire.sock".into(),
            ..args()
        };
        assert!(matches!(
            check(&relative),
            Err(InstallError::RelativeSocket(_))
        ));
        for conflist_name in [
            "../10-podwire.conflist",
            "a/b.conflist",
            "10-podwire.json",
            ".conflist",
            "",
        ] {
            let bad = InstallCniArgs {
                conflist_name: conflist_name.into(),
                ..args()
            };
            assert!(
                matches!(check(&bad), Err(InstallError::BadConflistName(_))),
                "{conflist_name:?}"
            );
        }
    }

    #[test]
    fn the_conflist_chains_portmap_after_podwire() {
        let conflist = conflist_json(&InstallCniArgs {
            network: "cnf".into(),
            agent_socket: "/run/p/api.sock".into(),
            ..args()
        });
        assert_eq!(
            conflist,
            json!({
                "cniVersion": "1.0.0",
                "cniVersions": ["1.0.0", "1.1.0"],
                "name": "podwire",
                "plugins": [
                    {"type": "podwire", "network": "cnf", "agentSocket": "/run/p/api.sock",
                     "capabilities": {"CNIDeviceInfoFile": true}},
                    {"type": "portmap", "capabilities": {"portMappings": true}},
                ],
            })
        );
    }

    #[test]
    fn atomic_writes_replace_the_file_and_leave_no_temporary_behind() {
        let dir = tempfile::tempdir().expect("make a temporary directory");
        let path = dir.path().join("f");
        write_atomically(&path, &b"one"[..], 0o644).unwrap();
        write_atomically(&path, &b"two"[..], 0o755).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o755
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["f"]);
    }
}
