//! Tuning on the host: CPU time and placement (`<cputune>`), block I/O
//! weights and limits (`<blkiotune>`), I/O threads (`<iothreads>`,
//! `<iothreadids>`, `<defaultiothread>`), per-vCPU hotplug state
//! (`<vcpus>`) and the resource partition (`<resource>`).

use serde::{Deserialize, Serialize};

use crate::values::{CpuSet, xml_enum};
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// A thread's scheduler (`scheduler=`): `fifo` and `rr` take a priority.
    pub enum Scheduler {
        Batch = "batch",
        Idle = "idle",
        Fifo = "fifo",
        Rr = "rr",
    }
}

xml_enum! {
    pub enum CacheType {
        Both = "both",
        Code = "code",
        Data = "data",
    }
}

/// `<cputune>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Cputune {
    /// Relative CPU weight.
    pub shares: Option<u64>,
    /// Microseconds, 1000 to 1000000.
    pub period: Option<u64>,
    /// Microseconds per period; -1 is no limit.
    pub quota: Option<i64>,
    pub global_period: Option<u64>,
    pub global_quota: Option<i64>,
    pub emulator_period: Option<u64>,
    pub emulator_quota: Option<i64>,
    pub iothread_period: Option<u64>,
    pub iothread_quota: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vcpupin: Vec<VcpuPin>,
    pub emulatorpin: Option<CpuSet>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub iothreadpin: Vec<IoThreadPin>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vcpusched: Vec<ThreadSched>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub iothreadsched: Vec<ThreadSched>,
    pub emulatorsched: Option<Sched>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cachetune: Vec<CacheTune>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memorytune: Vec<MemoryTune>,
}

/// `<vcpupin vcpu cpuset>`: vCPU `vcpu` runs on host CPUs `cpuset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VcpuPin {
    pub vcpu: u16,
    pub cpuset: CpuSet,
}

/// `<iothreadpin iothread cpuset>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IoThreadPin {
    pub iothread: u32,
    pub cpuset: CpuSet,
}

/// A scheduler and, for `fifo` and `rr`, its priority.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Sched {
    pub scheduler: Scheduler,
    pub priority: Option<u16>,
}

/// `<vcpusched>` / `<iothreadsched>`: the scheduler of the threads in
/// `threads` (all when absent).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ThreadSched {
    pub threads: Option<CpuSet>,
    pub sched: Sched,
}

/// `<cachetune vcpus id>`: a cache allocation (Intel RDT) for some vCPUs.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CacheTune {
    pub vcpus: CpuSet,
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caches: Vec<CacheTuneCache>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monitors: Vec<CacheMonitor>,
}

/// `<cache id level type size unit>` in `<cachetune>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CacheTuneCache {
    pub id: u32,
    pub level: u32,
    #[serde(rename = "type")]
    pub cache_type: CacheType,
    pub size: crate::ByteSize,
}

/// `<monitor level vcpus>` in `<cachetune>` (`level` absent in `<memorytune>`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CacheMonitor {
    pub level: Option<u32>,
    pub vcpus: CpuSet,
}

/// `<memorytune vcpus>`: memory bandwidth (Intel MBA) for some vCPUs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MemoryTune {
    pub vcpus: CpuSet,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<MemoryTuneNode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monitors: Vec<CacheMonitor>,
}

/// `<node id bandwidth>`: percent of node `id`'s memory bandwidth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MemoryTuneNode {
    pub id: u32,
    pub bandwidth: u32,
}

impl VcpuPin {
    pub fn new(vcpu: u16, cpuset: CpuSet) -> Self {
        VcpuPin { vcpu, cpuset }
    }
}

impl Sched {
    pub fn new(scheduler: Scheduler, priority: Option<u16>) -> Self {
        Sched { scheduler, priority }
    }

    fn read(el: &El<'_, '_>) -> Result<Sched> {
        Ok(Sched { scheduler: el.req_attr("scheduler")?, priority: el.attr("priority")? })
    }

    fn write(&self, w: &mut XmlWriter) {
        w.attr("scheduler", self.scheduler.as_str());
        w.attr_opt("priority", self.priority.as_ref());
    }
}

impl Cputune {
    /// The scalar children, in libvirt's order: (name, value).
    fn scalars(&self) -> [(&'static str, Option<i64>); 9] {
        let u = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        [
            ("shares", u(self.shares)),
            ("period", u(self.period)),
            ("quota", self.quota),
            ("global_period", u(self.global_period)),
            ("global_quota", self.global_quota),
            ("emulator_period", u(self.emulator_period)),
            ("emulator_quota", self.emulator_quota),
            ("iothread_period", u(self.iothread_period)),
            ("iothread_quota", self.iothread_quota),
        ]
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Cputune> {
        let monitor = |m: &El<'_, '_>| Ok(CacheMonitor { level: m.attr("level")?, vcpus: m.req_attr("vcpus")? });
        Ok(Cputune {
            shares: el.child_value("shares")?,
            period: el.child_value("period")?,
            quota: el.child_value("quota")?,
            global_period: el.child_value("global_period")?,
            global_quota: el.child_value("global_quota")?,
            emulator_period: el.child_value("emulator_period")?,
            emulator_quota: el.child_value("emulator_quota")?,
            iothread_period: el.child_value("iothread_period")?,
            iothread_quota: el.child_value("iothread_quota")?,
            vcpupin: el
                .children("vcpupin", |p| Ok(VcpuPin { vcpu: p.req_attr("vcpu")?, cpuset: p.req_attr("cpuset")? }))?,
            emulatorpin: el.child("emulatorpin", |p| p.req_attr("cpuset"))?,
            iothreadpin: el.children("iothreadpin", |p| {
                Ok(IoThreadPin { iothread: p.req_attr("iothread")?, cpuset: p.req_attr("cpuset")? })
            })?,
            vcpusched: el
                .children("vcpusched", |s| Ok(ThreadSched { threads: s.attr("vcpus")?, sched: Sched::read(s)? }))?,
            iothreadsched: el.children("iothreadsched", |s| {
                Ok(ThreadSched { threads: s.attr("iothreads")?, sched: Sched::read(s)? })
            })?,
            emulatorsched: el.child("emulatorsched", Sched::read)?,
            cachetune: el.children("cachetune", |c| {
                Ok(CacheTune {
                    vcpus: c.req_attr("vcpus")?,
                    id: c.attr("id")?,
                    caches: c.children("cache", |k| {
                        Ok(CacheTuneCache {
                            id: k.req_attr("id")?,
                            level: k.req_attr("level")?,
                            cache_type: k.req_attr("type")?,
                            size: super::numa::read_size_attr(k, "size", "unit", "B")?,
                        })
                    })?,
                    monitors: c.children("monitor", monitor)?,
                })
            })?,
            memorytune: el.children("memorytune", |m| {
                Ok(MemoryTune {
                    vcpus: m.req_attr("vcpus")?,
                    nodes: m.children("node", |n| {
                        Ok(MemoryTuneNode { id: n.req_attr("id")?, bandwidth: n.req_attr("bandwidth")? })
                    })?,
                    monitors: m.children("monitor", monitor)?,
                })
            })?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("cputune");
        for (name, v) in self.scalars() {
            w.opt_text_element(name, v.as_ref());
        }
        for p in &self.vcpupin {
            w.start("vcpupin");
            w.attr_val("vcpu", &p.vcpu);
            w.attr_val("cpuset", &p.cpuset);
            w.end();
        }
        if let Some(c) = &self.emulatorpin {
            w.start("emulatorpin");
            w.attr_val("cpuset", c);
            w.end();
        }
        for p in &self.iothreadpin {
            w.start("iothreadpin");
            w.attr_val("iothread", &p.iothread);
            w.attr_val("cpuset", &p.cpuset);
            w.end();
        }
        for (name, attr, list) in
            [("vcpusched", "vcpus", &self.vcpusched), ("iothreadsched", "iothreads", &self.iothreadsched)]
        {
            for s in list {
                w.start(name);
                w.attr_opt(attr, s.threads.as_ref());
                s.sched.write(w);
                w.end();
            }
        }
        if let Some(s) = &self.emulatorsched {
            w.start("emulatorsched");
            s.write(w);
            w.end();
        }
        for c in &self.cachetune {
            w.start("cachetune");
            w.attr_val("vcpus", &c.vcpus);
            w.attr_opt("id", c.id.as_ref());
            for k in &c.caches {
                w.start("cache");
                w.attr_val("id", &k.id);
                w.attr_val("level", &k.level);
                w.attr("type", k.cache_type.as_str());
                let (v, unit) = k.size.to_value_and_unit();
                w.attr_val("size", &v);
                w.attr("unit", unit);
                w.end();
            }
            write_monitors(w, &c.monitors);
            w.end();
        }
        for m in &self.memorytune {
            w.start("memorytune");
            w.attr_val("vcpus", &m.vcpus);
            for n in &m.nodes {
                w.start("node");
                w.attr_val("id", &n.id);
                w.attr_val("bandwidth", &n.bandwidth);
                w.end();
            }
            write_monitors(w, &m.monitors);
            w.end();
        }
        w.end();
    }
}

fn write_monitors(w: &mut XmlWriter, monitors: &[CacheMonitor]) {
    for m in monitors {
        w.start("monitor");
        w.attr_opt("level", m.level.as_ref());
        w.attr_val("vcpus", &m.vcpus);
        w.end();
    }
}

/// `<blkiotune>`: block I/O weight and per-device limits.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Blkiotune {
    /// 100 to 1000.
    pub weight: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<BlkioDevice>,
}

/// `<device>` in `<blkiotune>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BlkioDevice {
    pub path: String,
    pub weight: Option<u32>,
    pub read_iops_sec: Option<u32>,
    pub write_iops_sec: Option<u32>,
    pub read_bytes_sec: Option<u64>,
    pub write_bytes_sec: Option<u64>,
}

impl Blkiotune {
    pub(crate) fn read(el: &El<'_, '_>) -> Result<Blkiotune> {
        Ok(Blkiotune {
            weight: el.child_value("weight")?,
            devices: el.children("device", |d| {
                Ok(BlkioDevice {
                    path: d.req_child("path", |p| Ok(p.text()))?,
                    weight: d.child_value("weight")?,
                    read_iops_sec: d.child_value("read_iops_sec")?,
                    write_iops_sec: d.child_value("write_iops_sec")?,
                    read_bytes_sec: d.child_value("read_bytes_sec")?,
                    write_bytes_sec: d.child_value("write_bytes_sec")?,
                })
            })?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("blkiotune");
        w.opt_text_element("weight", self.weight.as_ref());
        for d in &self.devices {
            w.start("device");
            w.text_element("path", &d.path);
            w.opt_text_element("weight", d.weight.as_ref());
            w.opt_text_element("read_iops_sec", d.read_iops_sec.as_ref());
            w.opt_text_element("write_iops_sec", d.write_iops_sec.as_ref());
            w.opt_text_element("read_bytes_sec", d.read_bytes_sec.as_ref());
            w.opt_text_element("write_bytes_sec", d.write_bytes_sec.as_ref());
            w.end();
        }
        w.end();
    }
}

/// `<iothread id thread_pool_min thread_pool_max>` in `<iothreadids>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IoThread {
    pub id: u32,
    pub thread_pool_min: Option<u32>,
    pub thread_pool_max: Option<u32>,
}

impl IoThread {
    pub fn new(id: u32) -> Self {
        IoThread { id, thread_pool_min: None, thread_pool_max: None }
    }
}

/// `<defaultiothread thread_pool_min thread_pool_max>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ThreadPool {
    pub thread_pool_min: Option<u32>,
    pub thread_pool_max: Option<u32>,
}

/// The domain's I/O threads: how many (`<iothreads>`), which ids
/// (`<iothreadids>`) and the default thread's pool.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IoThreads {
    pub count: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<IoThread>,
    pub default: Option<ThreadPool>,
}

impl IoThreads {
    /// `n` threads, numbered 1 to `n`.
    pub fn count(n: u32) -> Self {
        IoThreads { count: Some(n), ..Default::default() }
    }

    pub fn is_empty(&self) -> bool {
        self.count.is_none() && self.ids.is_empty() && self.default.is_none()
    }

    /// The ids of every thread: those listed, then 1, 2, … not listed up to
    /// the count (libvirt's numbering).
    pub fn all_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.ids.iter().map(|t| t.id).collect();
        let want = usize::try_from(self.count.unwrap_or(0)).unwrap_or(usize::MAX).max(ids.len());
        let mut next = 1;
        while ids.len() < want {
            if !ids.contains(&next) {
                ids.push(next);
            }
            next += 1;
        }
        ids
    }

    pub(crate) fn read_ids(el: &El<'_, '_>) -> Result<Vec<IoThread>> {
        el.children("iothread", |t| {
            Ok(IoThread {
                id: t.req_attr("id")?,
                thread_pool_min: t.attr("thread_pool_min")?,
                thread_pool_max: t.attr("thread_pool_max")?,
            })
        })
    }

    pub(crate) fn read_default(el: &El<'_, '_>) -> Result<ThreadPool> {
        Ok(ThreadPool { thread_pool_min: el.attr("thread_pool_min")?, thread_pool_max: el.attr("thread_pool_max")? })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.opt_text_element("iothreads", self.count.as_ref());
        if !self.ids.is_empty() {
            w.start("iothreadids");
            for t in &self.ids {
                w.start("iothread");
                w.attr_val("id", &t.id);
                w.attr_opt("thread_pool_min", t.thread_pool_min.as_ref());
                w.attr_opt("thread_pool_max", t.thread_pool_max.as_ref());
                w.end();
            }
            w.end();
        }
        if let Some(d) = &self.default {
            w.start("defaultiothread");
            w.attr_opt("thread_pool_min", d.thread_pool_min.as_ref());
            w.attr_opt("thread_pool_max", d.thread_pool_max.as_ref());
            w.end();
        }
    }
}

/// `<vcpu id enabled hotpluggable order>` in `<vcpus>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VcpuState {
    pub id: u32,
    pub enabled: bool,
    pub hotpluggable: Option<bool>,
    pub order: Option<u32>,
}

impl VcpuState {
    pub fn new(id: u32, enabled: bool) -> Self {
        VcpuState { id, enabled, hotpluggable: None, order: None }
    }

    pub(crate) fn read_all(el: &El<'_, '_>) -> Result<Vec<VcpuState>> {
        el.children("vcpu", |v| {
            Ok(VcpuState {
                id: v.req_attr("id")?,
                enabled: v.yes_no("enabled")?.ok_or_else(|| v.missing_attr("enabled"))?,
                hotpluggable: v.yes_no("hotpluggable")?,
                order: v.attr("order")?,
            })
        })
    }

    pub(crate) fn write_all(w: &mut XmlWriter, list: &[VcpuState]) {
        w.start("vcpus");
        for v in list {
            w.start("vcpu");
            w.attr_val("id", &v.id);
            w.yes_no("enabled", Some(v.enabled));
            w.yes_no("hotpluggable", v.hotpluggable);
            w.attr_opt("order", v.order.as_ref());
            w.end();
        }
        w.end();
    }
}

/// `<resource>`: the resource partition (cgroup) and Fibre Channel app id.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Resource {
    pub partition: Option<String>,
    pub fibrechannel_appid: Option<String>,
}

impl Resource {
    pub(crate) fn read(el: &El<'_, '_>) -> Result<Resource> {
        Ok(Resource {
            partition: el.child_text("partition")?,
            fibrechannel_appid: el.child("fibrechannel", |f| f.req_attr("appid"))?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("resource");
        w.opt_text_element("partition", self.partition.as_ref());
        if let Some(a) = &self.fibrechannel_appid {
            w.start("fibrechannel");
            w.attr("appid", a);
            w.end();
        }
        w.end();
    }
}
