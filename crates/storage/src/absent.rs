//! The pool types this host has no backend for: they can be defined, and
//! starting one is refused with the reason.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use virtkit_engine::storage_driver::{ActivePool, MakeMode, PoolActive, PoolAuth, PoolBackend, PoolScan};
use virtkit_engine::{Error, ErrorKind, JobCtl, ObjRef, Result};
use virtkit_model::storage::{Pool, PoolType, Volume};

pub(crate) struct Absent {
    pool_type: PoolType,
}

impl Absent {
    pub(crate) fn new(pool_type: PoolType) -> Self {
        Absent { pool_type }
    }

    /// Why pools of this type cannot run here.
    fn reason(&self) -> String {
        let t = self.pool_type;
        let dm = Path::new("/dev/mapper/control").exists();
        match t {
            PoolType::Logical | PoolType::Mpath if !dm => format!("{t}: device-mapper is not available on this host"),
            PoolType::Zfs if !Path::new("/dev/zfs").exists() => format!("{t}: zfs is not available on this host"),
            _ => format!("no backend for {t} yet"),
        }
    }

    fn refuse(&self) -> Error {
        Error::new(ErrorKind::Unsupported, self.reason())
    }
}

#[async_trait]
impl PoolBackend for Absent {
    fn pool_type(&self) -> PoolType {
        self.pool_type
    }

    async fn start(&self, _pool: &ObjRef, _def: Arc<Pool>, _auth: Option<&PoolAuth>) -> Result<PoolActive> {
        Err(self.refuse())
    }

    async fn stop(&self, _active: ActivePool<'_>) -> Result<()> {
        Err(self.refuse())
    }

    async fn refresh(&self, _active: ActivePool<'_>) -> Result<PoolScan> {
        Err(self.refuse())
    }

    async fn create_volume(
        &self,
        _active: ActivePool<'_>,
        _vol: &Volume,
        _from: Option<&Volume>,
        _mode: MakeMode,
        _job: &JobCtl,
    ) -> Result<Volume> {
        Err(self.refuse())
    }

    async fn delete_volume(&self, _active: ActivePool<'_>, _vol: &Volume) -> Result<()> {
        Err(self.refuse())
    }
}
