//! virtkitd: hosts virtkit's drivers and serves them over gRPC on unix
//! sockets (read-write and read-only) and, when configured, TCP with
//! mutual TLS. Guests outlive it: stopping the daemon never stops them,
//! and a new daemon finds them again.

mod authority;
mod config;
mod cpu;
mod dn;
mod handoff;
mod limits;
mod listen;
mod memory;
mod objects;
mod service;
mod tls;
mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio::sync::{mpsc, watch};
use virtkit_host::paths;

use crate::config::{Args, Settings};
use crate::listen::{Accepted, Admission};

fn main() {
    append_logs();
    memory::large_blocks_apart();
    let args = Args::parse();
    let settings = match Settings::load(args) {
        Ok(s) => s,
        Err(e) => {
            say(&format!("virtkitd: {e:#}"));
            std::process::exit(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&settings.log_level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).init();
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(settings.threads).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            say(&format!("virtkitd: cannot start the runtime: {e}"));
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(settings)) {
        tracing::error!("{e:#}");
        say(&format!("virtkitd: {e:#}"));
        std::process::exit(1);
    }
}

/// Makes standard output and error append when they are files, so that
/// each line lands whole at the end even when another writer (a second
/// open of the same log) writes there too; every line goes in one write.
fn append_logs() {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    use nix::sys::stat::SFlag;
    use std::os::fd::AsFd;
    let (out, err) = (std::io::stdout(), std::io::stderr());
    for fd in [out.as_fd(), err.as_fd()] {
        let regular = nix::sys::stat::fstat(fd)
            .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG);
        if !regular {
            continue;
        }
        if let Ok(flags) = fcntl(fd, FcntlArg::F_GETFL) {
            let _ = fcntl(fd, FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_APPEND));
        }
    }
}

/// One line to standard error, in one write.
fn say(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
}

/// Percent-escapes what a URI parameter value cannot hold as is.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' | '&' | '?' | '#' | ' ' | '=' | '+' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

async fn run(s: Settings) -> anyhow::Result<()> {
    for d in [&s.state_dir, &s.run_dir] {
        virtkit_host::fs::create_dir(d, 0o755).with_context(|| format!("cannot create {}", d.display()))?;
    }
    // One daemon per state directory.
    let _lock = virtkit_host::DirLock::acquire(&s.state_dir.join("virtkitd.lock"), Duration::ZERO)?;

    let mut targets = HashMap::new();
    let qemu_name = if s.session { "qemu:///session" } else { "qemu:///system" };
    let qemu_root = s.state_dir.join("qemu");
    let mut qemu_uri = format!("qemu:///embed?root={}&wait=0", escape(&qemu_root.to_string_lossy()));
    if s.default_network {
        qemu_uri.push_str("&default-network=1");
    }
    if let Some(dir) = &s.default_pool {
        qemu_uri.push_str(&format!("&default-pool={}", escape(&dir.to_string_lossy())));
    }
    let qemu = virtkit::Connection::open(&qemu_uri).await.with_context(|| format!("cannot open {qemu_name}"))?;
    for w in qemu.warnings() {
        tracing::warn!("{qemu_name}: {w}");
    }
    let running = qemu.list_domains(virtkit::ListOptions::default().active(true)).await?.items.len();
    tracing::info!(uri = qemu_name, state = %qemu_root.display(), running, "driver ready");
    let autostart_conn = qemu.clone();
    targets.insert(qemu_name.to_owned(), qemu);
    targets.insert("test:///default".to_owned(), virtkit::Connection::open("test:///default").await?);

    let (stop_tx, stop_rx) = watch::channel(false);
    let base = revision_base(&s.state_dir);
    tracing::info!(base, "revisions start");
    let handoffs = Arc::new(handoff::Handoffs::default());
    let service = service::Service::new(targets, stop_rx, base, cpu::Cpu::new(s.threads), handoffs.clone());
    let (tx, rx) = mpsc::channel(64);
    let open_files = memory::raise_open_files();
    tracing::info!(open_files, "file descriptors");
    let admission = Admission::new(s.clients);
    let accepted = Accepted { tx, admission: admission.clone(), handoffs };

    let rw = s.run_dir.join(paths::SOCKET);
    let ro = s.run_dir.join(paths::SOCKET_RO);
    let (rw_mode, ro_mode, only_uid) =
        if s.session { (0o600, 0o600, Some(nix::unistd::geteuid().as_raw())) } else { (0o660, 0o666, None) };
    let group = if s.session { None } else { s.socket_group()? };
    let rw_l = listen::bind_unix(&rw, rw_mode, group)?;
    let ro_l = listen::bind_unix(&ro, ro_mode, None)?;
    let mut tasks = vec![
        tokio::spawn(listen::serve_unix(rw_l, rw.clone(), false, only_uid, accepted.clone())),
        tokio::spawn(listen::serve_unix(ro_l, ro.clone(), true, only_uid, accepted.clone())),
    ];
    if let Some(addr) = &s.tls_listen {
        let pki = s.pki_dir.clone().context("a TLS listener needs a pki directory (--pkipath)")?;
        let config = tls::server_config(&pki)?;
        let l = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        tracing::info!(addr = %l.local_addr()?, "listening (tls)");
        let allowed = Arc::new(dn::DnPatterns::new(&s.tls_allowed_dn)?);
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        tasks.push(tokio::spawn(listen::serve_tls(l, acceptor, allowed, accepted.clone())));
    }
    tracing::info!(socket = %rw.display(), read_only = %ro.display(), "listening");
    drop(accepted);
    tokio::spawn(autostart(autostart_conn, s.run_dir.join("autostarted")));
    tokio::spawn(memory::give_back());

    let incoming = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut stopping = stop_tx.subscribe();
    let shutdown = shutdown_signal(stop_tx, s.idle_timeout, admission);
    let server = tonic::transport::Server::builder()
        .layer(limits::CallLimitLayer)
        .max_concurrent_streams(s.max_streams_per_client)
        .http2_max_pending_accept_reset_streams(Some(32))
        .http2_max_local_error_reset_streams(Some(1024))
        .http2_max_header_list_size(HEADER_LIST_BYTES)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .initial_stream_window_size(virtkit_proto::WINDOW)
        .initial_connection_window_size(virtkit_proto::WINDOW)
        .max_frame_size(virtkit_proto::FRAME)
        .layer(wire::BadMessages)
        .add_service(
            virtkit_proto::v1::virtkit_server::VirtkitServer::new(service)
                .max_decoding_message_size(s.max_message)
                .max_encoding_message_size(s.max_message),
        )
        .serve_with_incoming_shutdown(incoming, shutdown);
    // Running calls get a while to finish once stopping starts; then the
    // daemon goes anyway (guests are not touched either way).
    let deadline = async {
        let _ = stopping.wait_for(|s| *s).await;
        tokio::time::sleep(STOP_GRACE).await;
    };
    let result = tokio::select! {
        r = server => r,
        () = deadline => {
            tracing::warn!("calls still running after {STOP_GRACE:?}: stopping anyway");
            Ok(())
        }
    };
    for t in tasks {
        t.abort();
    }
    for p in [&rw, &ro] {
        let _ = std::fs::remove_file(p);
    }
    result.context("serving")?;
    tracing::info!("stopped; guests keep running");
    Ok(())
}

/// Starts the domains marked autostart, once per boot: the marker lives in
/// the runtime directory (/run/virtkit, emptied at boot), so a daemon
/// restarted later does not start again what someone has since stopped.
async fn autostart(conn: virtkit::Connection, marker: std::path::PathBuf) {
    if marker.exists() {
        return;
    }
    if let Err(e) = virtkit_host::fs::write_atomic(&marker, b"", 0o644) {
        tracing::warn!("{e}: autostart skipped");
        return;
    }
    let list = match conn.list_domains(virtkit::ListOptions::default().persistent(true).active(false)).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("autostart: {e}");
            return;
        }
    };
    for d in list.items.iter().filter(|d| d.autostart) {
        let started = async { conn.lookup_domain(&d.uuid.to_string()).await?.start(Default::default()).await };
        match started.await {
            Ok(()) => tracing::info!(domain = d.name, "autostarted"),
            Err(e) => tracing::warn!(domain = d.name, "autostart failed: {e}"),
        }
    }
}

/// Room for one daemon's revisions before the next one's begin.
const REVISIONS_PER_RUN: u64 = 1 << 32;

/// Where this daemon's revisions start: past every revision an earlier
/// daemon on this state directory could have shown (its base, recorded in
/// `revision-base`, plus 2^32), and past the clock in microseconds, should
/// the record be lost. It stays below 2^53, which JSON readers keep exact.
fn revision_base(state: &std::path::Path) -> u64 {
    let path = state.join("revision-base");
    let previous = match std::fs::read_to_string(&path) {
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(b) => Some(b),
            Err(_) => {
                tracing::warn!(file = %path.display(), "not a number: ignored");
                None
            }
        },
        Err(_) => None,
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros());
    let now = u64::try_from(now).unwrap_or(0);
    let base = previous.map_or(now, |p| p.saturating_add(REVISIONS_PER_RUN).max(now));
    let text = format!("{base}\n");
    if let Err(e) = virtkit_host::fs::write_atomic(&path, text.as_bytes(), 0o644) {
        // A full filesystem has no room for a new file, but the old one's
        // block takes the new number: rewrite it in place. Should that fail
        // too (none yet), serve anyway: the next daemon counts from the
        // clock, past every revision this one shows.
        if let Err(e2) = rewrite_in_place(&path, text.as_bytes()) {
            tracing::warn!("{e}; nor can it be rewritten in place: {e2}");
        }
    }
    base
}

/// Overwrites the existing file `path` with `data` where it lies, which
/// needs no new space for a few bytes.
fn rewrite_in_place(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write_all_at(data, 0)?;
    f.set_len(data.len() as u64)?;
    f.sync_all()
}

/// The headers of one call, at most (HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE).
const HEADER_LIST_BYTES: u32 = 16 << 10;

/// How long running calls may take to finish once the daemon stops.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// Resolves on SIGTERM or SIGINT, or (session daemon) after `idle` with no
/// client. It first tells event streams to end, so that the server's
/// graceful shutdown (which waits for running calls) can finish.
async fn shutdown_signal(stop: watch::Sender<bool>, idle: Option<Duration>, clients: Arc<Admission>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot handle signals; stop me with SIGKILL");
        return std::future::pending().await;
    };
    let idle_wait = async {
        let Some(idle) = idle else { return std::future::pending().await };
        let mut since = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(1).min(idle)).await;
            if clients.open() > 0 {
                since = tokio::time::Instant::now();
            } else if since.elapsed() >= idle {
                return;
            }
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: finishing running calls"),
        _ = int.recv() => tracing::info!("SIGINT: finishing running calls"),
        () = idle_wait => tracing::info!("no client for a while: stopping"),
    }
    let _ = stop.send(true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_daemon_counts_past_the_last() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let first = revision_base(dir.path());
        assert!(first > 1_700_000_000_000_000, "{first}");
        let second = revision_base(dir.path());
        assert_eq!(second, first + REVISIONS_PER_RUN);
        assert!(second < 1 << 53);
        std::fs::write(dir.path().join("revision-base"), "junk").unwrap_or_else(|e| panic!("{e}"));
        let third = revision_base(dir.path());
        assert!(third >= first && third < second, "{third}");
    }
}
