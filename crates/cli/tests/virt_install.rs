//! The witness: documents as users have them, written by Debian's
//! `virt-install --print-xml` (virtinst 4.1) against libvirt 9.0's own
//! daemon, for every invocation in `virt_install/invocations.txt` (OS
//! variants, disks, networks, graphics, sound, TPM, UEFI, channels,
//! multiqueue, hugepages, iothreads, USB, ...).
//!
//! `virt_install/write_documents.py` runs a private libvirtd (every path in
//! a temp directory, its QEMU driver probing this host's QEMU and a KVM it
//! may open in a mount namespace of its own) and presents it to
//! virt-install as `qemu:///system`. Every document it writes must be
//! accepted as it is. Then each is started under TCG on `qemu:///embed`,
//! changed only as this host needs: `type='qemu'` rather than `kvm` (KVM
//! cannot run guests here), `host-passthrough` CPUs as `maximum` (what
//! QEMU's TCG offers), and interfaces on user networking until host
//! networks exist (with one queue: user networking has no more). QEMU must accept the command line and run, with the
//! parts that need more than QEMU checked in the running guest's world:
//! SPICE answers on its port, swtpm runs for a TPM, UEFI guests got their
//! NVRAM copied from OVMF's template. What this host cannot do is refused
//! at start with the reason (hugepages: this kernel has no hugetlbfs).
//!
//! Needs root, virtinst, libvirt-daemon, libvirt-daemon-driver-qemu,
//! python3-libvirt, qemu-utils and OVMF (scripts/test installs them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use virtkit::{Connection, DomainState, PowerOffOptions, StartOptions, XmlOptions};

/// The documents, each with its name.
fn write_documents(out: &Path) -> Vec<(String, String)> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/virt_install");
    let status = std::process::Command::new("/usr/bin/python3")
        .arg(here.join("write_documents.py"))
        .arg(here.join("invocations.txt"))
        .arg(out)
        .status()
        .expect("python3 runs (apt-get install python3 python3-libvirt virtinst)");
    assert!(status.success(), "virt-install did not write its documents ({status})");
    let mut docs: Vec<(String, String)> = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    docs.sort();
    docs
}

/// The document as this host can run it (see the module's comment).
fn for_this_host(xml: &str) -> String {
    let mut out = String::new();
    let mut in_interface = false;
    for line in xml.lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        if t.starts_with("<interface type=\"network\"") || t.starts_with("<interface type=\"bridge\"") {
            in_interface = true;
            out.push_str(&format!("{indent}<interface type=\"user\">\n"));
            continue;
        }
        if in_interface && t.starts_with("<source ") {
            continue;
        }
        if in_interface && t.starts_with("<driver ") {
            // User networking has one queue: a multiqueue NIC gets one
            // until it has its host network (multiqueue taps have argv
            // golden tests).
            let mut kept = t.to_owned();
            if let Some(at) = kept.find(" queues=\"") {
                let end = kept[at + 9..].find('"').map_or(kept.len(), |e| at + 10 + e);
                kept.replace_range(at..end, "");
            }
            if kept != "<driver/>" {
                out.push_str(&format!("{indent}{kept}\n"));
            }
            continue;
        }
        if t.starts_with("</interface>") {
            in_interface = false;
        }
        let line = line
            .replace("<domain type=\"kvm\">", "<domain type=\"qemu\">")
            .replace("<cpu mode=\"host-passthrough\"", "<cpu mode=\"maximum\"");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Processes whose command line starts with `prefix` and names `root`.
fn processes(prefix: &str, root: &Path) -> usize {
    let root = root.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.starts_with(prefix) && cmd.contains(&root)
        })
        .count()
}

/// What went wrong with one document, or what was checked.
type Outcome = Result<String, String>;

/// Starts one document under TCG, checks it runs, and stops it.
async fn run_one(conn: Arc<Connection>, root: PathBuf, xml: String) -> Outcome {
    let dom = conn.define_xml(&xml, Default::default()).await.map_err(|e| format!("define: {e}"))?;
    let started = dom.start(StartOptions::default()).await;
    if let Err(e) = started {
        let msg = e.to_string();
        dom.undefine(Default::default()).await.map_err(|e| format!("undefine: {e}"))?;
        // Huge pages are the host's to give: this one has none free (and a
        // test may not reserve them, which is host-wide).
        let free = std::fs::read_to_string("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if xml.contains("<hugepages/>") && free == 0 && msg.contains("huge pages") {
            return Ok(format!("refused at start, as this host has no free huge pages: {msg}"));
        }
        return Err(format!("start: {msg}"));
    }
    let result = check_running(&dom, &root, &xml).await;
    let stop = dom.power_off(PowerOffOptions::default()).await;
    let undefine = dom.undefine(Default::default()).await;
    let checked = result?;
    stop.map_err(|e| format!("power off: {e}"))?;
    undefine.map_err(|e| format!("undefine: {e}"))?;
    Ok(checked)
}

async fn check_running(dom: &virtkit::Domain, root: &Path, xml: &str) -> Outcome {
    let uuid = dom.uuid().to_string();
    // A few seconds of running: QEMU took the command line and the guest's
    // firmware is up, not merely a process that has yet to fail.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let state = dom.state().await.map_err(|e| format!("state: {e}"))?;
    if state.state != DomainState::Running {
        return Err(format!("{:?} after start, not running", state.state));
    }
    if common::qemu_of(&uuid).is_none() {
        return Err("no QEMU process".into());
    }
    let mut seen = vec!["running".to_owned()];
    let live = dom.xml(XmlOptions::default()).await.map_err(|e| format!("xml: {e}"))?;
    let def = virtkit::model::domain::Domain::from_xml(&live).map_err(|e| format!("live xml: {e}"))?;
    for g in &def.devices.graphics {
        if let virtkit::model::domain::devices::Graphics::Spice(s) = g {
            let port = s.port.and_then(|p| u16::try_from(p).ok()).ok_or("no SPICE port in the live definition")?;
            if !common::spice_answers(port) {
                return Err(format!("no SPICE server on port {port}"));
            }
            seen.push(format!("SPICE on {port}"));
        }
    }
    if xml.contains("<tpm ") {
        let n = processes("/usr/bin/swtpm socket", root);
        if n == 0 {
            return Err("no swtpm runs for its TPM".into());
        }
        seen.push("swtpm".into());
    }
    if xml.contains("firmware=\"efi\"") {
        let nvram = root.join(format!("nvram/{uuid}_VARS.fd"));
        if !nvram.is_file() {
            return Err(format!("no NVRAM at {}", nvram.display()));
        }
        seen.push("OVMF with its NVRAM".into());
    }
    let log = std::fs::read_to_string(root.join(format!("log/{uuid}.log"))).unwrap_or_default();
    for (dev, what) in [("usb-redir", "USB redirection"), ("intel-hda", "HD audio"), ("AC97", "AC97")] {
        if xml.contains(if dev == "usb-redir" { "<redirdev" } else { "<sound" }) && log.contains(dev) {
            seen.push(what.into());
        }
    }
    Ok(seen.join(", "))
}

#[test]
fn for_this_host_changes_only_what_this_host_needs() {
    let doc = "<domain type=\"kvm\">\n  <cpu mode=\"host-passthrough\"/>\n  <devices>\n    <interface type=\"bridge\">\n      <source bridge=\"br0\"/>\n      <model type=\"virtio\"/>\n      <driver queues=\"4\"/>\n    </interface>\n    <interface type=\"network\">\n      <source network=\"default\"/>\n      <driver name=\"vhost\" queues=\"2\" rx_queue_size=\"256\"/>\n    </interface>\n  </devices>\n</domain>\n";
    let want = "<domain type=\"qemu\">\n  <cpu mode=\"maximum\"/>\n  <devices>\n    <interface type=\"user\">\n      <model type=\"virtio\"/>\n    </interface>\n    <interface type=\"user\">\n      <driver name=\"vhost\" rx_queue_size=\"256\"/>\n    </interface>\n  </devices>\n</domain>\n";
    assert_eq!(for_this_host(doc), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virt_install_documents_are_accepted_whole_and_run() {
    let out = tempfile::Builder::new().prefix("vi").tempdir_in("/tmp").unwrap();
    let docs = write_documents(out.path());
    assert!(docs.len() >= 30, "only {} documents written", docs.len());

    // Every one accepted as virt-install wrote it.
    let refused: Vec<String> = docs
        .iter()
        .filter_map(|(name, xml)| virtkit::model::domain::Domain::from_xml(xml).err().map(|e| format!("{name}: {e}")))
        .collect();
    let docs: Vec<_> =
        docs.into_iter().filter(|(_, xml)| virtkit::model::domain::Domain::from_xml(xml).is_ok()).collect();

    // Every one runs under TCG, four invocations at a time; the steps of one
    // (install, then boot) one after the other, as virt-install runs them.
    let mut invocations: Vec<Vec<(String, String)>> = Vec::new();
    for (name, xml) in &docs {
        let invocation = name.split('.').next().unwrap();
        match invocations.last_mut() {
            Some(steps) if steps[0].0.split('.').next() == Some(invocation) => steps.push((name.clone(), xml.clone())),
            _ => invocations.push(vec![(name.clone(), xml.clone())]),
        }
    }
    let lab = tempfile::Builder::new().prefix("vk").tempdir_in("/tmp").unwrap();
    let root = lab.path().to_path_buf();
    let conn = Arc::new(Connection::open(&format!("qemu:///embed?root={}", root.display())).await.unwrap());
    let started = Instant::now();
    let mut results = Vec::new();
    for batch in invocations.chunks(4) {
        let tasks: Vec<_> = batch
            .iter()
            .map(|steps| {
                let (conn, root, steps) = (conn.clone(), root.clone(), steps.clone());
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    for (name, xml) in steps {
                        let r = run_one(conn.clone(), root.clone(), for_this_host(&xml)).await;
                        out.push((name, r));
                    }
                    out
                })
            })
            .collect();
        for t in tasks {
            results.extend(t.await.unwrap());
        }
    }
    let mut failed = Vec::new();
    for (name, r) in &results {
        match r {
            Ok(what) => println!("{name}: {what}"),
            Err(e) => {
                println!("{name}: FAILED: {e}");
                failed.push(format!("{name}: {e}"));
            }
        }
    }
    println!("{} documents started and stopped in {:.0?}", results.len(), started.elapsed());
    assert_eq!(processes("/usr/bin/qemu-system-x86_64", &root), 0, "QEMU left behind");
    assert!(refused.is_empty(), "virt-install documents refused:\n{}", refused.join("\n"));
    assert!(failed.is_empty(), "virt-install documents that did not run:\n{}", failed.join("\n"));
}
