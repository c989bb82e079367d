//! Where the daemon keeps its state and sockets, for root (the system
//! daemon) and for other users (the session daemon), as client and daemon
//! must agree on it.

use std::path::PathBuf;

/// The system daemon's runtime directory (its sockets).
pub const SYSTEM_RUN_DIR: &str = "/run/virtkit";
/// The system daemon's state directory (definitions, domain status).
pub const SYSTEM_STATE_DIR: &str = "/var/lib/virtkit";
/// The `default` storage pool's directory, under the state directory
/// (`/var/lib/virtkit/images` for the system daemon).
pub const IMAGES: &str = "images";
/// The read-write socket's file name.
pub const SOCKET: &str = "virtkit-sock";
/// The read-only socket's file name.
pub const SOCKET_RO: &str = "virtkit-sock-ro";

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

fn xdg(var: &str, fallback: &str) -> PathBuf {
    match std::env::var_os(var).map(PathBuf::from) {
        Some(p) if p.is_absolute() => p,
        _ => home().join(fallback),
    }
}

/// The session daemon's runtime directory: `$XDG_RUNTIME_DIR/virtkit`, or
/// `~/.cache/virtkit/run` without one.
pub fn session_run_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(p) if p.is_absolute() => p.join("virtkit"),
        _ => xdg("XDG_CACHE_HOME", ".cache").join("virtkit/run"),
    }
}

/// The session daemon's state directory: `$XDG_STATE_HOME/virtkit`
/// (`~/.local/state/virtkit`).
pub fn session_state_dir() -> PathBuf {
    xdg("XDG_STATE_HOME", ".local/state").join("virtkit")
}

/// The system daemon's socket, or its read-only one.
pub fn system_socket(read_only: bool) -> PathBuf {
    PathBuf::from(SYSTEM_RUN_DIR).join(if read_only { SOCKET_RO } else { SOCKET })
}

/// The current user's session daemon socket.
pub fn session_socket() -> PathBuf {
    session_run_dir().join(SOCKET)
}
