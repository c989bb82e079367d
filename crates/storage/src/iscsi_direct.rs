//! The `iscsi-direct` backend: the LUNs of one iSCSI target, reached by
//! QEMU's own initiator, never by the host's. A LUN is the volume
//! `unit:0:0:LUN` (libvirt's names), its path the URL
//! `iscsi://HOST:PORT/IQN/LUN`. Start and refresh log in once and ask the
//! target for its LUNs and their sizes ([`initiator`]). The LUNs are made
//! on the target, so a pool cannot create or delete volumes; it can zero
//! one (`qemu-io`) and stream its bytes in and out (`qemu-nbd`, spoken to
//! over NBD), both with QEMU's initiator.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use virtkit_engine::options::WipeAlgorithm;
use virtkit_engine::storage_driver::{ActivePool, MakeMode, PoolActive, PoolAuth, PoolBackend, PoolScan, Range};
use virtkit_engine::{Error, ErrorKind, JobCtl, ObjRef, Result, Sink, Source};
use virtkit_model::ByteSize;
use virtkit_model::storage::{AuthType, Pool, PoolType, Volume, VolumeFormat, VolumeType};

use crate::chap::Credentials;
use crate::error::io;
use crate::initiator::{self, IscsiError, Session};
use crate::nbd::{Nbd, NbdError};
use crate::qemu_img::cancelled;

/// The port of an iSCSI portal unless the pool gives one.
const DEFAULT_PORT: u16 = 3260;
/// Volume names are the LUN after this (libvirt's).
const VOLUME_PREFIX: &str = "unit:0:0:";

/// The id of the CHAP secret in the QEMU tools' `--object secret`.
const CHAP_SECRET_ID: &str = "vk-chap";

/// The most bytes moved in one NBD request.
const CHUNK: u64 = 1 << 20;
/// How long qemu-nbd may take to log in and serve.
const SERVE_TIMEOUT: Duration = Duration::from_secs(20);

pub(crate) struct IscsiDirect {
    qemu_io: PathBuf,
    qemu_nbd: PathBuf,
}

impl Default for IscsiDirect {
    fn default() -> Self {
        IscsiDirect { qemu_io: "qemu-io".into(), qemu_nbd: "qemu-nbd".into() }
    }
}

/// A directory only this user can enter, removed with what is in it when
/// dropped: where a QEMU tool finds its socket and the CHAP secret.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new() -> Result<PrivateDir> {
        let dir = std::env::temp_dir().join(format!("virtkit-iscsi-{}", uuid::Uuid::new_v4()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| io(format!("cannot make {}", dir.display()), e))?;
        Ok(PrivateDir(dir))
    }

    /// The QEMU tool arguments that give it the target's CHAP secret: a
    /// FIFO here, which [`PrivateDir::feed`] writes once the tool opens it,
    /// so the value is never in a file (nor on the command line), even
    /// after a kill.
    fn secret_args(&self, t: &Target) -> Result<Vec<String>> {
        if t.chap.is_none() {
            return Ok(Vec::new());
        }
        let fifo = self.0.join("chap");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .map_err(|e| io(format!("cannot make {}", fifo.display()), e.into()))?;
        let path = fifo.to_string_lossy().replace(',', ",,");
        Ok(vec!["--object".to_owned(), format!("secret,id={CHAP_SECRET_ID},format=raw,file={path}")])
    }

    /// Writes the CHAP secret into the FIFO when `child` opens it (QEMU's
    /// tools read their objects first), then removes the FIFO.
    async fn feed(&self, t: &Target, child: &mut Child) -> Result<()> {
        let Some(c) = &t.chap else { return Ok(()) };
        let fifo = self.0.join("chap");
        let since = std::time::Instant::now();
        let f = loop {
            // Without a reader, a FIFO refuses a writer that will not wait.
            match std::fs::OpenOptions::new().write(true).custom_flags(nix::libc::O_NONBLOCK).open(&fifo) {
                Ok(f) => break f,
                Err(e) if e.raw_os_error() == Some(nix::libc::ENXIO) => {}
                Err(e) => return Err(io(format!("cannot open {}", fifo.display()), e).into()),
            }
            let gone = child.try_wait().map_err(|e| io("a QEMU tool was lost", e))?.is_some();
            if gone || since.elapsed() > SERVE_TIMEOUT {
                let _ = std::fs::remove_file(&fifo);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let secret = c.secret.clone();
        let wrote = tokio::task::spawn_blocking(move || {
            let fd = std::os::fd::AsFd::as_fd(&f);
            nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()))
                .map_err(std::io::Error::from)?;
            std::io::Write::write_all(&mut &f, &secret)
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Internal, format!("the secret's writer failed: {e}")))?;
        let _ = std::fs::remove_file(&fifo);
        wrote.map_err(|e| io(format!("cannot write {}", fifo.display()), e).into())
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// qemu-nbd serving one LUN on a socket in a directory of its own, for as
/// long as this lives.
struct Served {
    child: Child,
    _dir: PrivateDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Where a pool's target is and who logs in to it.
#[derive(Debug, Clone)]
struct Target {
    /// `HOST:PORT`, an IPv6 host in brackets.
    portal: String,
    iqn: String,
    initiator: String,
    chap: Option<Credentials>,
}

impl Target {
    /// The target of `pool`, logged in to with `auth` where it asks for
    /// CHAP (the engine gives the value of the secret it names).
    fn of(pool: &Pool, auth: Option<&PoolAuth>) -> Result<Target> {
        let src = &pool.source;
        let bad = |what: &str| Error::new(ErrorKind::InvalidArgument, format!("storage pool '{}' {what}", pool.name));
        let [host] = src.hosts.as_slice() else { return Err(bad("needs exactly one source host")) };
        let [device] = src.devices.as_slice() else {
            return Err(bad("needs exactly one source device (the target's IQN)"));
        };
        let initiator = src.initiator_iqn.clone().ok_or_else(|| bad("needs an initiator IQN"))?;
        let chap = match (&src.auth, auth) {
            (None, _) => None,
            (Some(a), _) if a.auth_type != AuthType::Chap => {
                return Err(bad(&format!("cannot use {} auth: iscsi-direct takes chap only", a.auth_type)));
            }
            (Some(_), Some(given)) => Some(Credentials { user: given.username.clone(), secret: given.secret.clone() }),
            (Some(_), None) => {
                return Err(Error::new(
                    ErrorKind::Internal,
                    format!("storage pool '{}' was given no login", pool.name),
                ));
            }
        };
        let port = host.port.unwrap_or(DEFAULT_PORT);
        let portal =
            if host.name.contains(':') { format!("[{}]:{port}", host.name) } else { format!("{}:{port}", host.name) };
        Ok(Target { portal, iqn: device.path.clone(), initiator, chap })
    }

    fn lun_url(&self, lun: u32) -> String {
        format!("iscsi://{}/{}/{lun}", self.portal, self.iqn)
    }

    /// QEMU's options for a LUN, raw, as its iscsi driver opens it (with
    /// CHAP: the user, and the secret object `secret_args` gives).
    fn image_opts(&self, lun: u32) -> String {
        let esc = |s: &str| s.replace(',', ",,");
        let mut o = format!(
            "driver=raw,file.driver=iscsi,file.transport=tcp,file.portal={},file.target={},file.lun={lun},\
             file.initiator-name={}",
            esc(&self.portal),
            esc(&self.iqn),
            esc(&self.initiator)
        );
        if let Some(c) = &self.chap {
            o.push_str(&format!(",file.user={},file.password-secret={CHAP_SECRET_ID}", esc(&c.user)));
        }
        o
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

/// A failure of the session to `t`, as the engine hears of it.
fn session_error(t: &Target, e: IscsiError) -> Error {
    match e {
        IscsiError::Connect { source, .. } => {
            Error::new(ErrorKind::Io, format!("cannot reach the iscsi portal {}: {source}", t.portal))
        }
        IscsiError::Timeout { .. } => {
            Error::new(ErrorKind::Timeout, format!("cannot reach the iscsi portal {}: no answer in time", t.portal))
        }
        IscsiError::Refused { class: 2, detail: 3 } => Error::new(
            ErrorKind::NotFound,
            format!("the iscsi portal {} has no target {} (for {})", t.portal, t.iqn, t.initiator),
        ),
        IscsiError::Refused { class: 2, detail: 1 } if t.chap.is_some() => Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "cannot log in to the iscsi portal {} as {}: {} refused the CHAP login of user '{}' \
                 (wrong user name or secret)",
                t.portal,
                t.initiator,
                t.iqn,
                t.chap.as_ref().map_or("", |c| c.user.as_str())
            ),
        ),
        IscsiError::Refused { class, detail } => {
            let kind = if class == 2 { ErrorKind::PermissionDenied } else { ErrorKind::Io };
            let why = initiator::login_refusal(class, detail, &t.iqn);
            Error::new(kind, format!("cannot log in to the iscsi portal {} as {}: {why}", t.portal, t.initiator))
        }
        e => Error::new(ErrorKind::Io, format!("iscsi target {} at {}: {e}", t.iqn, t.portal)),
    }
}

impl IscsiDirect {
    /// A session to the pool's target, for `work`; logged out after.
    async fn with_session<T>(
        &self,
        t: &Target,
        work: impl AsyncFnOnce(&mut Session) -> std::result::Result<T, IscsiError>,
    ) -> Result<T> {
        let mut s =
            Session::login(&t.portal, &t.iqn, &t.initiator, t.chap.as_ref()).await.map_err(|e| session_error(t, e))?;
        let r = work(&mut s).await;
        s.logout().await;
        r.map_err(|e| session_error(t, e))
    }

    /// The size in bytes of a LUN, as the target says now.
    async fn size(&self, t: &Target, lun: u32) -> Result<u64> {
        self.with_session(t, async |s| s.capacity(lun).await).await
    }

    /// Writes zeros over the whole of a LUN, with QEMU's initiator.
    async fn zero(&self, t: &Target, lun: u32, job: &JobCtl) -> Result<()> {
        let bytes = self.size(t, lun).await?;
        job.set_total(bytes);
        let dir = PrivateDir::new()?;
        let mut cmd = Command::new(&self.qemu_io);
        virtkit_host::process::die_with_parent(&mut cmd);
        let mut child = cmd
            .args(dir.secret_args(t)?)
            .args(["--image-opts", "-c", &format!("write -z 0 {bytes}"), &t.image_opts(lun)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| io(format!("cannot run {}", self.qemu_io.display()), e))?;
        dir.feed(t, &mut child).await?;
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

    /// Serves LUN `lun` with qemu-nbd (read-only unless `writable`) and
    /// connects to it.
    async fn open(&self, t: &Target, lun: u32, writable: bool) -> Result<(Served, Nbd)> {
        let dir = PrivateDir::new()?;
        let sock = dir.0.join("sock");
        let mut cmd = Command::new(&self.qemu_nbd);
        virtkit_host::process::die_with_parent(&mut cmd);
        cmd.args(dir.secret_args(t)?).args(["--image-opts", "-k"]).arg(&sock);
        if !writable {
            cmd.arg("-r");
        }
        let child = cmd
            .arg(t.image_opts(lun))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let child = child.map_err(|e| io(format!("cannot run {}", self.qemu_nbd.display()), e))?;
        let mut served = Served { child, _dir: dir };
        served._dir.feed(t, &mut served.child).await?;
        let since = std::time::Instant::now();
        loop {
            if sock.exists()
                && let Ok(n) = Nbd::connect(&sock).await
            {
                return Ok((served, n));
            }
            let ended = served.child.try_wait().map_err(|e| io("qemu-nbd was lost", e))?;
            if ended.is_some() || since.elapsed() > SERVE_TIMEOUT {
                let mut why = String::new();
                if let Some(mut err) = served.child.stderr.take() {
                    let _ = tokio::time::timeout(Duration::from_secs(1), err.read_to_string(&mut why)).await;
                }
                let why = why.trim().rsplit(": ").next().unwrap_or("no answer").to_owned();
                return Err(Error::new(ErrorKind::Io, format!("cannot open LUN {lun} of {}: {why}", t.iqn)));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Logs in to the target and lists its disks with their sizes.
    async fn scan(&self, pool: &Pool, auth: Option<&PoolAuth>) -> Result<PoolScan> {
        let t = Target::of(pool, auth)?;
        let luns = self
            .with_session(&t, async |s| {
                let mut sized = Vec::new();
                // Only disks are volumes: a target's controller LUN holds no data.
                for l in s.luns().await?.into_iter().filter(|l| l.device_type == initiator::DIRECT_ACCESS) {
                    sized.push((l.lun, s.capacity(l.lun).await?));
                }
                Ok(sized)
            })
            .await?;
        let total = luns.iter().fold(0u64, |sum, (_, bytes)| sum.saturating_add(*bytes));
        let volumes = luns.into_iter().map(|(lun, bytes)| t.volume(lun, bytes)).collect();
        Ok(PoolScan::new(total, total, 0, volumes))
    }
}

fn nbd_fault(t: &Target, lun: u32, e: NbdError) -> Error {
    Error::new(ErrorKind::Io, format!("LUN {lun} of {}: {e}", t.iqn))
}

/// Sends `[from, end)` of an export to `out`, in chunks.
async fn send(n: &mut Nbd, from: u64, end: u64, out: &mut Sink, job: &JobCtl) -> Result<u64, Fail> {
    let mut at = from;
    while at < end {
        job.check().map_err(Fail::Engine)?;
        let len = (end - at).min(CHUNK) as u32;
        let buf = n.read(at, len).await?;
        out.send(buf).await.map_err(Fail::Engine)?;
        job.add_done(u64::from(len));
        at += u64::from(len);
    }
    Ok(at - from)
}

/// Writes the pieces of `data` into an export from `from`, up to `limit`
/// (more is `too_long`). A LUN is written in place: an error piece stops
/// the upload with what came before it written.
async fn receive(
    n: &mut Nbd,
    (from, limit): (u64, u64),
    data: &mut Source,
    job: &JobCtl,
    too_long: impl Fn() -> Error,
) -> Result<u64, Fail> {
    let mut at = from;
    loop {
        let chunk = tokio::select! {
            c = data.next() => c,
            () = job.cancelled() => return Err(Fail::Engine(cancelled(job))),
        };
        let Some(chunk) = chunk else { break };
        let chunk = chunk.map_err(Fail::Engine)?;
        let end = at + chunk.len() as u64;
        if end > limit {
            return Err(Fail::Engine(too_long()));
        }
        for (i, piece) in chunk.chunks(CHUNK as usize).enumerate() {
            n.write(at + i as u64 * CHUNK, piece).await?;
        }
        job.add_done(chunk.len() as u64);
        at = end;
    }
    n.flush().await?;
    Ok(at)
}

/// Why a transfer stopped.
enum Fail {
    Engine(Error),
    Nbd(NbdError),
}

impl From<NbdError> for Fail {
    fn from(e: NbdError) -> Self {
        Fail::Nbd(e)
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

    async fn start(&self, _pool: &ObjRef, def: Arc<Pool>, auth: Option<&PoolAuth>) -> Result<PoolActive> {
        let scan = self.scan(&def, auth).await?;
        Ok(PoolActive::new(def, scan))
    }

    async fn stop(&self, _active: ActivePool<'_>) -> Result<()> {
        // Every listing logged out when done: no session is left open.
        Ok(())
    }

    async fn refresh(&self, a: ActivePool<'_>) -> Result<PoolScan> {
        self.scan(a.live, a.auth).await
    }

    async fn create_volume(
        &self,
        _active: ActivePool<'_>,
        _vol: &Volume,
        _from: Option<&Volume>,
        _mode: MakeMode,
        _job: &JobCtl,
    ) -> Result<Volume> {
        Err(fixed("create"))
    }

    async fn delete_volume(&self, _active: ActivePool<'_>, _vol: &Volume) -> Result<()> {
        Err(fixed("delete"))
    }

    async fn wipe_volume(&self, a: ActivePool<'_>, vol: &Volume, how: WipeAlgorithm, job: &JobCtl) -> Result<()> {
        if how != WipeAlgorithm::Zero {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("iscsi-direct volumes are wiped with zeros only, not {how}"),
            ));
        }
        self.zero(&Target::of(a.live, a.auth)?, lun_of(vol)?, job).await
    }

    async fn upload(
        &self,
        a: ActivePool<'_>,
        vol: &Volume,
        range: Range,
        data: &mut Source,
        job: &JobCtl,
    ) -> Result<Volume> {
        let (t, lun) = (Target::of(a.live, a.auth)?, lun_of(vol)?);
        let (_served, mut n) = self.open(&t, lun, true).await?;
        let size = n.size();
        let limit = if range.length > 0 { range.offset.saturating_add(range.length).min(size) } else { size };
        job.set_total(limit.saturating_sub(range.offset));
        let asked = range.length > 0 && range.offset.saturating_add(range.length) <= size;
        let too_long = || {
            if asked {
                let why = format!("the upload is longer than the {} bytes asked for", range.length);
                Error::new(ErrorKind::InvalidArgument, why)
            } else {
                let why = format!("the upload does not fit in LUN {lun} of {} ({size} bytes)", t.iqn);
                Error::new(ErrorKind::NoSpace, why)
            }
        };
        match receive(&mut n, (range.offset, limit), data, job, too_long).await {
            Ok(_) => {}
            Err(Fail::Engine(e)) => return Err(e),
            Err(Fail::Nbd(e)) => return Err(nbd_fault(&t, lun, e)),
        }
        let _ = n.disconnect().await;
        Ok(t.volume(lun, size))
    }

    async fn download(
        &self,
        a: ActivePool<'_>,
        vol: &Volume,
        range: Range,
        out: &mut Sink,
        job: &JobCtl,
    ) -> Result<u64> {
        let (t, lun) = (Target::of(a.live, a.auth)?, lun_of(vol)?);
        let (_served, mut n) = self.open(&t, lun, false).await?;
        let size = n.size();
        let end = if range.length > 0 { range.offset.saturating_add(range.length).min(size) } else { size };
        job.set_total(end.saturating_sub(range.offset));
        let sent = match send(&mut n, range.offset, end, out, job).await {
            Ok(sent) => sent,
            Err(Fail::Engine(e)) => return Err(e),
            Err(Fail::Nbd(e)) => return Err(nbd_fault(&t, lun, e)),
        };
        let _ = n.disconnect().await;
        Ok(sent)
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
        let t = Target::of(&pool(POOL), None).unwrap();
        assert_eq!(t.portal, "127.0.0.1:3261");
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
        assert_eq!(Target::of(&p, None).unwrap().lun_url(0), "iscsi://[::1]:3260/iqn.2026-12.org.example:t1/0");
    }

    #[tokio::test]
    async fn chap_logs_in_as_the_engine_says_and_qemu_gets_the_secret_through_a_fifo() {
        let p =
            pool(&POOL.replace("<initiator>", "<auth type='chap' username='u'><secret usage='x'/></auth><initiator>"));
        assert_eq!(Target::of(&p, None).unwrap_err().kind(), ErrorKind::Internal);
        let auth = PoolAuth::new(AuthType::Chap, "u,v", b"s3cret".to_vec().into());
        let t = Target::of(&p, Some(&auth)).unwrap();
        let c = t.chap.as_ref().unwrap();
        assert_eq!(c.secret.as_ptr(), auth.secret.as_ptr(), "the login shares the engine's buffer, no copy");
        assert!(t.image_opts(1).ends_with(",file.user=u,,v,file.password-secret=vk-chap"), "{}", t.image_opts(1));
        let dir = PrivateDir::new().unwrap();
        let args = dir.secret_args(&t).unwrap();
        let file = dir.0.join("chap");
        assert_eq!(args, ["--object".to_owned(), format!("secret,id=vk-chap,format=raw,file={}", file.display())]);
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let meta = std::fs::metadata(&file).unwrap();
        assert!(meta.file_type().is_fifo() && meta.permissions().mode() & 0o777 == 0o600, "{meta:?}");
        // A reader (as QEMU's tools are) gets the value; the FIFO goes.
        let mut reader = Command::new("cat").arg(&file).stdout(Stdio::piped()).kill_on_drop(true).spawn().unwrap();
        dir.feed(&t, &mut reader).await.unwrap();
        assert_eq!(reader.wait_with_output().await.unwrap().stdout, b"s3cret");
        assert!(!file.exists(), "the FIFO stays");
        let kept = dir.0.clone();
        drop(dir);
        assert!(!kept.exists(), "the secret's directory is removed");
        let shown = format!("{t:?}");
        // Neither as text nor as the numbers a Vec<u8> prints (b's' is 115, b'3' 51).
        assert!(!shown.contains("s3cret") && !shown.contains("115, 51"), "{shown}");
    }
}
