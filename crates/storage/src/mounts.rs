//! The mounts this process sees (`/proc/self/mountinfo`), and whether one
//! of them is of a pool's device: the block device itself, or, for an
//! image file, the loop device it is attached to.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use virtkit_engine::{Error, ErrorKind, Result};

use crate::error::io;

/// One line of `mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    /// The file system's device number (`major:minor`).
    pub(crate) dev: (u64, u64),
    pub(crate) point: PathBuf,
    pub(crate) fstype: String,
    pub(crate) source: String,
}

/// A pool's device as the kernel knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Device {
    /// A block device, by its number.
    Block(u64, u64),
    /// An image file, by its canonical path.
    File(PathBuf),
    /// A device that cannot be looked at (gone), by the name it was
    /// mounted from.
    Named(String),
}

/// What is mounted at a pool's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AtTarget {
    Nothing,
    /// The pool's device (its file system type).
    Ours(String),
    /// Something else (its source).
    Other(String),
}

/// `\040` and the like, as mountinfo writes space, tab, newline and `\`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b.get(i + 1..i + 4).filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(d) if b[i] == b'\\' => {
                out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8).wrapping_add(c - b'0')));
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_line(line: &str) -> Option<Mount> {
    let mut parts = line.split(" - ");
    let (head, tail) = (parts.next()?, parts.next()?);
    let head: Vec<&str> = head.split(' ').collect();
    let (maj, min) = head.get(2)?.split_once(':')?;
    let mut tail = tail.split(' ');
    Some(Mount {
        dev: (maj.parse().ok()?, min.parse().ok()?),
        point: PathBuf::from(unescape(head.get(4)?)),
        fstype: unescape(tail.next()?),
        source: unescape(tail.next()?),
    })
}

/// The mounts of a `mountinfo` text, in its order (a later one over an
/// earlier one at the same point).
pub(crate) fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

pub(crate) fn read() -> Result<Vec<Mount>> {
    let path = "/proc/self/mountinfo";
    let text = std::fs::read_to_string(path).map_err(|e| io(format!("cannot read {path}"), e))?;
    Ok(parse(&text))
}

impl Device {
    /// The device at `path`: a block device or an image file.
    pub(crate) fn of(path: &Path) -> Result<Device> {
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::new(ErrorKind::NotFound, format!("device {} does not exist", path.display()))
            }
            _ => io(format!("cannot read {}", path.display()), e).into(),
        })?;
        if meta.file_type().is_block_device() {
            let rdev = meta.rdev();
            return Ok(Device::Block(nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev)));
        }
        if meta.is_file() {
            let p = path.canonicalize().map_err(|e| io(format!("cannot resolve {}", path.display()), e))?;
            return Ok(Device::File(p));
        }
        Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("{} is neither a block device nor an image file", path.display()),
        ))
    }

    /// Whether `m` is a file system on this device.
    pub(crate) fn holds(&self, m: &Mount) -> bool {
        match self {
            Device::Block(maj, min) => m.dev == (*maj, *min),
            Device::File(p) => backing_file(m.dev).is_some_and(|b| b == *p),
            Device::Named(n) => m.source == *n,
        }
    }
}

/// The file a loop device is attached to.
fn backing_file((maj, min): (u64, u64)) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/sys/dev/block/{maj}:{min}/loop/backing_file")).ok()?;
    Some(PathBuf::from(text.trim_end_matches('\n')))
}

/// What is mounted at `target` (the topmost mount there), and whether it is
/// `device`'s.
pub(crate) fn at_target(mounts: &[Mount], target: &Path, device: &Device) -> AtTarget {
    match mounts.iter().rev().find(|m| m.point == target) {
        None => AtTarget::Nothing,
        Some(m) if device.holds(m) => AtTarget::Ours(m.fstype.clone()),
        Some(m) => AtTarget::Other(m.source.clone()),
    }
}

/// How many mounts of `device` there are at `target`.
pub(crate) fn count_at(mounts: &[Mount], target: &Path, device: &Device) -> usize {
    mounts.iter().filter(|m| m.point == target && device.holds(m)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 7:3 / /srv/my\\040pool rw,relatime - ext4 /dev/loop3 rw
41 40 0:45 / /srv/my\\040pool rw - tmpfs tmpfs rw,size=8192k
";

    #[test]
    fn mountinfo_lines_are_read_with_their_escapes() {
        let m = parse(INFO);
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].dev, (7, 3));
        assert_eq!(m[1].point, Path::new("/srv/my pool"));
        assert_eq!((m[1].fstype.as_str(), m[1].source.as_str()), ("ext4", "/dev/loop3"));
        assert_eq!(unescape("a\\134b\\011c"), "a\\b\tc");
        assert_eq!(unescape("\\09x"), "\\09x");
    }

    #[test]
    fn the_topmost_mount_at_the_target_decides() {
        let m = parse(INFO);
        let loop3 = Device::Block(7, 3);
        let p = Path::new("/srv/my pool");
        assert_eq!(at_target(&m, p, &loop3), AtTarget::Other("tmpfs".into()));
        assert_eq!(at_target(&m[..2], p, &loop3), AtTarget::Ours("ext4".into()));
        assert_eq!(at_target(&m[..1], p, &loop3), AtTarget::Nothing);
        assert_eq!(count_at(&m, p, &loop3), 1);
        assert_eq!(count_at(&m, p, &Device::Block(8, 1)), 0);
    }
}
