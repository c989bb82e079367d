//! Settings: a TOML file (`--config`, or /etc/virtkit/virtkitd.toml for
//! the system daemon when it exists), then flags, which win.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use virtkit_host::paths;

use crate::limits::{CHUNK, PerClient};
use crate::listen::ClientLimits;

/// virtkitd: the virtkit daemon.
#[derive(Debug, clap::Parser)]
#[command(version, about)]
pub(crate) struct Args {
    /// Read settings from this TOML file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Keep everything under DIR: state, and the sockets DIR/virtkit-sock
    /// and DIR/virtkit-sock-ro.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Run as the current user's session daemon (qemu:///session).
    #[arg(long)]
    session: bool,
    /// Also listen for TLS clients on ADDR (host:port).
    #[arg(long, value_name = "ADDR")]
    tls_listen: Option<String>,
    /// The directory holding cacert.pem, servercert.pem and serverkey.pem.
    #[arg(long, value_name = "DIR")]
    pkipath: Option<PathBuf>,
    /// A client certificate subject allowed in (glob; repeat for more).
    #[arg(long = "tls-allowed-dn", value_name = "PATTERN")]
    tls_allowed_dn: Vec<String>,
    /// Clients of the read-write socket at once, at most [1024].
    #[arg(long, value_name = "N")]
    max_clients: Option<usize>,
    /// Clients of the read-only socket at once, at most [256].
    #[arg(long, value_name = "N")]
    max_ro_clients: Option<usize>,
    /// TLS clients at once, at most [256].
    #[arg(long, value_name = "N")]
    max_tls_clients: Option<usize>,
    /// TLS handshakes under way at once, at most [64].
    #[arg(long, value_name = "N")]
    max_tls_handshakes: Option<usize>,
    /// Seconds a TLS client has to finish its handshake [10].
    #[arg(long, value_name = "SECONDS")]
    tls_handshake_timeout: Option<u64>,
    /// Unix clients of one user (not root) over both sockets, at most [32].
    #[arg(long, value_name = "N")]
    max_clients_per_uid: Option<usize>,
    /// Calls in flight per client, at most (more wait their turn) [8].
    #[arg(long, value_name = "N")]
    max_calls_per_client: Option<usize>,
    /// Calls and streams open per client (HTTP/2 streams), at most [64].
    #[arg(long, value_name = "N")]
    max_streams_per_client: Option<usize>,
    /// Reply bytes per client not yet taken by the client, at most [33554432].
    #[arg(long, value_name = "BYTES")]
    max_reply_bytes_per_client: Option<usize>,
    /// Drop a client after this many seconds with no call or stream open (0: never) [300].
    #[arg(long, value_name = "SECONDS")]
    client_idle_timeout: Option<u64>,
    /// Stop after this many seconds without a client.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// The log filter (error, warn, info, debug, or tracing's syntax).
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Worker threads.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Define the host's `default` network (NAT, virbr0) on first start:
    /// yes for the system daemon with its own directories, no otherwise.
    #[arg(long, value_name = "yes|no", value_parser = clap::builder::BoolishValueParser::new())]
    default_network: Option<bool>,
    /// Define the host's `default` storage pool (a directory, STATE/images:
    /// /var/lib/virtkit/images for the system daemon) on first start: yes
    /// for the system daemon with its own directories, no otherwise.
    #[arg(long, value_name = "yes|no", value_parser = clap::builder::BoolishValueParser::new())]
    default_pool: Option<bool>,
}

/// The configuration file's keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    root: Option<PathBuf>,
    tls_listen: Option<String>,
    pkipath: Option<PathBuf>,
    tls_allowed_dn_list: Option<Vec<String>>,
    max_clients: Option<usize>,
    max_ro_clients: Option<usize>,
    max_tls_clients: Option<usize>,
    max_tls_handshakes: Option<usize>,
    tls_handshake_timeout: Option<u64>,
    max_clients_per_uid: Option<usize>,
    max_calls_per_client: Option<usize>,
    max_streams_per_client: Option<usize>,
    max_reply_bytes_per_client: Option<usize>,
    client_idle_timeout: Option<u64>,
    max_message_bytes: Option<usize>,
    unix_sock_group: Option<String>,
    idle_timeout: Option<u64>,
    log_level: Option<String>,
    threads: Option<usize>,
    default_network: Option<bool>,
    default_pool: Option<bool>,
}

#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) session: bool,
    pub(crate) state_dir: PathBuf,
    pub(crate) run_dir: PathBuf,
    pub(crate) tls_listen: Option<String>,
    pub(crate) pki_dir: Option<PathBuf>,
    pub(crate) tls_allowed_dn: Vec<String>,
    pub(crate) clients: ClientLimits,
    pub(crate) max_streams_per_client: u32,
    pub(crate) max_message: usize,
    /// The group of the read-write socket: configured, else `virtkit` if it exists.
    unix_sock_group: Option<String>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) log_level: String,
    pub(crate) threads: usize,
    /// Whether the host's `default` network is defined on first start.
    pub(crate) default_network: bool,
    /// The directory of the host's `default` pool, defined on first start.
    pub(crate) default_pool: Option<PathBuf>,
}

const SYSTEM_CONFIG: &str = "/etc/virtkit/virtkitd.toml";

fn positive(name: &str, v: usize) -> anyhow::Result<usize> {
    if v == 0 {
        bail!("{name} must be at least 1");
    }
    Ok(v)
}

fn between(name: &str, v: usize, low: usize, high: usize) -> anyhow::Result<usize> {
    if !(low..=high).contains(&v) {
        bail!("{name} must be between {low} and {high}");
    }
    Ok(v)
}

impl Settings {
    pub(crate) fn load(args: Args) -> anyhow::Result<Settings> {
        let root_user = nix::unistd::geteuid().is_root();
        let session = args.session || !root_user;
        let path = match &args.config {
            Some(p) => Some(p.clone()),
            None if root_user && !session && args.root.is_none() && Path::new(SYSTEM_CONFIG).exists() => {
                Some(PathBuf::from(SYSTEM_CONFIG))
            }
            None => None,
        };
        let file: File = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
                toml::from_str(&text).map_err(|e| {
                    let line = e.span().map_or(0, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
                    anyhow::anyhow!("{}:{line}: {}", p.display(), e.message())
                })?
            }
            None => File::default(),
        };
        let root = args.root.or(file.root);
        if let Some(r) = &root
            && !r.is_absolute()
        {
            bail!("the root {} is not an absolute path", r.display());
        }
        let (state_dir, run_dir) = match &root {
            Some(r) => (r.clone(), r.clone()),
            None if session => (paths::session_state_dir(), paths::session_run_dir()),
            None => (PathBuf::from(paths::SYSTEM_STATE_DIR), PathBuf::from(paths::SYSTEM_RUN_DIR)),
        };
        let max_message = file.max_message_bytes.unwrap_or(virtkit_proto::MAX_MESSAGE);
        if !(4096..=(256 << 20)).contains(&max_message) {
            bail!("max_message_bytes must be between 4096 and 268435456");
        }
        let handshake_timeout = args.tls_handshake_timeout.or(file.tls_handshake_timeout).unwrap_or(10);
        if handshake_timeout == 0 {
            bail!("tls_handshake_timeout must be at least 1");
        }
        let handshake_timeout = Duration::from_secs(handshake_timeout);
        let system_defaults = !session && root.is_none();
        let default_network = args.default_network.or(file.default_network).unwrap_or(system_defaults);
        let default_pool =
            args.default_pool.or(file.default_pool).unwrap_or(system_defaults).then(|| state_dir.join(paths::IMAGES));
        Ok(Settings {
            default_network,
            default_pool,
            session,
            state_dir,
            run_dir,
            tls_listen: args.tls_listen.or(file.tls_listen),
            pki_dir: args.pkipath.or(file.pkipath),
            tls_allowed_dn: if args.tls_allowed_dn.is_empty() {
                file.tls_allowed_dn_list.unwrap_or_default()
            } else {
                args.tls_allowed_dn
            },
            clients: ClientLimits {
                read_write: positive("max_clients", args.max_clients.or(file.max_clients).unwrap_or(1024))?,
                read_only: positive("max_ro_clients", args.max_ro_clients.or(file.max_ro_clients).unwrap_or(256))?,
                tls: positive("max_tls_clients", args.max_tls_clients.or(file.max_tls_clients).unwrap_or(256))?,
                tls_handshakes: positive(
                    "max_tls_handshakes",
                    args.max_tls_handshakes.or(file.max_tls_handshakes).unwrap_or(64),
                )?,
                handshake_timeout,
                per_uid: positive(
                    "max_clients_per_uid",
                    args.max_clients_per_uid.or(file.max_clients_per_uid).unwrap_or(32),
                )?,
                per_client: PerClient {
                    calls: positive(
                        "max_calls_per_client",
                        args.max_calls_per_client.or(file.max_calls_per_client).unwrap_or(8),
                    )?,
                    reply_bytes: between(
                        "max_reply_bytes_per_client",
                        args.max_reply_bytes_per_client.or(file.max_reply_bytes_per_client).unwrap_or(32 << 20),
                        CHUNK,
                        1 << 30,
                    )?,
                    idle: Some(args.client_idle_timeout.or(file.client_idle_timeout).unwrap_or(300))
                        .filter(|t| *t > 0)
                        .map(Duration::from_secs),
                },
            },
            max_streams_per_client: u32::try_from(between(
                "max_streams_per_client",
                args.max_streams_per_client.or(file.max_streams_per_client).unwrap_or(64),
                1,
                1 << 16,
            )?)
            .unwrap_or(u32::MAX),
            max_message,
            unix_sock_group: file.unix_sock_group,
            idle_timeout: args.timeout.or(file.idle_timeout).filter(|t| *t > 0).map(Duration::from_secs),
            log_level: args.log_level.or(file.log_level).unwrap_or_else(|| "info".to_owned()),
            threads: positive("threads", args.threads.or(file.threads).unwrap_or(2))?,
        })
    }

    /// The read-write socket's group id, if any.
    pub(crate) fn socket_group(&self) -> anyhow::Result<Option<u32>> {
        let name = self.unix_sock_group.as_deref().unwrap_or("virtkit");
        match nix::unistd::Group::from_name(name) {
            Ok(Some(g)) => Ok(Some(g.gid.as_raw())),
            Ok(None) if self.unix_sock_group.is_none() => Ok(None),
            Ok(None) => bail!("unix_sock_group: no group '{name}'"),
            Err(e) => bail!("cannot look up group '{name}': {e}"),
        }
    }
}
