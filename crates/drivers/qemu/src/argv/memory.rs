//! Guest memory: its size (`-m`), the backends that hold it (huge pages,
//! memfd or files, shared or private, preallocated, bound to host NUMA
//! nodes), the guest NUMA cells (`-numa node|dist|hmat-lb|hmat-cache`),
//! locking and page merging.

use serde_json::{Map, Value, json};
use virtkit_model::domain::{
    AccessType, AllocationMode, CacheAssociativity, CachePolicy, MemAccess, MemoryBacking, MemorySourceType, Numa,
    NumaMode, NumaPlacement,
};
use virtkit_model::{ByteSize, CpuSet};

use super::{ArgvError, Builder, json_arg, unsupported};

/// The normal (not huge) page size: pages of it are ordinary memory.
const SMALL_PAGE: u64 = 4096;

/// The `-machine` properties memory needs.
pub(super) fn machine_props(b: &Builder<'_>) -> Vec<String> {
    let mut m = Vec::new();
    if b.def.memory_backing.as_ref().is_some_and(|mb| mb.nosharepages) {
        m.push("mem-merge=off".to_owned());
    }
    if let Some(n) = numa(b)
        && (!n.interconnects.is_empty() || n.cells.iter().any(|c| !c.caches.is_empty()))
    {
        m.push("hmat=on".to_owned());
    }
    if numa(b).is_none() && needs_backend(b) {
        m.push("memory-backend=pc.ram".to_owned());
    }
    m
}

fn numa<'a>(b: &Builder<'a>) -> Option<&'a Numa> {
    b.def.cpu.as_ref().and_then(|c| c.numa.as_ref())
}

/// Whether memory without NUMA cells needs an explicit backend object.
fn needs_backend(b: &Builder<'_>) -> bool {
    let mb = b.def.memory_backing.as_ref();
    let pinned = b.def.numatune.as_ref().and_then(|t| t.memory.as_ref()).is_some_and(|m| m.nodeset.is_some());
    pinned
        || mb.is_some_and(|mb| {
            mb.hugepages.is_some()
                || mb.source.is_some_and(|s| s != MemorySourceType::Anonymous)
                || mb.access.is_some()
                || mb.allocation.is_some()
                || mb.discard
        })
}

/// `-m`, and `-overcommit` for locked memory.
pub(super) fn size_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    check_numatune(b)?;
    // Whole MiB, rounded up, as libvirt does for x86.
    let mib = |kib: u64| kib.div_ceil(1024) * 1024;
    // <memory> counts the memory devices in (libvirt's total); QEMU's
    // size is the base memory alone.
    let base = ByteSize(b.def.memory.as_bytes().saturating_sub(super::platform::device_memory(b)));
    let initial = numa(b).map_or(base, Numa::total_memory);
    let kib = mib(initial.as_kib_ceil());
    match &b.def.max_memory {
        Some(max) => b.opt("-m", format!("size={kib}k,slots={},maxmem={}k", max.slots, mib(max.size.as_kib_ceil()))),
        None => b.opt("-m", format!("size={kib}k")),
    }
    if b.def.memory_backing.as_ref().is_some_and(|mb| mb.locked) {
        b.opt("-overcommit", "mem-lock=on");
    }
    Ok(())
}

/// The memory backends and `-numa`.
pub(super) fn backend_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    match numa(b) {
        None if needs_backend(b) => {
            let base = ByteSize(b.def.memory.as_bytes().saturating_sub(super::platform::device_memory(b)));
            let size = ByteSize(base.as_kib_ceil().div_ceil(1024) * 1024 * 1024);
            let obj = backend(b, "pc.ram", None, size, "/domain/memoryBacking")?;
            b.opt("-object", json_arg(obj));
        }
        None => {}
        Some(n) => numa_args(b, n)?,
    }
    Ok(())
}

/// What of `<numatune>` QEMU cannot do, refused.
fn check_numatune(b: &Builder<'_>) -> Result<(), ArgvError> {
    let Some(t) = &b.def.numatune else { return Ok(()) };
    if let Some(m) = &t.memory {
        if m.placement == Some(NumaPlacement::Auto) {
            return Err(unsupported(
                "/domain/numatune/memory/@placement",
                "placement 'auto' asks numad where to put the guest; virtkit does not run numad",
            ));
        }
        if m.nodeset.is_none() {
            return Err(unsupported("/domain/numatune/memory", "a memory policy needs a nodeset of host nodes"));
        }
    }
    let modes = t.memory.iter().filter_map(|m| m.mode).chain(t.memnodes.iter().map(|m| m.mode));
    if modes.into_iter().any(|m| m == NumaMode::Restrictive) {
        return Err(unsupported(
            "/domain/numatune",
            "mode 'restrictive' is enforced by cgroups, which virtkit's QEMU driver does not manage",
        ));
    }
    let nodes = &b.ctx.host.numa_nodes;
    let sets = t.memory.iter().filter_map(|m| m.nodeset.as_ref()).chain(t.memnodes.iter().map(|m| &m.nodeset));
    for set in sets {
        for (a, z) in set.ranges() {
            if let Some(missing) = (*a..=*z).find(|n| !nodes.is_empty() && !nodes.contains(n)) {
                return Err(unsupported(
                    "/domain/numatune",
                    format!(
                        "host NUMA node {missing} does not exist on this host (it has {})",
                        nodes.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// QEMU's list syntax for a set: `0-3` (a `cpus=` for each range).
fn ranges(set: &CpuSet) -> Vec<String> {
    set.ranges().iter().map(|(a, z)| if a == z { a.to_string() } else { format!("{a}-{z}") }).collect()
}

fn numa_args(b: &mut Builder<'_>, n: &Numa) -> Result<(), ArgvError> {
    let ids: Vec<u32> = n.cell_ids().collect();
    let hmat = !n.interconnects.is_empty() || n.cells.iter().any(|c| !c.caches.is_empty());
    let first_with_cpus = n.cells.iter().position(|c| c.cpus.is_some()).map_or(0, |i| ids[i]);
    for (i, c) in n.cells.iter().enumerate() {
        let id = ids[i];
        let path =
            format!("/domain/cpu/numa/cell{}", if n.cells.len() > 1 { format!("[{}]", i + 1) } else { String::new() });
        let memdev = format!("ram-node{id}");
        let obj = backend(b, &memdev, Some((id, c.mem_access, c.discard)), c.memory, &path)?;
        b.opt("-object", json_arg(obj));
        let mut node = format!("node,nodeid={id}");
        for r in c.cpus.iter().flat_map(ranges) {
            node.push_str(&format!(",cpus={r}"));
        }
        if hmat {
            node.push_str(&format!(",initiator={}", if c.cpus.is_some() { id } else { first_with_cpus }));
        }
        node.push_str(&format!(",memdev={memdev}"));
        b.opt("-numa", node);
    }
    for (i, c) in n.cells.iter().enumerate() {
        for d in &c.distances {
            b.opt("-numa", format!("dist,src={},dst={},val={}", ids[i], d.id, d.value));
        }
    }
    let level = |cache: Option<u32>| match cache {
        None => "memory".to_owned(),
        Some(1) => "first-level".to_owned(),
        Some(2) => "second-level".to_owned(),
        Some(3) => "third-level".to_owned(),
        Some(l) => format!("level-{l}"),
    };
    let kind = |t: AccessType| match t {
        AccessType::Read => "read",
        AccessType::Write => "write",
        _ => "access",
    };
    for l in &n.interconnects.latencies {
        if l.cache.is_some_and(|c| !(1..=3).contains(&c)) {
            return Err(unsupported("/domain/cpu/numa/interconnects/latency/@cache", "QEMU has cache levels 1 to 3"));
        }
        b.opt(
            "-numa",
            format!(
                "hmat-lb,initiator={},target={},hierarchy={},data-type={}-latency,latency={}",
                l.initiator,
                l.target,
                level(l.cache),
                kind(l.access),
                l.value
            ),
        );
    }
    for w in &n.interconnects.bandwidths {
        if w.cache.is_some_and(|c| !(1..=3).contains(&c)) {
            return Err(unsupported("/domain/cpu/numa/interconnects/bandwidth/@cache", "QEMU has cache levels 1 to 3"));
        }
        b.opt(
            "-numa",
            format!(
                "hmat-lb,initiator={},target={},hierarchy={},data-type={}-bandwidth,bandwidth={}K",
                w.initiator,
                w.target,
                level(w.cache),
                kind(w.access),
                w.value.as_kib_ceil()
            ),
        );
    }
    for (i, c) in n.cells.iter().enumerate() {
        for k in &c.caches {
            let assoc = match k.associativity {
                CacheAssociativity::Direct => "direct",
                CacheAssociativity::Full => "complex",
                _ => "none",
            };
            let policy = match k.policy {
                CachePolicy::Writeback => "write-back",
                CachePolicy::Writethrough => "write-through",
                _ => "none",
            };
            let size =
                if k.size.0.is_multiple_of(1024) { format!("{}K", k.size.0 / 1024) } else { k.size.0.to_string() };
            b.opt(
                "-numa",
                format!(
                    "hmat-cache,node-id={},size={size},level={},associativity={assoc},policy={policy},line={}",
                    ids[i], k.level, k.line.0
                ),
            );
        }
    }
    Ok(())
}

/// The page size for guest cell `cell` (`None`: the whole guest), if huge.
fn huge_page(mb: Option<&MemoryBacking>, cell: Option<u32>, default: Option<u64>) -> Option<Option<u64>> {
    let pages = mb?.hugepages.as_ref()?;
    if pages.is_empty() {
        return Some(default);
    }
    let for_cell = pages.iter().find(|p| match (&p.nodeset, cell) {
        (Some(set), Some(c)) => set.contains(c),
        (Some(set), None) => set.contains(0),
        (None, _) => false,
    });
    let page = for_cell.or_else(|| pages.iter().find(|p| p.nodeset.is_none()))?;
    (page.size.0 != SMALL_PAGE).then_some(Some(page.size.0))
}

/// One memory backend object: `cell` is (guest cell id, its access, its
/// discard) for a NUMA cell, `None` for the whole guest.
fn backend(
    b: &Builder<'_>,
    id: &str,
    cell: Option<(u32, Option<MemAccess>, Option<bool>)>,
    size: ByteSize,
    path: &str,
) -> Result<Value, ArgvError> {
    let mb = b.def.memory_backing.as_ref();
    let source = mb.and_then(|m| m.source);
    let access = cell.and_then(|c| c.1).or(mb.and_then(|m| m.access));
    let discard = cell.and_then(|c| c.2).unwrap_or(false) || mb.is_some_and(|m| m.discard);
    let allocation = mb.and_then(|m| m.allocation.as_ref());
    let mut o = Map::new();
    let huge = huge_page(mb, cell.map(|c| c.0), b.ctx.host.default_hugepage);
    match (huge, source) {
        (Some(page), Some(MemorySourceType::Memfd)) => {
            o.insert("qom-type".into(), json!("memory-backend-memfd"));
            o.insert("id".into(), json!(id));
            o.insert("hugetlb".into(), json!(true));
            let page = page.ok_or_else(|| no_hugepages(path, None))?;
            o.insert("hugetlbsize".into(), json!(page));
        }
        (Some(page), _) => {
            let mount = page.and_then(|p| b.ctx.host.hugepages.iter().find(|(s, _)| *s == p));
            let Some((_, dir)) = mount else { return Err(no_hugepages(path, page)) };
            o.insert("qom-type".into(), json!("memory-backend-file"));
            o.insert("id".into(), json!(id));
            o.insert("mem-path".into(), json!(dir.display().to_string()));
        }
        (None, Some(MemorySourceType::Memfd)) => {
            o.insert("qom-type".into(), json!("memory-backend-memfd"));
            o.insert("id".into(), json!(id));
        }
        (None, Some(MemorySourceType::File)) => {
            o.insert("qom-type".into(), json!("memory-backend-file"));
            o.insert("id".into(), json!(id));
            o.insert("mem-path".into(), json!(b.ctx.run_dir.display().to_string()));
        }
        _ => {
            o.insert("qom-type".into(), json!("memory-backend-ram"));
            o.insert("id".into(), json!(id));
        }
    }
    let file = o.get("qom-type") == Some(&json!("memory-backend-file"));
    if discard {
        if !file {
            return Err(unsupported(
                format!("{path}/discard"),
                "discarding freed memory is for memory backed by a file (huge pages or source 'file')",
            ));
        }
        o.insert("discard-data".into(), json!(true));
    }
    if let Some(a) = access {
        o.insert("share".into(), json!(a == MemAccess::Shared));
    }
    let prealloc = huge.is_some() || allocation.and_then(|a| a.mode) == Some(AllocationMode::Immediate);
    if prealloc {
        o.insert("prealloc".into(), json!(true));
    }
    if let Some(t) = allocation.and_then(|a| a.threads) {
        o.insert("prealloc-threads".into(), json!(t));
    }
    o.insert("size".into(), json!(size.as_bytes()));
    if let Some((nodes, mode)) = host_policy(b, cell.map(|c| c.0)) {
        o.insert("host-nodes".into(), json!(nodes));
        o.insert("policy".into(), json!(mode));
    }
    Ok(Value::Object(o))
}

fn no_hugepages(path: &str, page: Option<u64>) -> ArgvError {
    let size = match page {
        Some(p) => format!("{} KiB", p / 1024),
        None => "the default size".to_owned(),
    };
    unsupported(
        format!("{path}/hugepages"),
        format!("huge pages of {size}: this host has no hugetlbfs mounted for them"),
    )
}

/// The host nodes (and QEMU's policy word) guest cell `cell`'s memory is bound to.
fn host_policy(b: &Builder<'_>, cell: Option<u32>) -> Option<(Vec<u32>, &'static str)> {
    let t = b.def.numatune.as_ref()?;
    let (mode, nodes) = match cell.and_then(|c| t.memnodes.iter().find(|m| m.cellid == c)) {
        Some(m) => (Some(m.mode), &m.nodeset),
        None => {
            let m = t.memory.as_ref()?;
            (m.mode, m.nodeset.as_ref()?)
        }
    };
    let word = match mode.unwrap_or(NumaMode::Strict) {
        NumaMode::Preferred => "preferred",
        NumaMode::Interleave => "interleave",
        _ => "bind",
    };
    let list = nodes.ranges().iter().flat_map(|(a, z)| *a..=*z).collect();
    Some((list, word))
}
