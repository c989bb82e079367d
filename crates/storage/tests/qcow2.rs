//! Empty qcow2 volumes made without `qemu-img create` are byte for byte
//! what it makes with the same options, pass `qemu-img check`, and are
//! described as a refresh (`qemu-img info`) describes them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use virtkit_engine::types::ObjectKind;

/// `qemu-img create -f qcow2` of the same image, then the two files.
fn made_by_qemu_img(
    dir: &std::path::Path,
    name: &str,
    opts: &str,
    backing: Option<(&str, &str)>,
    size: &str,
) -> Vec<u8> {
    let out = dir.join(format!("{name}.by-qemu-img"));
    let mut c = std::process::Command::new("qemu-img");
    c.args(["create", "-q", "-f", "qcow2"]);
    if !opts.is_empty() {
        c.args(["-o", opts]);
    }
    if let Some((b, f)) = backing {
        c.args(["-b", b, "-F", f]);
    }
    let st = c.arg(&out).arg(size).status().unwrap();
    assert!(st.success());
    let bytes = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    bytes
}

#[tokio::test]
async fn qcow2_volumes_are_the_images_qemu_img_makes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let e = engine();
    let p = dir_pool(&e, "p", &dir).await;
    let base = dir.join("base.img");
    std::fs::write(&base, vec![7u8; 1 << 20]).unwrap();
    let base_s = base.to_str().unwrap();
    // (name, capacity in bytes, <target> extra, qemu-img -o, backing)
    type Case<'a> = (&'a str, u64, &'a str, &'a str, Option<(&'a str, &'a str)>);
    let cases: [Case<'_>; 7] = [
        ("plain.qcow2", 1 << 30, "", "", None),
        ("tiny.qcow2", 5000, "", "", None),
        ("odd.qcow2", (10 << 30) + 12345, "<compat>1.1</compat>", "compat=1.1", None),
        (
            "big.qcow2",
            3 << 40,
            "<clusterSize unit='MiB'>2</clusterSize><features><lazy_refcounts/></features>",
            "cluster_size=2097152,lazy_refcounts=on",
            None,
        ),
        ("huge.qcow2", 100 << 40, "", "", None),
        ("over-raw.qcow2", 1 << 20, "", "", Some((base_s, "raw"))),
        ("small-clusters.qcow2", 1 << 30, "<clusterSize unit='KiB'>4</clusterSize>", "cluster_size=4096", None),
    ];
    for (name, cap, extra, opts, backing) in cases {
        let bs = backing.map_or(String::new(), |(b, f)| {
            format!("<backingStore><path>{b}</path><format type='{f}'/></backingStore>")
        });
        let xml = format!(
            "<volume><name>{name}</name><capacity unit='B'>{cap}</capacity>\
             <target><format type='qcow2'/>{extra}</target>{bs}</volume>"
        );
        let made = e.create_volume(p, vol(&xml), Default::default()).await.unwrap();
        let ours = std::fs::read(dir.join(name)).unwrap();
        let theirs = made_by_qemu_img(&dir, name, opts, backing, &cap.to_string());
        assert!(ours == theirs, "{name}: {} bytes, qemu-img's {} bytes", ours.len(), theirs.len());
        let check = std::process::Command::new("qemu-img").args(["check", "-q"]).arg(dir.join(name)).status().unwrap();
        assert!(check.success(), "{name}: qemu-img check");
        // What the create answered is what a refresh reads with qemu-img info.
        let xml_made = e.object_xml(ObjectKind::Volume, made.uuid, Default::default()).unwrap();
        e.refresh_pool(p, Default::default()).await.unwrap();
        let seen = e.lookup_volume(p, name).unwrap();
        assert_eq!((made.capacity, made.allocation, &made.format), (seen.capacity, seen.allocation, &seen.format));
        let xml_seen = e.object_xml(ObjectKind::Volume, seen.uuid, Default::default()).unwrap();
        assert_eq!(xml_made, xml_seen, "{name}");
    }
}
