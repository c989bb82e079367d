//! `qemu-img`: what an image file is (`info`), and making, copying and
//! resizing images. Formats are always given (`-f`, `-O`, `-F`): nothing is
//! probed where a guest's data could choose.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use virtkit_engine::{JobCtl, Result};
use virtkit_model::storage::VolumeFormat;

use crate::error::{Fault, io};

/// What `qemu-img info` says of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageInfo {
    pub format: String,
    pub virtual_size: u64,
    pub actual_size: u64,
    pub backing: Option<String>,
    pub backing_format: Option<String>,
}

impl ImageInfo {
    /// An image without backing file, nothing allocated (yet).
    pub(crate) fn new(format: &str, virtual_size: u64) -> Self {
        ImageInfo { format: format.to_owned(), virtual_size, actual_size: 0, backing: None, backing_format: None }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct QemuImg {
    bin: PathBuf,
}

/// The formats `qemu-img create` makes, by their name there.
pub(crate) fn creatable(f: VolumeFormat) -> Option<&'static str> {
    Some(match f {
        VolumeFormat::Raw => "raw",
        VolumeFormat::Qcow2 => "qcow2",
        VolumeFormat::Qcow => "qcow",
        VolumeFormat::Qed => "qed",
        VolumeFormat::Vmdk => "vmdk",
        VolumeFormat::Vdi => "vdi",
        VolumeFormat::Vpc | VolumeFormat::Vhd => "vpc",
        _ => return None,
    })
}

/// The format a name from `qemu-img info` stands for.
pub(crate) fn format_of(name: &str) -> VolumeFormat {
    match name {
        "qcow2" => VolumeFormat::Qcow2,
        "qcow" => VolumeFormat::Qcow,
        "qed" => VolumeFormat::Qed,
        "vmdk" => VolumeFormat::Vmdk,
        "vdi" => VolumeFormat::Vdi,
        "vpc" => VolumeFormat::Vpc,
        "bochs" => VolumeFormat::Bochs,
        "cloop" => VolumeFormat::Cloop,
        "dmg" => VolumeFormat::Dmg,
        "luks" => VolumeFormat::Luks,
        "parallels" => VolumeFormat::Ploop,
        _ => VolumeFormat::Raw,
    }
}

/// The name `qemu-img` reads a format by (`-f`, `-F`).
pub(crate) fn name_of(f: VolumeFormat) -> &'static str {
    match f {
        VolumeFormat::Ploop => "parallels",
        VolumeFormat::Iso => "raw",
        other => creatable(other).unwrap_or_else(|| other.as_str()),
    }
}

impl QemuImg {
    pub(crate) fn new(bin: PathBuf) -> Self {
        QemuImg { bin }
    }

    /// What the image at `path` is; `format` when known, else probed (a
    /// file found in a pool).
    pub(crate) async fn info(&self, path: &Path, format: Option<&str>) -> Result<ImageInfo> {
        let mut args: Vec<OsString> = vec!["info".into(), "-U".into(), "--output=json".into()];
        if let Some(f) = format {
            args.extend(["-f".into(), f.into()]);
        }
        args.push(path.into());
        let out = self.run("info", args, None).await?;
        let v: Value = serde_json::from_str(&out).map_err(|source| Fault::Answer { op: "info", source })?;
        let num = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let format = text("format").unwrap_or_else(|| "raw".to_owned());
        // A raw image is as long as its file (qemu-img rounds it to sectors).
        let virtual_size = match std::fs::metadata(path) {
            Ok(m) if format == "raw" && m.is_file() => m.len(),
            _ => num("virtual-size"),
        };
        Ok(ImageInfo {
            format,
            virtual_size,
            actual_size: num("actual-size"),
            backing: text("full-backing-filename").or_else(|| text("backing-filename")),
            backing_format: text("backing-filename-format"),
        })
    }

    pub(crate) async fn create(&self, args: Vec<OsString>) -> Result<()> {
        let mut all: Vec<OsString> = vec!["create".into(), "-q".into()];
        all.extend(args);
        self.run("create", all, None).await.map(drop)
    }

    /// Copies `src` into a new image at `dst` (its `-O` and options in
    /// `args`), reporting progress on `job` against `total` bytes.
    pub(crate) async fn convert(&self, args: Vec<OsString>, job: &JobCtl, total: u64) -> Result<()> {
        let mut all: Vec<OsString> = vec!["convert".into(), "-p".into()];
        all.extend(args);
        job.set_total(total);
        self.run("convert", all, Some((job, total))).await.map(drop)
    }

    pub(crate) async fn resize(&self, path: &Path, format: &str, size: u64, shrink: bool) -> Result<()> {
        let mut args: Vec<OsString> = vec!["resize".into(), "-q".into(), "-f".into(), format.into()];
        if shrink {
            args.push("--shrink".into());
        }
        args.extend([path.into(), size.to_string().into()]);
        self.run("resize", args, None).await.map(drop)
    }

    /// Runs `qemu-img` to its end (killed when the job is cancelled) and
    /// returns what it wrote on stdout.
    async fn run(&self, op: &'static str, args: Vec<OsString>, job: Option<(&JobCtl, u64)>) -> Result<String> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(&args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        // A qemu-img dies with the engine, even one killed by SIGKILL, so that
        // none goes on writing into a pool the next engine manages.
        virtkit_host::process::die_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| io(format!("cannot run {}", self.bin.display()), e))?;
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let read_out = async {
            let mut all = Vec::new();
            let mut buf = [0u8; 4096];
            while let Some(s) = stdout.as_mut() {
                let n = s.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                all.extend_from_slice(&buf[..n]);
                if let Some((job, total)) = job
                    && let Some(pct) = last_percent(&all)
                {
                    job.set_done((total as f64 * pct / 100.0) as u64);
                }
            }
            all
        };
        let read_err = async {
            let mut all = Vec::new();
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_end(&mut all).await;
            }
            all
        };
        let work = async {
            let (out, err) = tokio::join!(read_out, read_err);
            let status = child.wait().await;
            (out, err, status)
        };
        let (out, err, status) = match job {
            Some((job, _)) => tokio::select! {
                r = work => r,
                () = job.cancelled() => return Err(cancelled(job)),
            },
            None => work.await,
        };
        let status = status.map_err(|e| io(format!("qemu-img {op} was lost"), e))?;
        if !status.success() {
            let stderr = String::from_utf8_lossy(&err).trim().to_owned();
            return Err(Fault::QemuImg { op, stderr }.into());
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// The error of a job that was cancelled.
pub(crate) fn cancelled(job: &JobCtl) -> virtkit_engine::Error {
    job.check()
        .err()
        .unwrap_or_else(|| virtkit_engine::Error::new(virtkit_engine::ErrorKind::Cancelled, "the job was cancelled"))
}

/// The last "(12.34/100%)" in `qemu-img -p`'s output.
fn last_percent(out: &[u8]) -> Option<f64> {
    let text = String::from_utf8_lossy(out);
    let (before, _) = text.rsplit_once("/100%")?;
    let (_, num) = before.rsplit_once('(')?;
    num.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_read_from_the_last_report() {
        assert_eq!(last_percent(b"    (0.00/100%)\r    (42.50/100%)\r"), Some(42.5));
        assert_eq!(last_percent(b""), None);
    }

    #[test]
    fn formats_round_trip_through_their_qemu_img_names() {
        for f in [VolumeFormat::Raw, VolumeFormat::Qcow2, VolumeFormat::Vmdk, VolumeFormat::Qed] {
            assert_eq!(format_of(name_of(f)), f);
        }
        assert_eq!(creatable(VolumeFormat::Iso), None);
    }
}
