//! The generator for the domain's top-level parts beyond the basics: NUMA,
//! memory backing and tuning, CPU and I/O tuning, I/O threads, system
//! information, firmware, features, security and the QEMU namespace. Each
//! strategy makes values of the right form; [`make_consistent`] then fixes
//! what depends on the rest of the domain (vCPU counts, cell ids, uuid).

use proptest::collection::vec;
use proptest::prelude::*;
use virtkit_model::domain::*;
use virtkit_model::{ByteSize, CpuSet};

use crate::common::{abs_path, one_line, one_of, opt, opt_bool, opt_of, re, text, text_nonempty};
use crate::cpu_set;

fn any_bool() -> BoxedStrategy<bool> {
    any::<bool>().boxed()
}

/// The top-level parts, applied to a domain by [`Top::apply`].
#[derive(Debug, Clone)]
pub struct Top {
    genid: Option<GenId>,
    blkiotune: Option<Blkiotune>,
    memtune: Option<Memtune>,
    memory_backing: Option<MemoryBacking>,
    vcpus: Option<Vec<VcpuState>>,
    iothreads: IoThreads,
    cputune: Option<Cputune>,
    numatune: Option<Numatune>,
    resource: Option<Resource>,
    sysinfo: Vec<Sysinfo>,
    os: OsExtra,
    idmap: Option<Idmap>,
    features: FeaturesExtra,
    cpu: (Option<Numa>, Option<CpuCache>, Option<MaxPhysAddr>),
    on_lockfailure: Option<LockFailureAction>,
    perf: Option<Vec<PerfEvent>>,
    seclabels: Vec<SecLabel>,
    keywrap: Option<Vec<KeyWrapCipher>>,
    launch_security: Option<LaunchSecurity>,
    qemu: QemuNamespace,
}

type OsExtra = (Option<Firmware>, Vec<FirmwareFeature>, Option<SmbiosMode>, Option<Bios>, Vec<String>);

#[derive(Debug, Clone)]
struct FeaturesExtra(Features);

impl Top {
    /// Puts the parts into `d` (the os and features it has are extended).
    pub fn apply(self, d: &mut Domain) {
        d.genid = self.genid;
        d.blkiotune = self.blkiotune;
        d.memtune = self.memtune;
        d.memory_backing = self.memory_backing;
        d.vcpus = self.vcpus;
        d.iothreads = self.iothreads;
        d.cputune = self.cputune;
        d.numatune = self.numatune;
        d.resource = self.resource;
        d.sysinfo = self.sysinfo;
        d.idmap = self.idmap;
        d.on_lockfailure = self.on_lockfailure;
        d.perf = self.perf;
        d.seclabels = self.seclabels;
        d.keywrap = self.keywrap;
        d.launch_security = self.launch_security;
        d.qemu = self.qemu;
        if d.os.os_type == OsType::Hvm {
            let (firmware, ff, smbios, bios, acpi) = self.os;
            d.os.firmware = firmware;
            d.os.firmware_features = ff;
            d.os.smbios = smbios;
            d.os.bios = bios;
            d.os.acpi_tables = acpi;
        }
        if let Some(f) = &mut d.features {
            let x = self.features.0;
            f.hap = x.hap;
            f.viridian = x.viridian;
            f.privnet = x.privnet;
            f.hyperv = x.hyperv;
            f.kvm = x.kvm;
            f.pvspinlock = x.pvspinlock;
            f.pmu = x.pmu;
            f.gic = x.gic;
            f.ioapic = x.ioapic;
            f.hpt = x.hpt;
            f.vmcoreinfo = x.vmcoreinfo;
            f.htm = x.htm;
            f.nested_hv = x.nested_hv;
            f.msrs = x.msrs;
            f.ccf_assist = x.ccf_assist;
            f.cfpc = x.cfpc;
            f.sbbc = x.sbbc;
            f.ibs = x.ibs;
            f.tcg = x.tcg;
        }
        let (numa, cache, maxphys) = self.cpu;
        if let Some(c) = &mut d.cpu {
            c.numa = numa;
            c.cache = cache;
            c.maxphysaddr = maxphys;
        }
    }
}

fn kib_size() -> BoxedStrategy<ByteSize> {
    (1u64..=(1 << 30)).prop_map(ByteSize::kib).boxed()
}

fn mib_size() -> BoxedStrategy<ByteSize> {
    (1u64..=4096).prop_map(ByteSize::mib).boxed()
}

pub fn top() -> BoxedStrategy<Top> {
    (
        (
            opt(prop_oneof![Just(GenId::Auto), any::<u128>().prop_map(|u| GenId::Id(uuid::Uuid::from_u128(u | 1)))]),
            opt(blkiotune()),
            opt(memtune()),
            opt(memory_backing()),
            opt(vec(vcpu_state(), 0..=3)),
            iothreads(),
        ),
        (opt(cputune()), opt(numatune()), opt(resource()), sysinfo(), os_extra(), opt(idmap())),
        (
            features_extra(),
            (opt(numa()), opt(cpu_cache()), opt(maxphys())),
            opt_of(LockFailureAction::ALL),
            opt(perf()),
        ),
        (vec(seclabel(), 0..=2), opt(keywrap()), opt(launch_security()), qemu()),
    )
        .prop_map(|(a, b, c, e)| Top {
            genid: a.0,
            blkiotune: a.1,
            memtune: a.2,
            memory_backing: a.3,
            vcpus: a.4,
            iothreads: a.5,
            cputune: b.0,
            numatune: b.1,
            resource: b.2,
            sysinfo: b.3,
            os: b.4,
            idmap: b.5,
            features: c.0,
            cpu: c.1,
            on_lockfailure: c.2,
            perf: c.3,
            seclabels: e.0,
            keywrap: e.1,
            launch_security: e.2,
            qemu: e.3,
        })
        .boxed()
}

fn blkiotune() -> BoxedStrategy<Blkiotune> {
    let device =
        (abs_path(), opt(100u32..=1000), opt(any::<u32>()), opt(any::<u32>()), opt(any::<u64>()), opt(any::<u64>()))
            .prop_map(|(path, weight, ri, wi, rb, wb)| {
                let mut d: BlkioDevice = serde_json::from_value(serde_json::json!({"path": path})).unwrap();
                d.weight = weight;
                d.read_iops_sec = ri;
                d.write_iops_sec = wi;
                d.read_bytes_sec = rb;
                d.write_bytes_sec = wb;
                d
            });
    (opt(100u32..=1000), vec(device, 0..=2))
        .prop_map(|(weight, devices)| {
            let mut b = Blkiotune::default();
            b.weight = weight;
            b.devices = devices;
            b
        })
        .boxed()
}

fn memtune() -> BoxedStrategy<Memtune> {
    (opt(kib_size()), opt(kib_size()), opt(kib_size()), opt(kib_size()))
        .prop_map(|(hard, soft, min, swap)| {
            let mut m = Memtune::default();
            m.hard_limit = hard;
            m.soft_limit = soft;
            m.min_guarantee = min;
            m.swap_hard_limit = swap.map(|s| hard.map_or(s, |h| h.max(s)));
            m
        })
        .boxed()
}

fn memory_backing() -> BoxedStrategy<MemoryBacking> {
    let page = (kib_size(), opt(cpu_set())).prop_map(|(size, nodeset)| {
        let mut p = HugePage::new(size);
        p.nodeset = nodeset;
        p
    });
    let allocation = (opt_of(AllocationMode::ALL), opt(1u32..=64)).prop_map(|(mode, threads)| {
        let mut a = Allocation::default();
        a.mode = mode;
        a.threads = threads;
        a
    });
    (
        opt(vec(page, 0..=2)),
        any_bool(),
        any_bool(),
        opt_of(MemorySourceType::ALL),
        opt_of(MemAccess::ALL),
        opt(allocation),
        any_bool(),
    )
        .prop_map(|(hugepages, nosharepages, locked, source, access, allocation, discard)| {
            let mut m = MemoryBacking::default();
            m.hugepages = hugepages;
            m.nosharepages = nosharepages;
            m.locked = locked;
            m.source = source;
            m.access = access;
            m.allocation = allocation;
            m.discard = discard;
            m
        })
        .boxed()
}

fn vcpu_state() -> BoxedStrategy<VcpuState> {
    (0u32..8, any_bool(), opt_bool(), opt(1u32..=8))
        .prop_map(|(id, enabled, hotpluggable, order)| {
            let mut v = VcpuState::new(id, enabled);
            v.hotpluggable = hotpluggable;
            v.order = order;
            v
        })
        .boxed()
}

fn pool() -> BoxedStrategy<(Option<u32>, Option<u32>)> {
    (opt(0u32..=16), opt(0u32..=16))
        .prop_map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
            x => x,
        })
        .boxed()
}

fn iothreads() -> BoxedStrategy<IoThreads> {
    let thread = (1u32..=8, pool()).prop_map(|(id, (min, max))| {
        let mut t = IoThread::new(id);
        t.thread_pool_min = min;
        t.thread_pool_max = max;
        t
    });
    (opt(0u32..=4), vec(thread, 0..=3), opt(pool()))
        .prop_map(|(count, mut ids, default)| {
            let mut seen = std::collections::HashSet::new();
            ids.retain(|t| seen.insert(t.id));
            let mut t = IoThreads::default();
            t.count = count;
            t.ids = ids;
            t.default = default.map(|(min, max)| {
                let mut p = ThreadPool::default();
                p.thread_pool_min = min;
                p.thread_pool_max = max;
                p
            });
            t
        })
        .boxed()
}

fn sched() -> BoxedStrategy<Sched> {
    (one_of(Scheduler::ALL), any::<u16>())
        .prop_map(|(s, p)| Sched::new(s, matches!(s, Scheduler::Fifo | Scheduler::Rr).then_some(p)))
        .boxed()
}

fn cputune() -> BoxedStrategy<Cputune> {
    let period = || opt(1000u64..=1_000_000);
    let quota = || opt(-1i64..=17_592_186_044_415);
    let thread_sched = (opt(cpu_set()), sched()).prop_map(|(threads, sched)| {
        let mut t: ThreadSched = serde_json::from_value(serde_json::json!({"sched": {"scheduler": "batch"}})).unwrap();
        t.threads = threads;
        t.sched = sched;
        t
    });
    let monitor = (0u32..4, cpu_set()).prop_map(|(level, vcpus)| {
        serde_json::from_value::<CacheMonitor>(serde_json::json!({"level": level, "vcpus": vcpus.to_string()})).unwrap()
    });
    let cachetune = (
        cpu_set(),
        opt(re("[a-z0-9]{1,6}")),
        vec((0u32..4, 0u32..4, one_of(CacheType::ALL), kib_size()), 0..=2),
        vec(monitor.clone(), 0..=1),
    )
        .prop_map(|(vcpus, id, caches, monitors)| {
            let mut c: CacheTune = serde_json::from_value(serde_json::json!({"vcpus": vcpus.to_string()})).unwrap();
            c.id = id;
            c.caches = caches
                .into_iter()
                .map(|(id, level, t, size)| {
                    serde_json::from_value(
                        serde_json::json!({"id": id, "level": level, "type": t.as_str(), "size": size.0}),
                    )
                    .unwrap()
                })
                .collect();
            c.monitors = monitors;
            if c.caches.is_empty() && c.monitors.is_empty() {
                c.monitors.push(serde_json::from_value(serde_json::json!({"level": 3, "vcpus": "0"})).unwrap());
            }
            c
        });
    let memorytune = (cpu_set(), vec((0u32..4, 0u32..=100), 1..=2)).prop_map(|(vcpus, nodes)| {
        let mut m: MemoryTune = serde_json::from_value(serde_json::json!({"vcpus": vcpus.to_string()})).unwrap();
        m.nodes = nodes
            .into_iter()
            .map(|(id, bw)| serde_json::from_value(serde_json::json!({"id": id, "bandwidth": bw})).unwrap())
            .collect();
        m
    });
    (
        (opt(0u64..=u64::from(u32::MAX)), period(), quota(), period(), quota(), period(), quota(), period(), quota()),
        (vec((0u16..8, cpu_set()), 0..=2), opt(cpu_set()), vec((1u32..4, cpu_set()), 0..=2)),
        (
            vec(thread_sched.clone(), 0..=2),
            vec(thread_sched, 0..=1),
            opt(sched()),
            vec(cachetune, 0..=1),
            vec(memorytune, 0..=1),
        ),
    )
        .prop_map(|(s, pins, scheds)| {
            let mut c = Cputune::default();
            (
                c.shares,
                c.period,
                c.quota,
                c.global_period,
                c.global_quota,
                c.emulator_period,
                c.emulator_quota,
                c.iothread_period,
                c.iothread_quota,
            ) = s;
            c.vcpupin = pins.0.into_iter().map(|(v, set)| VcpuPin::new(v, set)).collect();
            c.emulatorpin = pins.1;
            c.iothreadpin = pins
                .2
                .into_iter()
                .map(|(t, set)| {
                    serde_json::from_value(serde_json::json!({"iothread": t, "cpuset": set.to_string()})).unwrap()
                })
                .collect();
            (c.vcpusched, c.iothreadsched, c.emulatorsched, c.cachetune, c.memorytune) = scheds;
            c
        })
        .boxed()
}

fn numatune() -> BoxedStrategy<Numatune> {
    let memory =
        (opt_of(NumaMode::ALL), opt_of(NumaPlacement::ALL), opt(cpu_set())).prop_map(|(mode, placement, nodeset)| {
            let mut m = NumaMemory::default();
            m.mode = mode;
            m.placement = placement;
            m.nodeset = if placement == Some(NumaPlacement::Auto) { None } else { nodeset };
            m
        });
    (opt(memory), vec((0u32..3, one_of(NumaMode::ALL), cpu_set()), 0..=2))
        .prop_map(|(memory, nodes)| {
            let mut t = Numatune::default();
            t.memory = memory;
            t.memnodes = nodes.into_iter().map(|(c, m, s)| MemNode::new(c, m, s)).collect();
            t
        })
        .boxed()
}

fn resource() -> BoxedStrategy<Resource> {
    (opt(abs_path()), opt(re("[ -~]{1,20}")))
        .prop_map(|(partition, appid)| {
            let mut r = Resource::default();
            r.partition = partition;
            r.fibrechannel_appid = appid;
            r
        })
        .boxed()
}

fn entries<N: Clone + std::fmt::Debug + 'static>(names: &'static [N], min: usize) -> BoxedStrategy<Vec<Entry<N>>> {
    vec((one_of(names), text(12)), min..=3).prop_map(|v| v.into_iter().map(|(n, t)| Entry::new(n, t)).collect()).boxed()
}

fn sysinfo() -> BoxedStrategy<Vec<Sysinfo>> {
    let system: &'static [SystemEntry] = &[
        SystemEntry::Manufacturer,
        SystemEntry::Product,
        SystemEntry::Version,
        SystemEntry::Serial,
        SystemEntry::Sku,
        SystemEntry::Family,
    ];
    let smbios = (
        entries(BiosEntry::ALL, 0),
        entries(system, 0),
        vec(entries(BaseBoardEntry::ALL, 1), 0..=2),
        entries(ChassisEntry::ALL, 0),
        vec(text(12), 0..=2),
    )
        .prop_map(|(bios, system, base_boards, chassis, oem)| {
            let mut s = Smbios::default();
            s.bios = bios;
            s.system = system;
            s.base_boards = base_boards;
            s.chassis = chassis;
            s.oem_strings = oem;
            Sysinfo::Smbios(Box::new(s))
        });
    let fw_entry = (re("opt/[a-z.]{1,10}/[a-z]{1,8}"), prop_oneof![text(12).prop_map(Ok), abs_path().prop_map(Err)])
        .prop_map(|(name, v)| {
            let (value, file) = match v {
                Ok(t) => (Some(t), None),
                Err(f) => (None, Some(f)),
            };
            serde_json::from_value::<FwCfgEntry>(serde_json::json!({"name": name, "value": value, "file": file}))
                .unwrap()
        });
    let fwcfg = vec(fw_entry, 0..=2).prop_map(Sysinfo::Fwcfg);
    (opt(smbios), opt(fwcfg)).prop_map(|(a, b)| a.into_iter().chain(b).collect()).boxed()
}

fn os_extra() -> BoxedStrategy<OsExtra> {
    let ff = vec((one_of(FirmwareFeatureName::ALL), any_bool()), 0..=2).prop_map(|v| {
        let mut out: Vec<FirmwareFeature> = Vec::new();
        for (n, e) in v {
            if !out.iter().any(|f| f.name == n) {
                out.push(FirmwareFeature::new(n, e));
            }
        }
        out
    });
    let bios = (opt_bool(), opt(-1i16..=i16::MAX)).prop_map(|(u, r)| {
        let mut b = Bios::default();
        b.useserial = u;
        b.reboot_timeout = r;
        b
    });
    (opt_of(Firmware::ALL), ff, opt_of(SmbiosMode::ALL), opt(bios), vec(abs_path(), 0..=2)).boxed()
}

fn idmap() -> BoxedStrategy<Idmap> {
    let range = || vec((any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(s, t, c)| IdRange::new(s, t, c)), 0..=2);
    (range(), range())
        .prop_map(|(uid, gid)| {
            let mut m = Idmap::default();
            m.uid = uid;
            m.gid = gid;
            m
        })
        .boxed()
}

fn state() -> BoxedStrategy<FeatureState> {
    opt_bool()
        .prop_map(|s| {
            if s == Some(true) {
                FeatureState::on()
            } else if s == Some(false) {
                FeatureState::off()
            } else {
                FeatureState::default()
            }
        })
        .boxed()
}

fn hyperv() -> BoxedStrategy<HyperV> {
    let b = || opt_bool();
    (
        any_bool(),
        (b(), b(), opt((any_bool(), opt(4095u32..=u32::MAX))), b(), b(), b(), opt((opt_bool(), opt_bool()))),
        (b(), opt((any_bool(), opt(re("[a-zA-Z0-9 ]{0,12}")))), b(), b(), b(), b(), b(), b()),
    )
        .prop_map(|(passthrough, a, c)| {
            if passthrough {
                return HyperV::passthrough();
            }
            let mut h = HyperV::default();
            h.relaxed = a.0;
            h.vapic = a.1;
            h.spinlocks = a.2.map(|(state, retries)| {
                serde_json::from_value(serde_json::json!({"state": state, "retries": retries})).unwrap()
            });
            h.vpindex = a.3;
            h.runtime = a.4;
            h.synic = a.5;
            h.stimer = a.6.map(|(state, direct)| {
                let mut s = Stimer::default();
                s.state = state;
                s.direct = direct;
                s
            });
            h.reset = c.0;
            h.vendor_id = c.1.map(|(state, value)| {
                serde_json::from_value(serde_json::json!({"state": state, "value": value})).unwrap()
            });
            (h.frequencies, h.reenlightenment, h.tlbflush, h.ipi, h.evmcs, h.avic) = (c.2, c.3, c.4, c.5, c.6, c.7);
            h.mode = if h == HyperV::default() { None } else { Some(HypervMode::Custom) };
            h
        })
        .boxed()
}

fn features_extra() -> BoxedStrategy<FeaturesExtra> {
    let kvm =
        (opt_bool(), opt_bool(), opt_bool(), opt_bool(), opt((any_bool(), opt((10u32..=16).prop_map(|p| 1 << p)))))
            .prop_map(|(hidden, hint, poll, ipi, ring)| {
                let mut k = KvmFeatures::default();
                k.hidden = hidden;
                k.hint_dedicated = hint;
                k.poll_control = poll;
                k.pv_ipi = ipi;
                k.dirty_ring = ring.map(|(state, size)| {
                    serde_json::from_value(serde_json::json!({"state": state, "size": size})).unwrap()
                });
                k
            });
    let hpt = (opt_of(HptResizing::ALL), opt(kib_size())).prop_map(|(r, m)| {
        let mut h = Hpt::default();
        h.resizing = r;
        h.maxpagesize = m;
        h
    });
    (
        (opt(state()), any_bool(), any_bool(), opt(hyperv()), opt(kvm), opt(state()), opt(state())),
        (opt(opt_of(GicVersion::ALL)), opt_of(IoapicDriver::ALL), opt(hpt), opt(state()), opt_bool(), opt_bool()),
        (
            opt_of(MsrsUnknown::ALL),
            opt_bool(),
            opt_of(SpectreMitigation::ALL),
            opt_of(SpectreMitigation::ALL),
            opt_of(IbsMitigation::ALL),
            opt(opt(mib_size())),
        ),
    )
        .prop_map(|(a, b, c)| {
            let mut f = Features::default();
            (f.hap, f.viridian, f.privnet, f.hyperv, f.kvm, f.pvspinlock, f.pmu) = a;
            f.gic = b.0.map(|v| {
                let mut g = Gic::default();
                g.version = v;
                g
            });
            (f.ioapic, f.hpt, f.vmcoreinfo, f.htm, f.nested_hv) = (b.1, b.2, b.3, b.4, b.5);
            (f.msrs, f.ccf_assist, f.cfpc, f.sbbc, f.ibs) = (c.0, c.1, c.2, c.3, c.4);
            f.tcg = c.5.map(|tb| {
                let mut t = Tcg::default();
                t.tb_cache = tb;
                t
            });
            FeaturesExtra(f)
        })
        .boxed()
}

fn numa() -> BoxedStrategy<Numa> {
    let cache = (0u32..4, one_of(CacheAssociativity::ALL), one_of(CachePolicy::ALL), kib_size(), 1u64..=256)
        .prop_map(|(level, a, p, size, line)| {
            serde_json::from_value::<NumaCache>(serde_json::json!({"level": level, "associativity": a.as_str(), "policy": p.as_str(), "size": size.0, "line": line})).unwrap()
        });
    let cell = (any_bool(), kib_size(), opt_of(MemAccess::ALL), opt_bool(), any_bool(), vec(cache, 0..=1), 11u32..=255)
        .prop_map(|(with_id, memory, access, discard, distances, caches, far)| {
            let mut c = NumaCell::new(memory);
            c.id = with_id.then_some(0);
            c.mem_access = access;
            c.discard = discard;
            c.caches = caches;
            // Placeholder distances, fixed to the cell ids by make_consistent.
            if distances {
                c.distances.push(serde_json::from_value(serde_json::json!({"id": 0, "value": far})).unwrap());
            }
            c
        });
    let link = (0u32..3, 0u32..3, opt(0u32..4), one_of(AccessType::ALL), any::<u32>());
    (vec(cell, 1..=3), vec(link.clone(), 0..=2), vec(link, 0..=1))
        .prop_map(|(cells, lat, bw)| {
            let mut n = Numa::new(cells);
            n.interconnects.latencies = lat
                .into_iter()
                .map(|(i, t, c, a, v)| serde_json::from_value(serde_json::json!({"initiator": i, "target": t, "cache": c, "type": a.as_str(), "value": v})).unwrap())
                .collect();
            n.interconnects.bandwidths = bw
                .into_iter()
                .map(|(i, t, c, a, v)| {
                    serde_json::from_value(serde_json::json!({"initiator": i, "target": t, "cache": c, "type": a.as_str(), "value": u64::from(v) * 1024})).unwrap()
                })
                .collect();
            n
        })
        .boxed()
}

fn cpu_cache() -> BoxedStrategy<CpuCache> {
    (opt(1u8..=3), one_of(CpuCacheMode::ALL))
        .prop_map(|(level, mode)| {
            serde_json::from_value(serde_json::json!({"level": level, "mode": mode.as_str()})).unwrap()
        })
        .boxed()
}

fn maxphys() -> BoxedStrategy<MaxPhysAddr> {
    (one_of(MaxPhysAddrMode::ALL), opt(32u32..=52))
        .prop_map(|(mode, bits)| {
            serde_json::from_value(serde_json::json!({"mode": mode.as_str(), "bits": bits})).unwrap()
        })
        .boxed()
}

fn perf() -> BoxedStrategy<Vec<PerfEvent>> {
    vec((one_of(PerfEventName::ALL), any_bool()), 1..=3)
        .prop_map(|v| {
            let mut out: Vec<PerfEvent> = Vec::new();
            for (n, e) in v {
                if !out.iter().any(|p| p.name == n) {
                    out.push(PerfEvent::new(n, e));
                }
            }
            out
        })
        .boxed()
}

fn seclabel() -> BoxedStrategy<SecLabel> {
    (
        one_of(SecLabelType::ALL),
        any_bool(),
        re("[a-z]{1,8}"),
        opt(text_nonempty(12)),
        opt(text_nonempty(12)),
        opt(text_nonempty(12)),
        opt_bool(),
    )
        .prop_map(|(t, typed, model, label, image, base, relabel)| {
            let mut s = SecLabel::new(t);
            if !typed && t == SecLabelType::Dynamic {
                s.label_type = None;
            }
            s.model = Some(model);
            match t {
                SecLabelType::Static => {
                    s.label = Some(label.unwrap_or_else(|| "l".into()));
                    s.imagelabel = image;
                    s.relabel = relabel;
                }
                SecLabelType::None => s.relabel = relabel.filter(|r| !r),
                _ => {
                    s.label = label;
                    s.imagelabel = image;
                    s.baselabel = base;
                    s.relabel = relabel.filter(|r| *r);
                }
            }
            s
        })
        .boxed()
}

fn keywrap() -> BoxedStrategy<Vec<KeyWrapCipher>> {
    vec((one_of(Cipher::ALL), any_bool()), 1..=2)
        .prop_map(|v| {
            let mut out: Vec<KeyWrapCipher> = Vec::new();
            for (n, s) in v {
                if !out.iter().any(|c| c.name == n) {
                    out.push(serde_json::from_value(serde_json::json!({"name": n.as_str(), "state": s})).unwrap());
                }
            }
            out
        })
        .boxed()
}

fn launch_security() -> BoxedStrategy<LaunchSecurity> {
    let sev = (
        opt_bool(),
        opt(any::<u32>()),
        opt(any::<u32>()),
        any::<u32>(),
        opt(any::<u32>()),
        opt(re("[A-Za-z0-9+/=]{1,20}")),
        opt(re("[A-Za-z0-9+/=]{1,20}")),
    )
        .prop_map(|(kh, cbit, rpb, policy, handle, dh, session)| {
            let mut s = Sev::new(policy);
            s.kernel_hashes = kh;
            s.cbitpos = cbit;
            s.reduced_phys_bits = rpb;
            s.handle = handle;
            s.dh_cert = dh;
            s.session = session;
            LaunchSecurity::Sev(Box::new(s))
        });
    prop_oneof![sev, Just(LaunchSecurity::S390Pv)].boxed()
}

fn qemu() -> BoxedStrategy<QemuNamespace> {
    let cmdline = (vec(one_line(0..=12), 0..=3), vec((re("[A-Za-z_][A-Za-z0-9_]{0,8}"), opt(one_line(0..=8))), 0..=2))
        .prop_map(|(args, env)| {
            let mut c = QemuCommandline::new(args);
            c.env = env.into_iter().map(|(n, v)| QemuEnv::new(n, v)).collect();
            c
        });
    let caps = (vec(re("[a-z-]{1,10}"), 0..=2), vec(re("[a-z-]{1,10}"), 0..=2)).prop_map(|(add, del)| {
        let mut c = QemuCapabilities::default();
        c.add = add;
        c.del = del;
        c
    });
    let prop = (re("[a-z0-9]{1,6}"), one_of(PropertyType::ALL), opt(one_line(0..=6))).prop_map(|(n, t, v)| {
        serde_json::from_value::<QemuProperty>(serde_json::json!({"name": n, "type": t.as_str(), "value": v})).unwrap()
    });
    let device = (re("[a-z0-9-]{1,8}"), opt(vec(prop, 0..=2))).prop_map(|(alias, frontend)| {
        serde_json::from_value::<QemuDeviceOverride>(serde_json::json!({"alias": alias, "frontend": frontend})).unwrap()
    });
    (opt(cmdline), opt(caps), opt(vec(device, 0..=2)), opt_of(DeprecationBehavior::ALL))
        .prop_map(|(c, k, o, d)| {
            let mut q = QemuNamespace::default();
            q.commandline = c;
            q.capabilities = k;
            q.overrides = o;
            q.deprecation = d;
            q
        })
        .boxed()
}

/// Fixes what the top-level parts must agree on with the rest of `d`.
pub fn make_consistent(d: &mut Domain) {
    let vcpus = u32::from(d.vcpu.as_ref().map_or(1, |v| v.count));
    // NUMA cells: ids 0.., each vCPU in one cell at most, distances a
    // full matrix or none, interconnects between cells that exist.
    let mut ids: Vec<u32> = Vec::new();
    if let Some(n) = d.cpu.as_mut().and_then(|c| c.numa.as_mut()) {
        let count = u32::try_from(n.cells.len()).unwrap();
        let full = n.cells.iter().all(|c| !c.distances.is_empty());
        for (i, c) in n.cells.iter_mut().enumerate() {
            let id = u32::try_from(i).unwrap();
            if c.id.is_some() {
                c.id = Some(id);
            }
            c.cpus = (id < vcpus).then(|| CpuSet::from_ranges([(id, id)]).unwrap());
            let far = c.distances.first().map_or(20, |d| d.value);
            c.distances = if full {
                (0..count)
                    .map(|j| {
                        serde_json::from_value(serde_json::json!({"id": j, "value": if j == id { 10 } else { far }}))
                            .unwrap()
                    })
                    .collect()
            } else {
                Vec::new()
            };
        }
        ids = (0..count).collect();
        let ic = &mut n.interconnects;
        ic.latencies.retain(|l| l.initiator < count && l.target < count);
        ic.bandwidths.retain(|l| l.initiator < count && l.target < count);
    }
    if let Some(t) = &mut d.numatune {
        let mut seen = std::collections::HashSet::new();
        t.memnodes.retain(|m| ids.contains(&m.cellid) && seen.insert(m.cellid));
    }
    if let Some(pages) = d.memory_backing.as_mut().and_then(|m| m.hugepages.as_mut()) {
        let cells = if ids.is_empty() { vec![0] } else { ids.clone() };
        let mut covered = std::collections::HashSet::new();
        let mut default_seen = false;
        pages.retain_mut(|p| {
            match &p.nodeset {
                None if default_seen => return false,
                None => default_seen = true,
                Some(set) => {
                    let mine: Vec<u32> = set
                        .ranges()
                        .iter()
                        .flat_map(|(a, z)| *a..=*z)
                        .filter(|c| cells.contains(c) && !covered.contains(c))
                        .collect();
                    if mine.is_empty() {
                        return false;
                    }
                    covered.extend(mine.iter().copied());
                    p.nodeset = CpuSet::from_ranges(mine.into_iter().map(|c| (c, c)));
                }
            }
            true
        });
    }
    if let Some(v) = &mut d.vcpus {
        let mut seen = std::collections::HashSet::new();
        v.retain(|s| s.id < vcpus && seen.insert(s.id));
    }
    let threads = d.iothreads.all_ids();
    if let Some(c) = &mut d.cputune {
        let mut seen = std::collections::HashSet::new();
        c.vcpupin.retain(|p| u32::from(p.vcpu) < vcpus && seen.insert(p.vcpu));
        c.iothreadpin.retain(|p| threads.contains(&p.iothread));
    }
    // The SMBIOS system uuid is the domain's; sysinfo mode needs SMBIOS.
    let has_smbios = d.sysinfo.iter().any(|s| matches!(s, Sysinfo::Smbios(_)));
    if d.os.smbios == Some(SmbiosMode::Sysinfo) && !has_smbios {
        d.os.smbios = Some(SmbiosMode::Emulate);
    }
    if !d.os.firmware_features.is_empty() && d.os.firmware.is_none() {
        d.os.firmware = Some(Firmware::Efi);
    }
    // Several labels each name a different model.
    let mut models = std::collections::HashSet::new();
    for (i, s) in d.seclabels.iter_mut().enumerate() {
        let m = s.model.get_or_insert_with(|| "m".into());
        if !models.insert(m.clone()) {
            m.push_str(&i.to_string());
            models.insert(m.clone());
        }
    }
}
