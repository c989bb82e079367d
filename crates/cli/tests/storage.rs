//! Real storage from the command line: a directory pool on
//! `qemu:///embed`, in a temporary directory, its volumes made by qemu-img.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../storage/tests/common/unshare.rs"]
mod unshare;

use assert_cmd::Command;

fn virtkit(uri: &str, script: &str) -> std::process::Output {
    Command::cargo_bin("virtkit").unwrap().args(["-c", uri, script]).output().unwrap()
}

fn qemu_info(path: &std::path::Path) -> serde_json::Value {
    let out = std::process::Command::new("qemu-img").args(["info", "-U", "--output=json"]).arg(path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_dir_pool_and_its_volumes_from_the_command_line() {
    let root = tempfile::Builder::new().prefix("vk").tempdir_in("/tmp").unwrap();
    let uri = format!("qemu:///embed?root={}", root.path().display());
    let images = root.path().join("images");
    let input = root.path().join("in.bin");
    let data: Vec<u8> = (0..3u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&input, &data).unwrap();
    let output = root.path().join("out.bin");
    let script = format!(
        "pool-define-as images dir --target {dir}; pool-build images; pool-start images; \
         vol-create-as images disk.qcow2 1G --format qcow2; vol-create-as images a.img 3M --format raw; \
         vol-create-as images meta.qcow2 8M --format qcow2 --prealloc-metadata; \
         vol-upload a.img {input} --pool images; vol-clone a.img b.img --pool images; \
         vol-download b.img {output} --pool images; \
         vol-create-as images top.qcow2 3M --format qcow2 --backing-vol {dir}/a.img --backing-vol-format raw; \
         vol-resize disk.qcow2 2G --pool images; vol-info disk.qcow2 --pool images; vol-list images",
        dir = images.display(),
        input = input.display(),
        output = output.display(),
    );
    let out = virtkit(&uri, &script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Capacity:       2.00 GiB"), "{stdout}");
    let disk = qemu_info(&images.join("disk.qcow2"));
    assert_eq!((disk["format"].as_str(), disk["virtual-size"].as_u64()), (Some("qcow2"), Some(2 << 30)));
    let top = qemu_info(&images.join("top.qcow2"));
    assert_eq!(top["backing-filename-format"], "raw");
    assert_eq!(top["backing-filename"], images.join("a.img").to_str().unwrap());
    assert!(layout(&images.join("meta.qcow2")).1, "metadata is preallocated");
    assert!(std::fs::read(&output).unwrap() == data);
    assert!(std::fs::read(images.join("b.img")).unwrap() == data);

    // Random bytes over a raw volume; virsh's other algorithms are refused.
    let out = virtkit(&uri, "vol-wipe b.img --pool images --algorithm random");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let noise = std::fs::read(images.join("b.img")).unwrap();
    assert!(noise.len() == data.len() && noise != data && noise.iter().filter(|b| **b == 0).count() < data.len() / 64);
    let out = virtkit(&uri, "vol-wipe b.img --pool images --algorithm dod");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("algorithm: dod is not done by virtkit yet (zero, random)"), "{err}");
    assert!(std::fs::read(images.join("b.img")).unwrap() == noise, "a refused wipe changed the volume");

    // The pool is still there for the next connection; bad input is refused.
    let out = virtkit(&uri, "vol-create-as images x.iso 1M --format iso");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("qemu-img cannot create volumes of format iso"));
    let out = virtkit(&uri, "pool-define-as lv logical --target /dev/vg; pool-start lv");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("device-mapper") || err.contains("no backend for logical yet"), "{err}");
    let mut names: Vec<String> =
        std::fs::read_dir(&images).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["a.img", "b.img", "disk.qcow2", "meta.qcow2", "top.qcow2"]);
}

#[test]
fn the_daemon_serves_real_pools_and_moves_their_bytes() {
    let d = common::Daemon::start(&[]);
    let uri = d.uri("qemu");
    let images = d.root().join("images");
    let input = d.root().join("in.bin");
    let data: Vec<u8> = (0..2u32 << 20).map(|i| (i * 13 % 253) as u8).collect();
    std::fs::write(&input, &data).unwrap();
    let output = d.root().join("out.bin");
    let script = format!(
        "pool-define-as images dir --target {dir}; pool-build images; pool-start images; \
         vol-create-as images a.img 2M; vol-upload a.img {input} --pool images; \
         vol-create-as images c.qcow2 2M --format qcow2; vol-download a.img {output} --pool images; \
         vol-info c.qcow2 --pool images",
        dir = images.display(),
        input = input.display(),
        output = output.display(),
    );
    let (code, out, err) = common::run(&uri, &script);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(std::fs::read(&output).unwrap() == data);
    assert!(std::fs::read(images.join("a.img")).unwrap() == data);
    assert_eq!(qemu_info(&images.join("c.qcow2"))["format"], "qcow2");
    assert!(out.contains("Capacity:       2.00 MiB"), "{out}");
    // On the daemon's host both files were handed over, not streamed.
    let log = d.log();
    assert_eq!(log.matches("handoff: file handed over").count(), 2, "{log}");
    assert!(log.contains("upload from a file handed over") && log.contains("download into a file handed over"));
    // A file longer than the volume is refused before anything is written.
    std::fs::write(&input, vec![9u8; (2 << 20) + 1]).unwrap();
    let (code, _, err) = common::run(&uri, &format!("vol-upload a.img {} --pool images", input.display()));
    assert_ne!(code, 0);
    assert!(err.contains("do not fit in the 2097152 bytes of volume 'a.img'"), "{err}");
    assert!(std::fs::read(images.join("a.img")).unwrap() == data);
    // A raw clone reports the sizes qemu-img sees, and takes the daemon
    // no more calls than it needs: the source's pool and document are
    // asked for together.
    let before = d.log().len();
    let (code, out, err) = common::run(&uri, "vol-clone a.img b.img --pool images");
    assert_eq!(code, 0, "{out}\n{err}");
    let log = d.log();
    let mut calls: Vec<&str> =
        log[before..].lines().filter_map(|l| l.split("call=\"").nth(1)?.split('"').next()).collect();
    calls.sort_unstable();
    assert_eq!(
        calls,
        ["create-volume", "get-object-info", "get-object-xml", "hello", "lookup-object", "lookup-object"],
        "{}",
        &log[before..]
    );
    let (code, out, err) = common::run(&uri, "vol-info b.img --pool images --json");
    assert_eq!(code, 0, "{err}");
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    let seen = qemu_info(&images.join("b.img"));
    assert_eq!(seen["format"], "raw");
    assert_eq!((&info["format"], &info["capacity"]), (&seen["format"], &seen["virtual-size"]), "{out}");
    assert_eq!(info["allocation"], seen["actual-size"], "{out}");
    assert!(std::fs::read(images.join("b.img")).unwrap() == data);
    // The wipe's algorithm crosses the wire.
    let (code, _, err) = common::run(&uri, "vol-wipe a.img --pool images --algorithm random");
    assert_eq!(code, 0, "{err}");
    let noise = std::fs::read(images.join("a.img")).unwrap();
    assert!(noise.len() == data.len() && noise.iter().filter(|b| **b == 0).count() < data.len() / 64);
}

/// A qcow2 image's file length, and whether `qemu-img map` places any
/// cluster in it (its metadata preallocated).
fn layout(path: &std::path::Path) -> (u64, bool) {
    let out = std::process::Command::new("qemu-img").args(["map", "--output=json"]).arg(path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let map: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    (std::fs::metadata(path).unwrap().len(), map.iter().any(|m| m.get("offset").is_some()))
}

#[test]
fn pools_built_at_create_and_qcow2_metadata_preallocated_through_the_daemon() {
    let d = common::Daemon::start(&[]);
    let uri = d.uri("qemu");
    let images = d.root().join("made").join("images");
    let script = format!(
        "pool-create-as images dir --target {dir} --build; pool-info images; \
         vol-create-as images meta.qcow2 64M --format qcow2 --prealloc-metadata; \
         vol-create-as images plain.qcow2 64M --format qcow2",
        dir = images.display()
    );
    let (code, out, err) = common::run(&uri, &script);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.starts_with("Pool images created\n"), "{out}");
    assert!(out.contains("State:          running") && out.contains("Persistent:     no"), "{out}");
    let (meta, plain) = (layout(&images.join("meta.qcow2")), layout(&images.join("plain.qcow2")));
    assert!(meta.0 >= 64 << 20 && meta.1, "{meta:?}");
    assert!(plain.0 < 1 << 20 && !plain.1, "{plain:?}");
    assert_eq!(qemu_info(&images.join("meta.qcow2"))["virtual-size"], 64 << 20);

    // Metadata preallocation is for qcow2 only: a raw volume is refused.
    let (code, _, err) = common::run(&uri, "vol-create-as images r.img 1M --prealloc-metadata");
    assert_eq!(code, 1);
    assert!(err.contains("metadata preallocation is not supported for raw volumes"), "{err}");
    assert!(!images.join("r.img").exists());

    // pool-create builds too; a failed build leaves no pool.
    let filed = d.root().join("filed");
    let xml = d.root().join("filed.xml");
    let doc = format!("<pool type='dir'><name>filed</name><target><path>{}</path></target></pool>", filed.display());
    std::fs::write(&xml, doc).unwrap();
    let (code, out, err) = common::run(&uri, &format!("pool-create {} --build", xml.display()));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Pool filed created from"), "{out}");
    assert!(filed.is_dir());
    let there = d.root().join("there");
    std::fs::create_dir(&there).unwrap();
    let script = format!("pool-create-as other dir --target {} --build --no-overwrite", there.display());
    let (code, _, err) = common::run(&uri, &script);
    assert_eq!(code, 1);
    assert!(err.contains("exists already"), "{err}");
    let (code, out, err) = common::run(&uri, "pool-list --all");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("images") && out.contains("filed") && !out.contains("other"), "{out}");

    // --overwrite and --no-overwrite are flags of --build.
    for flag in ["--overwrite", "--no-overwrite"] {
        let (code, _, err) = common::run(&uri, &format!("pool-create-as x dir --target {} {flag}", there.display()));
        assert_ne!(code, 0);
        assert!(err.contains("--build"), "{err}");
        let (code, _, err) = common::run(&uri, &format!("pool-start images {flag}"));
        assert_ne!(code, 0);
        assert!(err.contains("--build"), "{err}");
    }

    // pool-start --build: a defined pool whose directory is not there yet.
    let later = d.root().join("later");
    let (code, _, err) = common::run(&uri, &format!("pool-define-as later dir --target {}", later.display()));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = common::run(&uri, "pool-start later");
    assert_eq!(code, 1);
    assert!(err.contains("later"), "{err}");
    let (code, out, err) = common::run(&uri, "pool-start later --build --no-overwrite; pool-info later");
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Pool later started\n"), "{out}");
    assert!(out.contains("State:          running") && out.contains("Persistent:     yes"), "{out}");
    assert!(later.is_dir());
    // A failed build leaves it defined and inactive.
    let (code, _, err) = common::run(&uri, "pool-destroy later; pool-start later --build --no-overwrite");
    assert_eq!(code, 1);
    assert!(err.contains("exists already"), "{err}");
    let (code, out, err) = common::run(&uri, "pool-info later");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("State:          inactive"), "{out}");
    // Networks are not built: clap knows no --build for net-start.
    let (code, _, err) = common::run(&uri, "net-start default --build");
    assert_ne!(code, 0);
    assert!(err.contains("--build"), "{err}");
}

#[test]
fn the_system_daemon_defines_the_default_pool_once() {
    let mut d = common::Daemon::start(&["--default-pool", "yes"]);
    let uri = d.uri("qemu");
    let images = d.root().join("images");
    let (code, out, err) = common::run(&uri, "pool-list --all; pool-dumpxml default");
    assert_eq!(code, 0, "{out}\n{err}");
    let row = out.lines().find(|l| l.trim_start().starts_with("default")).unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("active") && row.contains("yes"), "active and autostarted: {out}");
    assert!(out.contains(&format!("<path>{}</path>", images.display())), "{out}");
    assert!(images.is_dir(), "the pool's directory was built");

    // A volume made there outlives the daemon; an undefined default pool
    // stays undefined.
    let (code, _, err) = common::run(&uri, "vol-create-as default disk.qcow2 10M --format qcow2");
    assert_eq!(code, 0, "{err}");
    d.kill9();
    d.spawn();
    let (code, out, err) = common::run(&uri, "vol-list default; pool-destroy default; pool-undefine default");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("disk.qcow2"), "{out}");
    d.kill9();
    d.spawn();
    let (code, out, err) = common::run(&uri, "pool-list --all");
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("default"), "an undefined default pool came back: {out}");
    assert!(images.join("disk.qcow2").exists(), "undefining the pool kept its data");
}

#[test]
fn a_daemon_with_its_own_root_defines_no_default_pool() {
    let d = common::Daemon::start(&[]);
    let (code, out, err) = common::run(&d.uri("qemu"), "pool-list --all");
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("default"), "{out}");
}

/// The (source, type) of every mount at `point`, from mountinfo.
fn mounts_at(point: &std::path::Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines()
        .filter_map(|l| {
            let (head, tail) = l.split_once(" - ")?;
            let mut tail = tail.split(' ');
            let (fstype, source) = (tail.next()?, tail.next()?);
            (head.split(' ').nth(4)? == point.to_str()?).then(|| (source.to_owned(), fstype.to_owned()))
        })
        .collect()
}

const IN_MOUNT_NS: &str = "VIRTKIT_CLI_STORAGE_IN_MOUNT_NS";

/// An fs pool on an image file, in a mount namespace of the test's own
/// (it runs itself again under `unshare -m`; virtkitd runs in it too):
/// built, mounted, holding a volume; after virtkitd is killed, the next
/// one has it active, mounted once, its volume listed, and unmounts it.
#[test]
fn an_fs_pool_stays_mounted_and_managed_across_a_daemon_kill() {
    let name = "an_fs_pool_stays_mounted_and_managed_across_a_daemon_kill";
    if !unshare::again(name, &["-m"], IN_MOUNT_NS) {
        return;
    }
    let mut d = common::Daemon::start(&[]);
    let uri = d.uri("qemu");
    let img = d.root().join("fs.img");
    std::fs::File::create(&img).unwrap().set_len(64 << 20).unwrap();
    let target = d.root().join("mnt");
    let xml = d.root().join("pool.xml");
    std::fs::write(
        &xml,
        format!(
            "<pool type='fs'><name>fsp</name><source><device path='{}'/><format type='ext4'/></source>\
             <target><path>{}</path></target></pool>",
            img.display(),
            target.display()
        ),
    )
    .unwrap();
    let script = format!("pool-define {}; pool-build fsp; pool-start fsp; vol-create-as fsp a.img 2M", xml.display());
    let (code, out, err) = common::run(&uri, &script);
    assert_eq!(code, 0, "{out}\n{err}");
    let mounted = mounts_at(&target);
    assert_eq!(mounted.len(), 1, "{mounted:?}");
    assert_eq!(mounted[0].1, "ext4");
    assert!(target.join("a.img").is_file());
    let (code, _, err) = common::run(&uri, "pool-build fsp --overwrite");
    assert_ne!(code, 0);
    assert!(err.contains("is active"), "{err}");

    d.kill9();
    d.spawn();
    let (code, out, err) = common::run(&uri, "pool-info fsp --json");
    assert_eq!(code, 0, "{out}\n{err}");
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((info["state"].as_str(), info["volumes"].as_u64()), (Some("active"), Some(1)), "{info}");
    assert_eq!(mounts_at(&target), mounted);
    let (code, out, err) = common::run(&uri, "vol-list fsp");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("a.img"), "{out}");

    let (code, out, err) = common::run(&uri, "pool-destroy fsp");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(mounts_at(&target).is_empty());
    assert!(!target.join("a.img").exists());
    let loops = std::process::Command::new("losetup").arg("-j").arg(&img).output().unwrap();
    assert!(loops.stdout.is_empty(), "{}", String::from_utf8_lossy(&loops.stdout));
}
