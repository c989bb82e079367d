//! virtkit's QEMU driver (internal): runs `type='qemu'` (TCG emulation) and
//! `type='kvm'` domains as QEMU processes and manages them over QMP.

pub mod agent;
pub mod argv;
pub mod caps;
pub mod qmp;
