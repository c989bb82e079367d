//! Which daemon a URI names and how to reach it: the system daemon's
//! sockets, the user's session daemon (started on first use), a socket
//! given by `?socket=`, TLS or SSH.

use std::path::PathBuf;
use std::time::Duration;

use virtkit_host::paths;

use crate::remote::Transport;
use crate::{Error, ErrorKind, Result, Uri};

/// The port of `+tls` URIs that name none (libvirt's).
pub(crate) const TLS_PORT: u16 = 16514;

fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidArgument, msg)
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The default socket for a driver path on this machine: the user's
/// session daemon for `/session`, else the system daemon.
fn local_socket(uri: &Uri, read_only: bool) -> PathBuf {
    if uri.path == "/session" { paths::session_socket() } else { paths::system_socket(read_only) }
}

/// The transport to the daemon that serves `uri`.
pub(crate) async fn transport_for(uri: &Uri, read_only: bool) -> Result<Transport> {
    if !matches!(uri.path.as_str(), "/system" | "/session" | "/default") && !uri.path.ends_with(".xml") {
        return Err(invalid(format!("no driver path '{}' for {} through a daemon", uri.path, uri.driver)));
    }
    let socket_param = uri.param("socket").map(PathBuf::from);
    // A parameter a transport does not use is refused, never ignored.
    let known: &[&str] = match uri.transport.as_deref() {
        None | Some("unix") => &["socket"],
        Some("tls") => &["pkipath"],
        Some("ssh") => &["socket", "command"],
        Some(_) => &[],
    };
    for (k, _) in &uri.params {
        if !known.contains(&k.as_str()) {
            return Err(invalid(format!("unknown URI parameter '{k}' (this transport takes: {})", known.join(", "))));
        }
    }
    match uri.transport.as_deref() {
        None | Some("unix") => {
            if let Some(h) = &uri.host {
                return Err(invalid(format!("a unix socket is on this machine, not on '{h}'")));
            }
            if let Some(s) = socket_param {
                return Ok(Transport::Unix(s));
            }
            let sock = local_socket(uri, read_only);
            if uri.path == "/session" {
                ensure_session_daemon(&sock).await?;
            }
            Ok(Transport::Unix(sock))
        }
        Some("tls") => {
            let host = uri.host.clone().ok_or_else(|| invalid(format!("{uri}: a TLS URI names a host")))?;
            let pki = match uri.param("pkipath") {
                Some(p) => PathBuf::from(p),
                None if is_root() => PathBuf::from("/etc/pki/virtkit"),
                None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/".into())).join(".pki/virtkit"),
            };
            Ok(Transport::Tls { host, port: uri.port.unwrap_or(TLS_PORT), pki })
        }
        Some("ssh") => {
            let host = uri.host.clone().ok_or_else(|| invalid(format!("{uri}: an SSH URI names a host")))?;
            let target = match &uri.user {
                Some(u) => format!("{u}@{host}"),
                None => host,
            };
            let mut args = vec!["proxy".to_owned()];
            match uri.param("socket") {
                Some(s) => args.extend(["--socket".to_owned(), s.to_owned()]),
                None => args.extend(["--path".to_owned(), uri.path.clone()]),
            }
            if read_only {
                args.push("--read-only".to_owned());
            }
            let command = uri.param("command").unwrap_or("virtkit").to_owned();
            Ok(Transport::Ssh { target, port: uri.port, command, args })
        }
        Some(t) => Err(invalid(format!("unknown transport '{t}' (unix, tls or ssh)"))),
    }
}

/// The unix socket of this machine's daemon for `driver:///PATH` URIs
/// (`/system` or `/session`), starting the user's session daemon if it is
/// not running. This is what `virtkit proxy` relays to.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), virtkit::Error> {
/// let sock = virtkit::daemon_socket("/system", false).await?;
/// assert!(sock.ends_with("virtkit-sock"));
/// # Ok(())
/// # }
/// ```
pub async fn daemon_socket(path: &str, read_only: bool) -> Result<PathBuf> {
    let uri = Uri::parse(&format!("qemu://{path}"))?;
    match transport_for(&uri, read_only).await? {
        Transport::Unix(p) => Ok(p),
        _ => Err(invalid(format!("no local socket for '{path}'"))),
    }
}

/// Connects to the user's session daemon, starting `virtkitd --session` if
/// none answers (as libvirt starts its session daemon).
async fn ensure_session_daemon(sock: &std::path::Path) -> Result<()> {
    if tokio::net::UnixStream::connect(sock).await.is_ok() {
        return Ok(());
    }
    let program = daemon_program();
    let run = paths::session_run_dir();
    virtkit_host::fs::create_dir(&run, 0o700).map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?;
    let log =
        std::fs::OpenOptions::new().create(true).append(true).open(run.join("virtkitd.log")).map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot open {}: {e}", run.join("virtkitd.log").display()))
        })?;
    let mut spawn = virtkit_host::Spawn::new(&program).args(["--session", "--timeout", "120"]).log(log);
    for var in ["HOME", "PATH", "USER", "XDG_RUNTIME_DIR", "XDG_STATE_HOME", "XDG_CACHE_HOME", "RUST_LOG"] {
        if let Some(v) = std::env::var_os(var) {
            spawn = spawn.env(var, v);
        }
    }
    let child = spawn
        .spawn()
        .map_err(|e| Error::new(ErrorKind::Disconnected, format!("cannot start {}: {e}", program.display())))?;
    // The daemon outlives this process; it is not waited for here.
    drop(child);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if tokio::net::UnixStream::connect(sock).await.is_ok() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Error::new(
                ErrorKind::Disconnected,
                format!(
                    "the session daemon did not come up at {} (see {})",
                    sock.display(),
                    run.join("virtkitd.log").display()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `$VIRTKIT_DAEMON`, else `virtkitd` next to this program, else on PATH.
fn daemon_program() -> PathBuf {
    if let Some(p) = std::env::var_os("VIRTKIT_DAEMON") {
        return PathBuf::from(p);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        for d in [Some(dir), dir.parent()].into_iter().flatten() {
            let p = d.join("virtkitd");
            if p.is_file() {
                return p;
            }
        }
    }
    PathBuf::from("virtkitd")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_transport_takes_its_own_parameters_only() {
        let t = |u: &str| {
            let u = Uri::parse(u).unwrap_or_else(|e| panic!("{e}"));
            async move { transport_for(&u, false).await }
        };
        assert!(
            matches!(t("qemu+unix:///system?socket=/s").await, Ok(Transport::Unix(p)) if p == std::path::Path::new("/s"))
        );
        assert!(matches!(t("qemu+tls://h/system?pkipath=/p").await, Ok(Transport::Tls { port: TLS_PORT, .. })));
        assert!(matches!(t("qemu+ssh://u@h:22/system?socket=/s&command=/bin/vk").await, Ok(Transport::Ssh { .. })));
        for bad in
            ["qemu+tls://h/system?no_verify=1", "qemu+unix:///system?pkipath=/p", "qemu+ssh://h/system?pkipath=/p"]
        {
            let e = t(bad).await.err().unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(e.to_string().starts_with("unknown URI parameter"), "{bad}: {e}");
        }
    }
}
