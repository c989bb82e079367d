//! Statistics of running domains: CPU time from /proc, block I/O and the
//! balloon from each one's monitor.

use virtkit_engine::DomainRef;
use virtkit_engine::types::{BlockStats, DomainStats};
use virtkit_model::domain::devices::BalloonModel;

use crate::{Shared, Vm};

/// The statistics of each of `doms` (`None` for one not running here),
/// every monitor asked at once.
pub(crate) async fn of(st: &Shared, doms: &[DomainRef]) -> Vec<Option<DomainStats>> {
    let mut out: Vec<Option<DomainStats>> = doms.iter().map(|_| None).collect();
    let mut asking = tokio::task::JoinSet::new();
    for (i, d) in doms.iter().enumerate() {
        if let Some(vm) = st.vms().get(&d.uuid).cloned() {
            asking.spawn(async move { (i, vm_stats(&vm).await) });
        }
    }
    while let Some(done) = asking.join_next().await {
        match done {
            Ok((i, s)) => {
                if let Some(slot) = out.get_mut(i) {
                    *slot = Some(s);
                }
            }
            Err(e) => tracing::warn!("a statistics query failed: {e}"),
        }
    }
    out
}

/// Statistics of a running domain: CPU time from /proc, block I/O and the
/// balloon from QMP.
async fn vm_stats(vm: &Vm) -> DomainStats {
    let mut s = DomainStats::default();
    s.vcpus = vm.def.vcpu.as_ref().map_or(1, |v| v.count);
    s.memory_max = vm.def.memory.as_bytes();
    s.memory_current = vm.def.current_memory.unwrap_or(vm.def.memory).as_bytes();
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", vm.pid.pid))
        && let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..])
    {
        let f: Vec<&str> = rest.split(' ').collect();
        let ticks: u64 = f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100).max(1);
        s.cpu_time_ns = ticks.saturating_mul(1_000_000_000 / u64::try_from(hz).unwrap_or(100));
    }
    if vm.def.devices.memballoon.as_ref().is_some_and(|b| b.model != BalloonModel::None)
        && let Ok(b) = vm.qmp.execute("query-balloon", None).await
        && let Some(a) = b["actual"].as_u64()
    {
        s.memory_current = a;
    }
    if let Ok(blocks) = vm.qmp.execute("query-blockstats", None).await {
        for b in blocks.as_array().into_iter().flatten() {
            let Some(dev) = b["qdev"]
                .as_str()
                .and_then(|q| q.strip_prefix("disk-").or_else(|| q.rsplit('/').next()?.strip_prefix("disk-")))
            else {
                continue;
            };
            let x = &b["stats"];
            let mut bs = BlockStats::default();
            bs.dev = dev.to_owned();
            bs.rd_bytes = x["rd_bytes"].as_u64().unwrap_or(0);
            bs.wr_bytes = x["wr_bytes"].as_u64().unwrap_or(0);
            bs.rd_reqs = x["rd_operations"].as_u64().unwrap_or(0);
            bs.wr_reqs = x["wr_operations"].as_u64().unwrap_or(0);
            s.block.push(bs);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use serde_json::Value;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::UnixStream;
    use tokio::sync::Barrier;
    use uuid::Uuid;
    use virtkit_engine::DomainDriver;
    use virtkit_host::ProcessId;
    use virtkit_model::ByteSize;
    use virtkit_model::domain::{Domain, DomainType};

    use super::*;
    use crate::qmp::Qmp;
    use crate::{Flags, QemuDriver};

    /// A fake QEMU monitor that answers `query-blockstats` only once every
    /// monitor of `all` has been asked: asked one at a time, none answers.
    async fn fake_qemu(theirs: UnixStream, all: Arc<Barrier>, disk: &'static str) {
        let (r, mut w) = theirs.into_split();
        let mut r = BufReader::new(r);
        let greeting = b"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}}}\n";
        if w.write_all(greeting).await.is_err() {
            return;
        }
        let mut line = String::new();
        while matches!(r.read_line(&mut line).await, Ok(n) if n > 0) {
            let m: Value = serde_json::from_str(&line).unwrap_or_default();
            line.clear();
            let ret = if m["execute"] == "query-blockstats" {
                all.wait().await;
                serde_json::json!([{ "qdev": format!("disk-{disk}"), "stats": { "rd_bytes": 512 } }])
            } else {
                serde_json::json!({})
            };
            let reply = serde_json::json!({ "return": ret, "id": m["id"] });
            if w.write_all(format!("{reply}\n").as_bytes()).await.is_err() {
                return;
            }
        }
    }

    #[tokio::test]
    async fn every_monitor_is_asked_at_once() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let driver = QemuDriver::new(root.path());
        let disks = ["vda", "vdb", "vdc"];
        let all = Arc::new(Barrier::new(disks.len()));
        let mut doms = Vec::new();
        for disk in disks {
            let (ours, theirs) = UnixStream::pair().unwrap_or_else(|e| panic!("{e}"));
            tokio::spawn(fake_qemu(theirs, all.clone(), disk));
            let (qmp, _, _events) = Qmp::connect(ours, Duration::from_secs(30)).await.unwrap_or_else(|e| panic!("{e}"));
            let def = Domain::new(DomainType::Qemu, disk, ByteSize::mib(64));
            let vm = Vm {
                uuid: def.uuid,
                name: disk.into(),
                def: Arc::new(def),
                qmp,
                pid: ProcessId::of(std::process::id()).unwrap_or_else(|e| panic!("{e}")),
                run_dir: root.path().join(disk),
                log: root.path().join(format!("{disk}.log")),
                swtpms: Vec::new(),
                flags: Mutex::new(Flags::default()),
            };
            doms.push(DomainRef::new(vm.uuid, disk));
            driver.state.vms().insert(vm.uuid, Arc::new(vm));
        }
        doms.insert(1, DomainRef::new(Uuid::new_v4(), "not-running"));
        let stats = tokio::time::timeout(Duration::from_secs(10), driver.stats(&doms)).await;
        let stats = stats.unwrap_or_else(|_| panic!("no stats within 10 s: the monitors are asked one at a time"));
        let devs: Vec<Option<String>> =
            stats.iter().map(|s| s.as_ref().map(|s| s.block.iter().map(|b| b.dev.clone()).collect())).collect();
        let want = [Some("vda".to_owned()), None, Some("vdb".to_owned()), Some("vdc".to_owned())];
        assert_eq!(devs, want);
    }
}
