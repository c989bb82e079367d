//! virtkit's storage on Linux: the pools and volumes guests boot from.
//!
//! [`LinuxStorageDriver`] implements the engine's
//! [`StorageDriver`](virtkit_engine::storage_driver::StorageDriver). It has
//! a backend for `dir` pools (a directory of image files, made and read
//! with `qemu-img`), one for `fs` pools (a file system on a device,
//! mounted at the pool's directory, its volumes as a `dir` pool's) and one
//! for `iscsi-direct` pools (the LUNs of an iSCSI target); a pool of any
//! other type can be defined and is refused at start with the reason this
//! host cannot run it.
//!
//! Every volume that is made (created, cloned, uploaded into) is written
//! under a temporary name in the pool's directory and renamed when whole,
//! so a failure or a kill never leaves half a volume listed as a whole one.

mod absent;
mod chap;
mod dir;
mod error;
mod files;
mod fs;
mod initiator;
mod iscsi_direct;
mod mounts;
mod nbd;
mod qcow2;
mod qemu_img;
mod volumes;

use std::path::PathBuf;
use std::sync::Arc;

use virtkit_engine::storage_driver::{PoolBackend, StorageDriver};
use virtkit_model::storage::PoolType;

/// The storage of a Linux host.
#[derive(Debug, Clone)]
pub struct LinuxStorageDriver {
    qemu_img: PathBuf,
}

impl Default for LinuxStorageDriver {
    fn default() -> Self {
        LinuxStorageDriver::new()
    }
}

impl LinuxStorageDriver {
    /// A driver that runs `qemu-img` from `PATH`.
    pub fn new() -> Self {
        LinuxStorageDriver { qemu_img: PathBuf::from("qemu-img") }
    }

    /// A driver that runs this `qemu-img`.
    #[must_use]
    pub fn with_qemu_img(mut self, path: impl Into<PathBuf>) -> Self {
        self.qemu_img = path.into();
        self
    }
}

impl StorageDriver for LinuxStorageDriver {
    fn name(&self) -> &'static str {
        "linux"
    }

    fn backend(&self, pool_type: PoolType) -> Option<Arc<dyn PoolBackend>> {
        let files = || dir::DirBackend::new(qemu_img::QemuImg::new(self.qemu_img.clone()));
        Some(match pool_type {
            PoolType::Dir => Arc::new(files()),
            PoolType::Fs => Arc::new(fs::FsBackend::new(files())),
            PoolType::IscsiDirect => Arc::new(iscsi_direct::IscsiDirect::default()),
            other => Arc::new(absent::Absent::new(other)),
        })
    }

    fn pool_types(&self) -> Vec<PoolType> {
        vec![PoolType::Dir, PoolType::Fs, PoolType::IscsiDirect]
    }
}
