//! libiscsi's command-line tools (Debian's `libiscsi-bin`): `iscsi-ls -s`
//! lists a portal's targets with their LUNs, `iscsi-readcapacity16 -s`
//! gives one LUN's size in bytes. Each logs in as the initiator it is
//! given and out again when done.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::error::{Fault, io};

/// How long one tool may take before it is killed: a portal that drops
/// packets would otherwise hold it for the kernel's connect timeout.
const TIMEOUT: Duration = Duration::from_secs(20);

/// The SCSI device type of a disk (`Type:DIRECT_ACCESS` in `iscsi-ls`).
pub(crate) const DISK: &str = "DIRECT_ACCESS";

/// A target as `iscsi-ls -s` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub iqn: String,
    pub luns: Vec<ListedLun>,
    /// Whether its LUNs were listed to the end (another target follows, or
    /// the tool finished well).
    pub whole: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedLun {
    pub lun: u32,
    /// The SCSI device type, as libiscsi names it (`DIRECT_ACCESS`).
    pub device_type: String,
}

/// What a tool printed, and whether it ended well.
#[derive(Debug)]
pub(crate) struct Ran {
    pub ok: bool,
    pub stdout: String,
    /// Its last line of complaint (libiscsi prints one), or how it ended.
    pub reason: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Libiscsi {
    ls: PathBuf,
    readcapacity16: PathBuf,
}

impl Default for Libiscsi {
    fn default() -> Self {
        Libiscsi { ls: "iscsi-ls".into(), readcapacity16: "iscsi-readcapacity16".into() }
    }
}

impl Libiscsi {
    /// `iscsi-ls -s` of the portal at `url` (`iscsi://HOST:PORT/`).
    pub(crate) async fn list(&self, initiator: &str, url: &str) -> Result<Ran, Fault> {
        run(&self.ls, &["-s", "-i", initiator, url]).await
    }

    /// The size in bytes of the LUN at `url` (`iscsi://HOST:PORT/IQN/LUN`).
    pub(crate) async fn size(&self, initiator: &str, url: &str) -> Result<Result<u64, String>, Fault> {
        let ran = run(&self.readcapacity16, &["-s", "-i", initiator, url]).await?;
        if !ran.ok {
            return Ok(Err(ran.reason));
        }
        Ok(parse_size(&ran.stdout).ok_or_else(|| format!("unreadable answer '{}'", ran.stdout.trim())))
    }
}

async fn run(bin: &std::path::Path, args: &[&str]) -> Result<Ran, Fault> {
    let child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| io(format!("cannot run {}", bin.display()), e))?;
    let Ok(out) = tokio::time::timeout(TIMEOUT, child.wait_with_output()).await else {
        return Ok(Ran { ok: false, stdout: String::new(), reason: format!("no answer in {} s", TIMEOUT.as_secs()) });
    };
    let out = out.map_err(|e| io(format!("{} was lost", bin.display()), e))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let reason = match stderr.lines().map(str::trim).rfind(|l| !l.is_empty()) {
        Some(line) => complaint(line),
        None => format!("{} ended with {}", bin.display(), out.status),
    };
    Ok(Ran { ok: out.status.success(), stdout: String::from_utf8_lossy(&out.stdout).into_owned(), reason })
}

/// A libiscsi complaint without the names of the functions that made it
/// (`discoveryconnect_cb: connection failed : iscsi_service: …`).
fn complaint(line: &str) -> String {
    let is_function = |p: &str| p.contains('_') && !p.contains(' ');
    let parts: Vec<&str> =
        line.split(": ").flat_map(|p| p.split(" : ")).map(str::trim).filter(|p| !is_function(p)).collect();
    parts.join(": ").trim_end_matches('.').to_owned()
}

/// Reads `iscsi-ls -s`: `Target:IQN Portal:ADDR,TPGT` lines, each followed
/// by its `Lun:N    Type:TYPE (Size:…)` lines. `ok` is whether the tool
/// ended well: when it did not, the last target listed is the one it
/// stopped at.
pub(crate) fn parse_list(stdout: &str, ok: bool) -> Vec<Listed> {
    let mut all: Vec<Listed> = Vec::new();
    for line in stdout.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Target:") {
            let iqn = rest.split_whitespace().next().unwrap_or_default().to_owned();
            if let Some(last) = all.last_mut() {
                last.whole = true;
            }
            all.push(Listed { iqn, luns: Vec::new(), whole: false });
        } else if let Some(rest) = line.strip_prefix("Lun:")
            && let Some(target) = all.last_mut()
        {
            let mut words = rest.split_whitespace();
            let Some(lun) = words.next().and_then(|n| n.parse().ok()) else { continue };
            let device_type = words.find_map(|w| w.strip_prefix("Type:")).unwrap_or_default().to_owned();
            target.luns.push(ListedLun { lun, device_type });
        }
    }
    if ok && let Some(last) = all.last_mut() {
        last.whole = true;
    }
    all
}

/// Reads `iscsi-readcapacity16 -s`: the size in bytes, alone on its line.
pub(crate) fn parse_size(stdout: &str) -> Option<u64> {
    stdout.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `iscsi-ls -s` of tgt 1.0.85 with two targets.
    const LISTING: &str = "\
Target:iqn.2026-12.org.example:t3 Portal:127.0.0.1:13260,1
Lun:0    Type:STORAGE_ARRAY_CONTROLLER
Target:iqn.2026-12.org.example:t1 Portal:127.0.0.1:13260,1
Lun:0    Type:STORAGE_ARRAY_CONTROLLER
Lun:1    Type:DIRECT_ACCESS (Size:7M)
Lun:2    Type:DIRECT_ACCESS (Size:19M)
";

    #[test]
    fn a_listing_gives_every_target_with_its_luns() {
        let all = parse_list(LISTING, true);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].iqn, "iqn.2026-12.org.example:t3");
        assert_eq!(all[0].luns, [ListedLun { lun: 0, device_type: "STORAGE_ARRAY_CONTROLLER".into() }]);
        let t1 = &all[1];
        assert_eq!(t1.iqn, "iqn.2026-12.org.example:t1");
        let luns: Vec<(u32, &str)> = t1.luns.iter().map(|l| (l.lun, l.device_type.as_str())).collect();
        assert_eq!(luns, [(0, "STORAGE_ARRAY_CONTROLLER"), (1, DISK), (2, DISK)]);
        assert!(all.iter().all(|t| t.whole));
    }

    #[test]
    fn a_listing_that_stopped_leaves_its_last_target_unfinished() {
        // iscsi-ls stops at the first target it cannot log in to.
        let all = parse_list(
            "Target:iqn.a:x Portal:127.0.0.1:3260,1\nLun:0    Type:DIRECT_ACCESS (Size:1M)\n\
             Target:iqn.a:y Portal:127.0.0.1:3260,1\n",
            false,
        );
        assert!(all[0].whole);
        assert_eq!(all[0].luns.len(), 1);
        assert!(!all[1].whole);
        assert!(parse_list("", false).is_empty());
    }

    #[test]
    fn sizes_and_complaints_are_read() {
        assert_eq!(parse_size("20971520\n"), Some(20 << 20));
        assert_eq!(parse_size("failed\n"), None);
        assert_eq!(
            complaint("discoveryconnect_cb: connection failed : iscsi_service: socket error Connection refused(111)."),
            "connection failed: socket error Connection refused(111)"
        );
        assert_eq!(
            complaint("Login Failed. Failed to log in to target. Status: Target not found(515)"),
            "Login Failed. Failed to log in to target. Status: Target not found(515)"
        );
        assert_eq!(
            complaint(
                "list_luns: iscsi_connect failed. Failed to log in to target. Status: Authentication failure(513)"
            ),
            "iscsi_connect failed. Failed to log in to target. Status: Authentication failure(513)"
        );
    }
}
