//! The host's memory facts a command line depends on: hugetlbfs mounts and
//! their page sizes, the default huge page size, the NUMA nodes; and, at
//! start, whether enough huge pages are free for the guest.

use std::path::{Path, PathBuf};

use virtkit_engine::{Error, ErrorKind, Result};
use virtkit_model::domain::Domain;

use crate::argv::HostFacts;

/// This host's facts.
pub(crate) fn facts() -> HostFacts {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let default = default_hugepage(&meminfo);
    HostFacts {
        hugepages: hugetlbfs_mounts(&std::fs::read_to_string("/proc/mounts").unwrap_or_default(), default),
        default_hugepage: default,
        numa_nodes: numa_nodes(Path::new("/sys/devices/system/node")),
    }
}

/// `Hugepagesize:` of /proc/meminfo, in bytes.
fn default_hugepage(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("Hugepagesize:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// hugetlbfs mounts of /proc/mounts with their page size (`pagesize=` or
/// the default).
fn hugetlbfs_mounts(mounts: &str, default: Option<u64>) -> Vec<(u64, PathBuf)> {
    let mut out = Vec::new();
    for l in mounts.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 4 || f[2] != "hugetlbfs" {
            continue;
        }
        let size = f[3].split(',').find_map(|o| o.strip_prefix("pagesize=")).and_then(parse_size).or(default);
        if let Some(size) = size
            && !out.iter().any(|(s, _)| *s == size)
        {
            out.push((size, PathBuf::from(f[1].replace("\\040", " "))));
        }
    }
    out
}

/// `2M`, `1G`, `2048k`: bytes.
fn parse_size(s: &str) -> Option<u64> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().ok()?;
    let scale = match unit.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale)
}

fn numa_nodes(dir: &Path) -> Vec<u32> {
    let mut v: Vec<u32> = std::fs::read_dir(dir)
        .map(|d| d.flatten().filter_map(|e| e.file_name().to_str()?.strip_prefix("node")?.parse().ok()).collect())
        .unwrap_or_default();
    v.sort_unstable();
    v
}

/// Huge pages the definition needs, by page size in bytes: (size, pages).
pub(crate) fn hugepages_needed(def: &Domain, facts: &HostFacts) -> Vec<(u64, u64)> {
    let Some(pages) = def.memory_backing.as_ref().and_then(|m| m.hugepages.as_ref()) else { return Vec::new() };
    let cells: Vec<(u32, u64)> = match def.cpu.as_ref().and_then(|c| c.numa.as_ref()) {
        Some(n) => n.cell_ids().zip(n.cells.iter().map(|c| c.memory.as_bytes())).collect(),
        None => vec![(0, def.memory.as_bytes())],
    };
    let mut need: Vec<(u64, u64)> = Vec::new();
    for (id, bytes) in cells {
        let page = pages
            .iter()
            .find(|p| p.nodeset.as_ref().is_some_and(|s| s.contains(id)))
            .or_else(|| pages.iter().find(|p| p.nodeset.is_none()))
            .map(|p| p.size.as_bytes())
            .or(if pages.is_empty() { facts.default_hugepage } else { None });
        let Some(page) = page.filter(|p| *p > 4096) else { continue };
        let n = bytes.div_ceil(page);
        match need.iter_mut().find(|(s, _)| *s == page) {
            Some(e) => e.1 += n,
            None => need.push((page, n)),
        }
    }
    need
}

/// Refuses a guest whose huge pages this host does not have free.
pub(crate) fn check(def: &Domain, facts: &HostFacts) -> Result<()> {
    let sizes = Path::new("/sys/kernel/mm/hugepages");
    for (size, n) in hugepages_needed(def, facts) {
        let kib = size / 1024;
        let dir = sizes.join(format!("hugepages-{kib}kB"));
        if !dir.exists() {
            let mut have: Vec<String> = std::fs::read_dir(sizes)
                .map(|d| {
                    d.flatten()
                        .filter_map(|e| {
                            e.file_name().to_str()?.strip_prefix("hugepages-").map(|s| s.replace("kB", " KiB"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            have.sort();
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("huge pages of {kib} KiB: this host has none of that size (it has {})", have.join(", ")),
            ));
        }
        let file = dir.join("free_hugepages");
        let free: u64 = std::fs::read_to_string(&file).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        if free < n {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "the guest needs {n} huge pages of {kib} KiB and this host has {free} free ({})",
                    file.display()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hugetlbfs_mounts_and_sizes() {
        let mounts = "none /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n\
                      none /dev/hugepages1G hugetlbfs rw,relatime,pagesize=1024M 0 0\n\
                      none /mnt/huge hugetlbfs rw 0 0\n\
                      proc /proc proc rw 0 0\n";
        assert_eq!(
            hugetlbfs_mounts(mounts, Some(2 << 20)),
            [(2 << 20, PathBuf::from("/dev/hugepages")), (1 << 30, PathBuf::from("/dev/hugepages1G"))]
        );
        assert_eq!(default_hugepage("MemTotal: 1 kB\nHugepagesize:    2048 kB\n"), Some(2 << 20));
    }

    #[test]
    fn pages_needed_per_size() {
        let xml = "<domain type='qemu'><name>h</name><memory unit='MiB'>1024</memory><vcpu>2</vcpu>
            <memoryBacking><hugepages><page size='1' unit='GiB' nodeset='1'/><page size='2' unit='MiB'/></hugepages></memoryBacking>
            <os><type>hvm</type></os>
            <cpu><numa><cell id='0' cpus='0' memory='512' unit='MiB'/><cell id='1' cpus='1' memory='1' unit='GiB'/></numa></cpu>
            </domain>";
        let def = Domain::from_xml(xml).unwrap();
        let facts = HostFacts::default();
        assert_eq!(hugepages_needed(&def, &facts), [(2 << 20, 256), (1 << 30, 1)]);
    }
}
