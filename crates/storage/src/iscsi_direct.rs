//! The `iscsi-direct` backend: the LUNs of one iSCSI target, reached by
//! QEMU's own initiator, never by the host's. A LUN is the volume
//! `unit:0:0:LUN` (libvirt's names), its path the URL
//! `iscsi://HOST:PORT/IQN/LUN`. The LUNs are made on the target, so a
//! pool cannot create or delete volumes; it can zero one (`qemu-io`, with
//! QEMU's initiator).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::process::Command;
use virtkit_engine::storage_driver::{ActivePool, PoolActive, PoolBackend, PoolScan};
use virtkit_engine::{Error, ErrorKind, JobCtl, ObjRef, Result};
use virtkit_model::ByteSize;
use virtkit_model::storage::{AuthType, Pool, PoolType, Volume, VolumeFormat, VolumeType};

use crate::error::io;
use crate::libiscsi::{self, Libiscsi};
use crate::qemu_img::cancelled;

/// The port of an iSCSI portal unless the pool gives one.
const DEFAULT_PORT: u16 = 3260;
/// Volume names are the LUN after this (libvirt's).
const VOLUME_PREFIX: &str = "unit:0:0:";

/// Why a pool with CHAP cannot start.
pub(crate) const NO_SECRETS: &str = "CHAP needs a secret store, which virtkit does not have yet";

pub(crate) struct IscsiDirect {
    tools: Libiscsi,
    qemu_io: PathBuf,
}

impl Default for IscsiDirect {
    fn default() -> Self {
        IscsiDirect { tools: Libiscsi::default(), qemu_io: "qemu-io".into() }
    }
}

/// Where a pool's target is and who logs in to it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    /// `HOST:PORT`, an IPv6 host in brackets.
    portal: String,
    iqn: String,
    initiator: String,
}

impl Target {
    fn of(pool: &Pool) -> Result<Target> {
        let src = &pool.source;
        let bad = |what: &str| Error::new(ErrorKind::InvalidArgument, format!("storage pool '{}' {what}", pool.name));
        let [host] = src.hosts.as_slice() else { return Err(bad("needs exactly one source host")) };
        let [device] = src.devices.as_slice() else {
            return Err(bad("needs exactly one source device (the target's IQN)"));
        };
        let initiator = src.initiator_iqn.clone().ok_or_else(|| bad("needs an initiator IQN"))?;
        if let Some(auth) = &src.auth {
            return Err(match auth.auth_type {
                AuthType::Chap => Error::new(ErrorKind::Unsupported, NO_SECRETS),
                other => bad(&format!("cannot use {other} auth: iscsi-direct takes chap only")),
            });
        }
        let port = host.port.unwrap_or(DEFAULT_PORT);
        let portal =
            if host.name.contains(':') { format!("[{}]:{port}", host.name) } else { format!("{}:{port}", host.name) };
        Ok(Target { portal, iqn: device.path.clone(), initiator })
    }

    fn portal_url(&self) -> String {
        format!("iscsi://{}/", self.portal)
    }

    fn lun_url(&self, lun: u32) -> String {
        format!("iscsi://{}/{}/{lun}", self.portal, self.iqn)
    }

    /// QEMU's options for a LUN, raw, as its iscsi driver opens it.
    fn image_opts(&self, lun: u32) -> String {
        let esc = |s: &str| s.replace(',', ",,");
        format!(
            "driver=raw,file.driver=iscsi,file.transport=tcp,file.portal={},file.target={},file.lun={lun},\
             file.initiator-name={}",
            esc(&self.portal),
            esc(&self.iqn),
            esc(&self.initiator)
        )
    }

    /// The volume of a LUN of `bytes`.
    fn volume(&self, lun: u32, bytes: u64) -> Volume {
        let mut v = Volume::new(format!("{VOLUME_PREFIX}{lun}"))
            .with_capacity(ByteSize::bytes(bytes))
            .with_allocation(ByteSize::bytes(bytes))
            .with_format(VolumeFormat::Raw)
            .with_path(self.lun_url(lun));
        // libvirt's key, which names the LUN wherever it is seen from.
        v.key = Some(format!("ip-{}-iscsi-{}-lun-{lun}", self.portal, self.iqn));
        v.volume_type = Some(VolumeType::Network);
        v
    }
}

/// The reason a portal's listing gives for not having `t`'s LUNs.
fn not_listed(t: &Target, listed: &[libiscsi::Listed], ran: &libiscsi::Ran) -> Error {
    match listed.last() {
        None if !ran.ok => Error::new(
            ErrorKind::Io,
            format!("cannot reach the iscsi portal {} as {}: {}", t.portal, t.initiator, ran.reason),
        ),
        Some(last) if !last.whole && last.iqn == t.iqn => {
            Error::new(ErrorKind::Io, format!("cannot log in to {} at {}: {}", t.iqn, t.portal, ran.reason))
        }
        Some(last) if !last.whole => Error::new(
            ErrorKind::Io,
            format!(
                "cannot list the targets of the iscsi portal {}: it stopped at {}: {}",
                t.portal, last.iqn, ran.reason
            ),
        ),
        _ => {
            let names: Vec<&str> = listed.iter().map(|l| l.iqn.as_str()).collect();
            let has = if names.is_empty() { "none".to_owned() } else { names.join(", ") };
            Error::new(
                ErrorKind::NotFound,
                format!("the iscsi portal {} has no target {} for {} (it has {has})", t.portal, t.iqn, t.initiator),
            )
        }
    }
}

impl IscsiDirect {
    /// The size in bytes of a LUN, as the target says now.
    async fn size(&self, t: &Target, lun: u32) -> Result<u64> {
        self.tools
            .size(&t.initiator, &t.lun_url(lun))
            .await?
            .map_err(|why| Error::new(ErrorKind::Io, format!("cannot read the size of LUN {lun} of {}: {why}", t.iqn)))
    }

    /// Writes zeros over the whole of a LUN, with QEMU's initiator.
    async fn zero(&self, t: &Target, lun: u32, job: &JobCtl) -> Result<()> {
        let bytes = self.size(t, lun).await?;
        job.set_total(bytes);
        let child = Command::new(&self.qemu_io)
            .args(["--image-opts", "-c", &format!("write -z 0 {bytes}"), &t.image_opts(lun)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| io(format!("cannot run {}", self.qemu_io.display()), e))?;
        let out = tokio::select! {
            out = child.wait_with_output() => out.map_err(|e| io("qemu-io was lost", e))?,
            () = job.cancelled() => return Err(cancelled(job)),
        };
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            return Err(Error::new(ErrorKind::Io, format!("cannot zero LUN {lun} of {}: {why}", t.iqn)));
        }
        job.set_done(bytes);
        Ok(())
    }

    /// Logs in to the target and lists its disks with their sizes.
    async fn scan(&self, pool: &Pool) -> Result<PoolScan> {
        let t = Target::of(pool)?;
        let ran = self.tools.list(&t.initiator, &t.portal_url()).await?;
        let listed = libiscsi::parse_list(&ran.stdout, ran.ok);
        let Some(ours) = listed.iter().find(|l| l.iqn == t.iqn && l.whole) else {
            return Err(not_listed(&t, &listed, &ran));
        };
        let mut volumes = Vec::new();
        let mut total = 0u64;
        // Only disks are volumes: a target's controller LUN holds no data.
        for l in ours.luns.iter().filter(|l| l.device_type == libiscsi::DISK) {
            let bytes = self.size(&t, l.lun).await?;
            total = total.saturating_add(bytes);
            volumes.push(t.volume(l.lun, bytes));
        }
        Ok(PoolScan::new(total, total, 0, volumes))
    }
}

/// The LUN a volume stands for.
fn lun_of(vol: &Volume) -> Result<u32> {
    vol.name.strip_prefix(VOLUME_PREFIX).and_then(|n| n.parse().ok()).ok_or_else(|| {
        Error::new(ErrorKind::InvalidArgument, format!("'{}' is not a LUN of an iscsi-direct pool", vol.name))
    })
}

fn fixed(what: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("iscsi-direct pools cannot {what} volumes: their LUNs are made on the iscsi target"),
    )
}

#[async_trait]
impl PoolBackend for IscsiDirect {
    fn pool_type(&self) -> PoolType {
        PoolType::IscsiDirect
    }

    async fn start(&self, _pool: &ObjRef, def: Arc<Pool>) -> Result<PoolActive> {
        let scan = self.scan(&def).await?;
        Ok(PoolActive::new(def, scan))
    }

    async fn stop(&self, _active: ActivePool<'_>) -> Result<()> {
        // Every listing logged out when done: no session is left open.
        Ok(())
    }

    async fn refresh(&self, a: ActivePool<'_>) -> Result<PoolScan> {
        self.scan(a.live).await
    }

    async fn create_volume(
        &self,
        _active: ActivePool<'_>,
        _vol: &Volume,
        _from: Option<&Volume>,
        _job: &JobCtl,
    ) -> Result<Volume> {
        Err(fixed("create"))
    }

    async fn delete_volume(&self, _active: ActivePool<'_>, _vol: &Volume) -> Result<()> {
        Err(fixed("delete"))
    }

    async fn wipe_volume(&self, a: ActivePool<'_>, vol: &Volume, job: &JobCtl) -> Result<()> {
        self.zero(&Target::of(a.live)?, lun_of(vol)?, job).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(xml: &str) -> Pool {
        Pool::from_xml(xml).unwrap()
    }

    const POOL: &str = "<pool type='iscsi-direct'><name>p</name><source><host name='127.0.0.1' port='3261'/>\
        <device path='iqn.2026-12.org.example:t1'/><initiator><iqn name='iqn.2026-12.org.example:c'/></initiator>\
        </source></pool>";

    #[test]
    fn a_lun_is_a_network_volume_at_its_url() {
        let t = Target::of(&pool(POOL)).unwrap();
        assert_eq!(t.portal_url(), "iscsi://127.0.0.1:3261/");
        let v = t.volume(2, 8 << 20);
        assert_eq!(v.name, "unit:0:0:2");
        assert_eq!(v.target.path.as_deref(), Some("iscsi://127.0.0.1:3261/iqn.2026-12.org.example:t1/2"));
        assert_eq!(v.key.as_deref(), Some("ip-127.0.0.1:3261-iscsi-iqn.2026-12.org.example:t1-lun-2"));
        assert_eq!(v.volume_type, Some(VolumeType::Network));
        assert_eq!(v.target.format, Some(VolumeFormat::Raw));
        assert_eq!(v.capacity, Some(ByteSize::bytes(8 << 20)));
        assert_eq!(lun_of(&v).unwrap(), 2);
        assert!(lun_of(&Volume::new("unit:0:0:x")).is_err());
        assert_eq!(
            t.image_opts(2),
            "driver=raw,file.driver=iscsi,file.transport=tcp,file.portal=127.0.0.1:3261,\
             file.target=iqn.2026-12.org.example:t1,file.lun=2,file.initiator-name=iqn.2026-12.org.example:c"
        );
    }

    #[test]
    fn a_portal_takes_the_default_port_and_brackets_ipv6() {
        let p = pool(&POOL.replace("<host name='127.0.0.1' port='3261'/>", "<host name='::1'/>"));
        assert_eq!(Target::of(&p).unwrap().lun_url(0), "iscsi://[::1]:3260/iqn.2026-12.org.example:t1/0");
    }

    #[test]
    fn chap_is_refused_for_want_of_a_secret_store() {
        let p =
            pool(&POOL.replace("<initiator>", "<auth type='chap' username='u'><secret usage='x'/></auth><initiator>"));
        let err = Target::of(&p).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert_eq!(err.message(), NO_SECRETS);
    }
}
