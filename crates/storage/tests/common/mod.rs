//! An engine on the Linux storage driver, its pools in temporary
//! directories.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod tgt;
pub mod unshare;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;
use uuid::Uuid;
use virtkit_engine::options::{BuildOptions, TransferOptions};
use virtkit_engine::types::{ObjectKind, PoolInfo, VolumeInfo};
use virtkit_engine::{Def, Drivers, Engine, Info, Sink, Source};
use virtkit_model::storage::{Pool, Volume};
use virtkit_storage::LinuxStorageDriver;

pub const MIB: u64 = 1 << 20;

pub fn engine_with(driver: LinuxStorageDriver) -> Engine {
    let domains = virtkit_driver_test::TestDriver::new(virtkit_driver_test::TestHost::default());
    let drivers = Drivers::new(Arc::new(domains)).with_storage_driver(Arc::new(driver));
    Engine::with_drivers(drivers, Default::default())
}

pub fn engine() -> Engine {
    engine_with(LinuxStorageDriver::new())
}

/// Defines a pool of `xml`.
pub async fn define(e: &Engine, xml: &str) -> virtkit_engine::Result<Uuid> {
    let def = Def::Pool(Box::new(Pool::from_xml(xml).unwrap()));
    Ok(e.define_object(def, Default::default()).await?.uuid())
}

/// A dir pool `name` at `dir`, built and started.
pub async fn dir_pool(e: &Engine, name: &str, dir: &Path) -> Uuid {
    let xml = format!("<pool type='dir'><name>{name}</name><target><path>{}</path></target></pool>", dir.display());
    let p = define(e, &xml).await.unwrap();
    e.build_pool(p, BuildOptions::default()).await.unwrap();
    e.start_object(ObjectKind::Pool, p, Default::default()).await.unwrap();
    p
}

pub fn vol(xml: &str) -> Volume {
    Volume::from_xml(xml).unwrap()
}

pub async fn pool_info(e: &Engine, p: Uuid) -> PoolInfo {
    match e.object_info(ObjectKind::Pool, p, Default::default()).await.unwrap() {
        Info::Pool(i) => i,
        other => panic!("not a pool: {other:?}"),
    }
}

/// What `qemu-img info` says of a file.
pub fn qemu_info(path: &Path) -> serde_json::Value {
    let out = std::process::Command::new("qemu-img").args(["info", "-U", "--output=json"]).arg(path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The names in a directory, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

/// Bytes that are not all alike: `n` of them from a seed.
pub fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub async fn upload(e: &Engine, v: &VolumeInfo, bytes: &[u8]) -> virtkit_engine::Result<VolumeInfo> {
    let (tx, rx) = mpsc::channel(4);
    let data = bytes.to_vec();
    let feed = tokio::spawn(async move {
        for c in data.chunks(1 << 20) {
            if tx.send(Ok(c.to_vec())).await.is_err() {
                break;
            }
        }
    });
    let r = e.upload_volume(v.uuid, TransferOptions::default(), Source::Pieces(rx)).await;
    feed.await.unwrap();
    r
}

pub async fn download(e: &Engine, v: &VolumeInfo) -> Vec<u8> {
    let (tx, mut rx) = mpsc::channel(4);
    let reader = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(c) = rx.recv().await {
            all.extend(c);
        }
        all
    });
    let n = e.download_volume(v.uuid, TransferOptions::default(), Sink::Pieces(tx)).await.unwrap();
    let all = reader.await.unwrap();
    assert_eq!(n, all.len() as u64);
    all
}

/// A `qemu-img` that runs the real one, except for `convert`, which runs
/// `convert` (a shell snippet) instead.
pub fn fake_qemu_img(dir: &Path, convert: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("qemu-img");
    let script = format!("#!/bin/sh\nif [ \"$1\" = convert ]; then\n{convert}\nfi\nexec qemu-img \"$@\"\n");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}
