//! virtkit's nftables firewall: one table of its own (`table inet
//! virtkit`) holding every active network's rules, always rewritten whole
//! in one `nft -f -` transaction, and a watcher that puts it back when
//! another program (`nft flush ruleset`, Docker, firewalld) removes or
//! changes it. Every other table of the host is left alone.

mod rules;
#[cfg(test)]
mod tests;

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::task::JoinHandle;

pub(crate) use rules::{NetRules, Nets, rules};

/// What the firewall could not do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FirewallError {
    /// A bridge name nftables cannot take as it is (in a chain's name).
    #[error("bridge name '{0}' cannot be used in nftables rules")]
    BridgeName(String),
    /// A `<forward dev>` nftables cannot take as it is.
    #[error("forward device '{0}' cannot be used in nftables rules")]
    DeviceName(String),
    /// An `<ip>` whose subnet is unknown.
    #[error("address {0} has no prefix or netmask")]
    NoPrefix(std::net::IpAddr),
    /// A `<nat><port>` range libvirt refuses.
    #[error("nat port range {start}-{end} is not increasing")]
    PortRange { start: u16, end: u16 },
    /// A `<nat><address>` range that ends before it starts.
    #[error("nat address range {start}-{end} is reversed")]
    AddressRange { start: Ipv4Addr, end: Ipv4Addr },
    /// Two active networks on one bridge.
    #[error("bridge '{bridge}' is already used by network '{network}'")]
    BridgeInUse { bridge: String, network: String },
    /// nft could not be started or talked to.
    #[error("cannot run nft")]
    Spawn(#[source] std::io::Error),
    /// nft ran and refused.
    #[error("nft {args} failed: {stderr}")]
    Nft { args: String, stderr: String },
    /// A forwarding switch in /proc/sys could not be turned on.
    #[error("cannot write {path}")]
    Sysctl {
        path: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// What the watcher compares the table with.
/// The active networks' rules, in the table's order, and what the table
/// should list as; cheap to clone (shared).
#[derive(Debug, Clone)]
pub(crate) struct Firewall {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    period: Duration,
    nets: Mutex<Nets>,
    /// The table as nft lists it after our last write (`Some(None)`: no
    /// table, meant; `None`: nothing written yet, nothing to watch). Our
    /// rendering is nft's listing, so no listing is taken after a write.
    applied: tokio::sync::Mutex<Option<Option<String>>>,
}

impl Firewall {
    /// A firewall with no networks, whose watcher looks every `period`.
    pub(crate) fn new(period: Duration) -> Firewall {
        Firewall { inner: Arc::new(Inner { period, nets: Mutex::default(), applied: tokio::sync::Mutex::new(None) }) }
    }

    fn nets(&self) -> std::sync::MutexGuard<'_, Nets> {
        self.inner.nets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets `network`'s rules (applied by the next [`Firewall::apply`]);
    /// refused when another network has the same bridge.
    pub(crate) fn set(&self, network: &str, rules: NetRules) -> Result<(), FirewallError> {
        let mut nets = self.nets();
        if let Some((other, _)) = nets.iter().find(|(n, r)| n.as_str() != network && r.bridge() == rules.bridge()) {
            return Err(FirewallError::BridgeInUse { bridge: rules.bridge().to_string(), network: other.clone() });
        }
        match nets.iter_mut().find(|(n, _)| n == network) {
            Some((_, r)) => *r = rules,
            None => nets.push((network.to_string(), rules)),
        }
        Ok(())
    }

    /// Forgets `network`'s rules (gone from the table at the next apply).
    pub(crate) fn remove(&self, network: &str) {
        self.nets().retain(|(n, _)| n != network);
    }

    /// Sets `network`'s rules and writes them: a new network is added to
    /// the table in place (additions only, fast) when the table is as we
    /// left it; otherwise the whole table is written again.
    pub(crate) async fn put(&self, network: &str, rules: NetRules) -> Result<(), FirewallError> {
        let mut applied = self.inner.applied.lock().await;
        let addition = {
            let nets = self.nets();
            let new = !nets.iter().any(|(n, _)| n == network);
            let in_place = matches!(&*applied, Some(Some(_)));
            if new && in_place { rules::addition(&nets, &rules) } else { None }
        };
        self.set(network, rules)?;
        // A failed addition means the table is not as we left it after
        // all: it is written whole below.
        if let Some(script) = addition
            && nft(&["-f", "-"], Some(&script)).await.is_ok()
        {
            *applied = Some(rules::table(&self.nets()));
            return Ok(());
        }
        self.apply_locked(&mut applied).await
    }

    /// Rewrites the whole table from the active networks, in one transaction.
    pub(crate) async fn apply(&self) -> Result<(), FirewallError> {
        let mut applied = self.inner.applied.lock().await;
        self.apply_locked(&mut applied).await
    }

    async fn apply_locked(&self, applied: &mut Option<Option<String>>) -> Result<(), FirewallError> {
        let (script, table) = {
            let nets = self.nets();
            (rules::script(&nets), rules::table(&nets))
        };
        // Where we left no table, the table alone makes it: deleting one
        // (even an empty one made for the purpose) costs the kernel a wait
        // of 10 to 20 ms. Anything there after all: the whole script.
        let made = match (&*applied, &table) {
            (Some(None), Some(t)) => nft(&["-f", "-"], Some(t)).await.is_ok(),
            _ => false,
        };
        if !made {
            nft(&["-f", "-"], Some(&script)).await?;
        }
        *applied = Some(table);
        Ok(())
    }

    /// Starts the watcher (a task on the current runtime; it stops when the
    /// returned handle is dropped).
    pub(crate) fn watch(&self) -> Watch {
        let fw = self.clone();
        Watch(tokio::spawn(async move {
            let mut tick = tokio::time::interval(fw.inner.period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = fw.check().await {
                    tracing::warn!(error = %ErrorChain(&e), "cannot check or restore nftables table inet {}", rules::TABLE);
                }
            }
        }))
    }

    /// Re-applies the table when it is no longer what the last write left.
    async fn check(&self) -> Result<(), FirewallError> {
        let mut applied = self.inner.applied.lock().await;
        let Some(want) = applied.as_ref() else { return Ok(()) };
        let now = list().await?;
        if &now == want {
            return Ok(());
        }
        let what = if now.is_none() { "removed" } else { "changed" };
        tracing::warn!("nftables table inet {} was {what} by another program; restoring it", rules::TABLE);
        self.apply_locked(&mut applied).await
    }
}

/// The running watcher; dropping it stops it.
#[derive(Debug)]
pub(crate) struct Watch(JoinHandle<()>);

impl Drop for Watch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Turns on the host forwarding `rules`' network needs (IPv4, IPv6), in
/// the network namespace of the calling thread.
pub(crate) fn enable_forwarding(rules: &NetRules) -> Result<(), FirewallError> {
    let mut paths = Vec::new();
    if rules.ipv4_forwarding {
        paths.push("/proc/sys/net/ipv4/ip_forward");
    }
    if rules.ipv6_forwarding {
        paths.push("/proc/sys/net/ipv6/conf/all/forwarding");
    }
    for path in paths {
        // std, not tokio::fs: the write must come from this thread, whose
        // network namespace /proc/sys/net shows.
        std::fs::write(path, "1\n").map_err(|source| FirewallError::Sysctl { path, source })?;
    }
    Ok(())
}

/// The table as `nft` lists it now; `None` when it does not exist.
async fn list() -> Result<Option<String>, FirewallError> {
    match nft(&["-s", "list", "table", "inet", rules::TABLE], None).await {
        Ok(text) => Ok(Some(text)),
        Err(FirewallError::Nft { stderr, .. }) if stderr.contains("No such file or directory") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Runs `nft args` with `stdin`, giving its output.
async fn nft(args: &[&str], stdin: Option<&str>) -> Result<String, FirewallError> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(FirewallError::Spawn)?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).await.map_err(FirewallError::Spawn)?;
    }
    let out = child.wait_with_output().await.map_err(FirewallError::Spawn)?;
    if !out.status.success() {
        return Err(FirewallError::Nft {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// An error with its causes, for logs.
struct ErrorChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}
