//! Human output (aligned tables, like virsh's) and JSON output (stable;
//! documented in docs/cli-json.md).

use serde::Serialize;
use virtkit::model::domain::Domain as Def;
use virtkit::{DomainInfo, DomainList, Event};

use crate::commands::Failure;

pub fn json<T: Serialize>(v: &T) -> Result<(), Failure> {
    let s = serde_json::to_string_pretty(v).map_err(|e| Failure::Message(format!("cannot write JSON: {e}")))?;
    println!("{s}");
    Ok(())
}

/// A list as `--json` prints it: `{"revision": …, "<plural>": [...]}`.
pub fn list_json<T: Serialize>(plural: &str, list: &virtkit::List<T>) -> Result<(), Failure> {
    let items = serde_json::to_value(&list.items).map_err(|e| Failure::Message(format!("cannot write JSON: {e}")))?;
    json(&serde_json::json!({ "revision": list.revision, plural: items }))
}

pub fn json_line<T: Serialize>(v: &T) -> Result<(), Failure> {
    let s = serde_json::to_string(v).map_err(|e| Failure::Message(format!("cannot write JSON: {e}")))?;
    println!("{s}");
    Ok(())
}

/// Prints rows under a header, columns padded to the widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, c) in cells.enumerate() {
            s.push(' ');
            s.push_str(c);
            if i + 1 < widths.len() {
                s.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        println!("{}", s.trim_end());
    };
    line(&mut header.iter().copied());
    let total: usize = widths.iter().sum::<usize>() + 3 * widths.len();
    println!("{}", "-".repeat(total));
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
}

pub fn list(list: &DomainList) -> Result<(), Failure> {
    let rows: Vec<Vec<String>> = list
        .items
        .iter()
        .map(|d| {
            vec![
                d.id.map_or_else(|| "-".to_owned(), |i| i.to_string()),
                d.name.clone(),
                d.state.display_name().to_owned(),
            ]
        })
        .collect();
    table(&["Id", "Name", "State"], &rows);
    Ok(())
}

/// `dominfo --json`.
#[derive(Serialize)]
pub struct DomInfo<'a> {
    #[serde(flatten)]
    info: &'a DomainInfo,
    os_type: &'a str,
    domain_type: &'a str,
}

impl<'a> DomInfo<'a> {
    pub fn new(info: &'a DomainInfo, def: &'a Def) -> Self {
        DomInfo { info, os_type: def.os.os_type.as_str(), domain_type: def.domain_type.as_str() }
    }
}

pub fn dominfo(info: &DomainInfo, def: &Def) -> Result<(), Failure> {
    let kib = |b: u64| format!("{} KiB", b.div_ceil(1024));
    let rows: Vec<(&str, String)> = vec![
        ("Id", info.id.map_or_else(|| "-".to_owned(), |i| i.to_string())),
        ("Name", info.name.clone()),
        ("UUID", info.uuid.to_string()),
        ("Type", def.domain_type.to_string()),
        ("OS Type", def.os.os_type.to_string()),
        ("State", info.state.display_name().to_owned()),
        ("Reason", info.reason.to_string()),
        ("CPU(s)", info.vcpus.to_string()),
        (
            "CPU time",
            info.stats.as_ref().map_or_else(|| "-".to_owned(), |s| format!("{:.1}s", s.cpu_time_ns as f64 / 1e9)),
        ),
        ("Max memory", kib(def.max_memory.as_ref().map_or(info.memory, |m| m.size.as_bytes()))),
        (
            "Used memory",
            kib(info
                .stats
                .as_ref()
                .map_or_else(|| def.current_memory.unwrap_or(def.memory).as_bytes(), |s| s.memory_current)),
        ),
        ("Persistent", if info.persistent { "yes" } else { "no" }.to_owned()),
        ("Autostart", if info.autostart { "enable" } else { "disable" }.to_owned()),
        ("Generation", info.generation.to_string()),
    ];
    for (k, v) in rows {
        println!("{:<16}{v}", format!("{k}:"));
    }
    Ok(())
}

/// `domstats --json`: one object per domain.
pub fn domstats_json(domains: &[DomainInfo]) -> serde_json::Value {
    serde_json::Value::Array(
        domains
            .iter()
            .map(|d| {
                serde_json::json!({
                    "name": d.name,
                    "uuid": d.uuid,
                    "state": d.state,
                    "reason": d.reason,
                    "stats": d.stats,
                })
            })
            .collect(),
    )
}

/// virsh's `domstats` layout: `key=value` lines under each domain.
pub fn domstats(domains: &[DomainInfo]) -> Result<(), Failure> {
    for (i, d) in domains.iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!("Domain: '{}'", d.name);
        println!("  state.state={}", d.state.libvirt_code());
        println!("  state.reason={}", d.reason.libvirt_code(d.state).unwrap_or(0));
        let Some(s) = &d.stats else { continue };
        println!("  cpu.time={}", s.cpu_time_ns);
        println!("  balloon.current={}", s.memory_current / 1024);
        println!("  balloon.maximum={}", s.memory_max / 1024);
        println!("  vcpu.current={}", s.vcpus);
        println!("  net.count={}", s.net.len());
        for (n, net) in s.net.iter().enumerate() {
            println!("  net.{n}.name={}", net.dev);
            println!("  net.{n}.rx.bytes={}", net.rx_bytes);
            println!("  net.{n}.rx.pkts={}", net.rx_packets);
            println!("  net.{n}.tx.bytes={}", net.tx_bytes);
            println!("  net.{n}.tx.pkts={}", net.tx_packets);
        }
        println!("  block.count={}", s.block.len());
        for (n, b) in s.block.iter().enumerate() {
            println!("  block.{n}.name={}", b.dev);
            println!("  block.{n}.rd.reqs={}", b.rd_reqs);
            println!("  block.{n}.rd.bytes={}", b.rd_bytes);
            println!("  block.{n}.wr.reqs={}", b.wr_reqs);
            println!("  block.{n}.wr.bytes={}", b.wr_bytes);
        }
    }
    Ok(())
}

pub fn event(e: &Event) {
    let now = match e.state.domain() {
        Some(s) => format!("{} ({})", s.state.display_name(), s.reason),
        None => e.state.word().to_owned(),
    };
    let pool = e.pool.as_ref().map(|p| format!(" in pool '{p}'")).unwrap_or_default();
    println!("event {}: {} '{}'{pool} {} ({}); now {now}", e.revision, e.object.noun(), e.name, e.kind, e.detail);
}
