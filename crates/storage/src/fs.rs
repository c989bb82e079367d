//! The `fs` backend: a pool is a file system on a block device (or on an
//! image file, which mount(8) attaches to a loop device), made by
//! `pool-build` and mounted at the pool's directory while the pool is
//! active. Its volumes are the dir backend's: the files in that directory.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::process::Command;

use virtkit_engine::options::WipeAlgorithm;
use virtkit_engine::storage_driver::{
    ActivePool, BuildMode, MakeMode, PoolActive, PoolAuth, PoolBackend, PoolScan, Range, Resize,
};
use virtkit_engine::{Error, ErrorKind, JobCtl, ObjRef, Result, Sink, Source};
use virtkit_model::storage::{Pool, PoolFormat, PoolType, Volume};

use crate::dir::{DirBackend, dir_of, make_dir, missing_dir};
use crate::error::{Fault, io};
use crate::mounts::{self, AtTarget, Device};

pub(crate) struct FsBackend {
    files: DirBackend,
}

impl FsBackend {
    pub(crate) fn new(files: DirBackend) -> Self {
        FsBackend { files }
    }
}

/// The pool's one source device.
fn device_of(def: &Pool) -> Result<&Path> {
    match def.source.devices.as_slice() {
        [d] => Ok(Path::new(&d.path)),
        ds => Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("an fs pool takes one source device; storage pool '{}' has {}", def.name, ds.len()),
        )),
    }
}

/// The pool's directory as mountinfo names it.
fn target_of(def: &Pool) -> Result<PathBuf> {
    let dir = dir_of(def)?;
    if !dir.is_dir() {
        return Err(missing_dir(&dir));
    }
    dir.canonicalize().map_err(|e| io(format!("cannot resolve {}", dir.display()), e).into())
}

/// The program that makes a file system of `format`, and its flag to
/// write over what is there.
fn mkfs_of(format: PoolFormat) -> Option<(&'static str, &'static str)> {
    Some(match format {
        PoolFormat::Ext2 => ("mkfs.ext2", "-F"),
        PoolFormat::Ext3 => ("mkfs.ext3", "-F"),
        PoolFormat::Ext4 => ("mkfs.ext4", "-F"),
        PoolFormat::Xfs => ("mkfs.xfs", "-f"),
        _ => return None,
    })
}

/// Runs a host program (its messages in English, for reading them).
async fn run(prog: &str, args: &[&OsStr]) -> Result<Output> {
    Command::new(prog).args(args).env("LC_ALL", "C").stdin(Stdio::null()).output().await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::new(ErrorKind::Unsupported, format!("{prog} is not installed"))
        } else {
            io(format!("cannot run {prog}"), e).into()
        }
    })
}

fn failed(prog: &str, out: &Output) -> Error {
    // The reason, without the usage some programs print after it.
    let text = String::from_utf8_lossy(&out.stderr);
    let lines = text.lines().map(str::trim).take_while(|l| !l.starts_with("Usage:"));
    let stderr = lines.filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ");
    Fault::Command { prog: prog.to_owned(), stderr }.into()
}

/// Runs a host program that must succeed.
async fn run_ok(prog: &str, args: &[&OsStr]) -> Result<()> {
    let out = run(prog, args).await?;
    if out.status.success() { Ok(()) } else { Err(failed(prog, &out)) }
}

/// What `dev` holds already, as blkid finds it: ("file system", "ext4"),
/// ("partition table", "dos") …
async fn probe(dev: &Path) -> Result<Option<(&'static str, String)>> {
    let out = run("blkid", &["-p".as_ref(), "-o".as_ref(), "export".as_ref(), dev.as_os_str()]).await?;
    match out.status.code() {
        Some(0) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let value =
                |key: &str| text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('=')).map(str::to_owned);
            Ok(Some(match (value("TYPE"), value("PTTYPE")) {
                (Some(t), _) => ("file system", t),
                (None, Some(t)) => ("partition table", t),
                (None, None) => ("signature", value("USAGE").unwrap_or_else(|| "unknown".to_owned())),
            }))
        }
        // Nothing found.
        Some(2) => Ok(None),
        // More than one signature: something is there.
        Some(8) => Ok(Some(("signature", "more than one".to_owned()))),
        _ => Err(failed("blkid", &out)),
    }
}

/// Mounts the pool's device at `target`.
async fn mount(def: &Pool, dev: &Path, target: &Path) -> Result<()> {
    let format = def.format().unwrap_or(PoolFormat::Auto);
    let mut args: Vec<&OsStr> = Vec::new();
    if format != PoolFormat::Auto {
        args.extend([OsStr::new("-t"), OsStr::new(format.as_str())]);
    }
    let opts = def.mount_options.join(",");
    if !opts.is_empty() {
        args.extend([OsStr::new("-o"), OsStr::new(&opts)]);
    }
    args.extend([dev.as_os_str(), target.as_os_str()]);
    run_ok("mount", &args).await
}

async fn umount(target: &Path) -> Result<()> {
    run_ok("umount", &[target.as_os_str()]).await
}

/// Whether the pool's device is mounted at its directory.
fn mounted(def: &Pool) -> Result<(AtTarget, PathBuf, Device)> {
    let target = target_of(def)?;
    let dev = device_of(def)?;
    // A device gone since it was mounted is known by its name.
    let device = Device::of(dev).unwrap_or_else(|_| Device::Named(dev.to_string_lossy().into_owned()));
    let at = mounts::at_target(&mounts::read()?, &target, &device);
    Ok((at, target, device))
}

#[async_trait]
impl PoolBackend for FsBackend {
    fn pool_type(&self) -> PoolType {
        PoolType::Fs
    }

    /// Makes the directory, then the file system; a device that holds
    /// one (or a partition table) already is formatted only with
    /// `overwrite`.
    async fn build(&self, _pool: &ObjRef, def: &Pool, mode: BuildMode) -> Result<()> {
        let dev = device_of(def)?;
        let format = def.format().unwrap_or(PoolFormat::Auto);
        let (prog, force) = mkfs_of(format).ok_or_else(|| {
            Error::new(ErrorKind::Unsupported, format!("cannot make a file system of format {format}"))
        })?;
        Device::of(dev)?;
        if !mode.overwrite
            && let Some((what, name)) = probe(dev).await?
        {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("{} holds a {what} already ({name}): build with overwrite to replace it", dev.display()),
            ));
        }
        make_dir(def)?;
        // What was there is known (refused, or to be written over).
        run_ok(prog, &["-q".as_ref(), force.as_ref(), dev.as_os_str()]).await
    }

    /// Mounts the device at the pool's directory (unless it is mounted
    /// there already, as after a restart of the engine), then scans it.
    async fn start(&self, _pool: &ObjRef, def: Arc<Pool>, _auth: Option<&PoolAuth>) -> Result<PoolActive> {
        let dev = device_of(&def)?;
        let device = Device::of(dev)?;
        let target = target_of(&def)?;
        let already = match mounts::at_target(&mounts::read()?, &target, &device) {
            AtTarget::Ours(_) => true,
            AtTarget::Other(src) => {
                return Err(Error::new(
                    ErrorKind::InvalidState,
                    format!("{src} is mounted at {} already, not {}", target.display(), dev.display()),
                ));
            }
            AtTarget::Nothing => {
                mount(&def, dev, &target).await?;
                false
            }
        };
        let scan = match mounts::read().map(|m| mounts::at_target(&m, &target, &device)) {
            Ok(AtTarget::Ours(_)) => self.files.open(&target).await,
            Ok(_) => Err(Error::new(
                ErrorKind::Driver,
                format!("{} was mounted but is not at {}", dev.display(), target.display()),
            )),
            Err(e) => Err(e),
        };
        match scan {
            Ok(scan) => Ok(PoolActive::new(def, scan)),
            Err(e) if already => Err(e),
            // Nothing of this start is left.
            Err(e) => Err(match umount(&target).await {
                Ok(()) => e,
                Err(c) => e.with_cleanup(c),
            }),
        }
    }

    /// Unmounts the device (refused, with umount's reason, while busy).
    async fn stop(&self, a: ActivePool<'_>) -> Result<()> {
        let (at, target, device) = match mounted(a.live) {
            // No directory: nothing is mounted there.
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            r => r?,
        };
        match at {
            AtTarget::Ours(_) => umount(&target).await,
            AtTarget::Other(src) if mounts::count_at(&mounts::read()?, &target, &device) > 0 => Err(Error::new(
                ErrorKind::InvalidState,
                format!("{src} is mounted over the pool's file system at {}", target.display()),
            )),
            // Unmounted already.
            _ => Ok(()),
        }
    }

    /// Removes the pool's directory (its file system stays on the device).
    async fn delete(&self, pool: &ObjRef, def: &Pool) -> Result<()> {
        if let Ok(target) = target_of(def)
            && let Some(m) = mounts::read()?.into_iter().find(|m| m.point == target)
        {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!("{} is mounted at {}: unmount it first", m.source, target.display()),
            ));
        }
        self.files.delete(pool, def).await
    }

    async fn refresh(&self, a: ActivePool<'_>) -> Result<PoolScan> {
        let (at, target, _) = mounted(a.live)?;
        if !matches!(at, AtTarget::Ours(_)) {
            let dev = device_of(a.live)?;
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!("{} is not mounted at {} any more", dev.display(), target.display()),
            ));
        }
        self.files.refresh(a).await
    }

    async fn create_volume(
        &self,
        a: ActivePool<'_>,
        vol: &Volume,
        from: Option<&Volume>,
        mode: MakeMode,
        job: &JobCtl,
    ) -> Result<Volume> {
        self.files.create_volume(a, vol, from, mode, job).await
    }

    async fn delete_volume(&self, a: ActivePool<'_>, vol: &Volume) -> Result<()> {
        self.files.delete_volume(a, vol).await
    }

    async fn resize_volume(&self, a: ActivePool<'_>, vol: &Volume, to: Resize) -> Result<Volume> {
        self.files.resize_volume(a, vol, to).await
    }

    async fn wipe_volume(&self, a: ActivePool<'_>, vol: &Volume, how: WipeAlgorithm, job: &JobCtl) -> Result<()> {
        self.files.wipe_volume(a, vol, how, job).await
    }

    async fn upload(
        &self,
        a: ActivePool<'_>,
        vol: &Volume,
        range: Range,
        data: &mut Source,
        job: &JobCtl,
    ) -> Result<Volume> {
        self.files.upload(a, vol, range, data, job).await
    }

    async fn download(
        &self,
        a: ActivePool<'_>,
        vol: &Volume,
        range: Range,
        out: &mut Sink,
        job: &JobCtl,
    ) -> Result<u64> {
        self.files.download(a, vol, range, out, job).await
    }
}
