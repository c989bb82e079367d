//! `<perf>`: host perf events counted for the guest.

use serde::{Deserialize, Serialize};

use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    pub enum PerfEventName {
        Cmt = "cmt",
        Mbmt = "mbmt",
        Mbml = "mbml",
        CpuCycles = "cpu_cycles",
        Instructions = "instructions",
        CacheReferences = "cache_references",
        CacheMisses = "cache_misses",
        BranchInstructions = "branch_instructions",
        BranchMisses = "branch_misses",
        BusCycles = "bus_cycles",
        StalledCyclesFrontend = "stalled_cycles_frontend",
        StalledCyclesBackend = "stalled_cycles_backend",
        RefCpuCycles = "ref_cpu_cycles",
        CpuClock = "cpu_clock",
        TaskClock = "task_clock",
        PageFaults = "page_faults",
        ContextSwitches = "context_switches",
        CpuMigrations = "cpu_migrations",
        PageFaultsMin = "page_faults_min",
        PageFaultsMaj = "page_faults_maj",
        AlignmentFaults = "alignment_faults",
        EmulationFaults = "emulation_faults",
    }
}

/// `<event name enabled>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PerfEvent {
    pub name: PerfEventName,
    pub enabled: bool,
}

impl PerfEvent {
    pub fn new(name: PerfEventName, enabled: bool) -> Self {
        PerfEvent { name, enabled }
    }
}

pub(crate) fn read_perf(el: &El<'_, '_>) -> Result<Vec<PerfEvent>> {
    el.one_or_more("event", |e| {
        Ok(PerfEvent {
            name: e.req_attr("name")?,
            enabled: e.yes_no("enabled")?.ok_or_else(|| e.missing_attr("enabled"))?,
        })
    })
}

pub(crate) fn write_perf(w: &mut XmlWriter, events: &[PerfEvent]) {
    w.start("perf");
    for e in events {
        w.start("event");
        w.attr("name", e.name.as_str());
        w.yes_no("enabled", Some(e.enabled));
        w.end();
    }
    w.end();
}
