//! Generators of the platform devices: `<iommu>`, `<vsock>` and `<shmem>`,
//! keeping to validate's rules (driver options on intel IOMMUs only, no
//! interrupt remapping without the split I/O APIC, an address width of 39
//! or 48; a vsock context id of 3 and up, given when not automatic; shared
//! memory by a unique name, a power of two MiB, interrupts with a server).

use proptest::collection::vec;
use proptest::prelude::*;
use virtkit_model::ByteSize;
use virtkit_model::domain::devices::{
    Iommu, IommuDriver, IommuModel, Shmem, ShmemModel, ShmemMsi, ShmemRole, ShmemServer, VirtioModel, Vsock,
};

use super::virtio_options;
use crate::{abs_path, alias_address, one_of, opt, opt_bool, opt_of, re};

pub(super) fn iommu() -> BoxedStrategy<Iommu> {
    let driver = (opt_bool(), opt_bool(), opt(prop_oneof![Just(39u8), Just(48u8)])).prop_map(|(cm, iotlb, aw)| {
        let mut d = IommuDriver::default();
        (d.caching_mode, d.iotlb, d.aw_bits) = (cm, iotlb, aw);
        d
    });
    (one_of(IommuModel::ALL), opt(driver), alias_address())
        .prop_map(|(model, driver, (alias, address))| {
            let mut m = Iommu::new(model);
            m.driver = driver.filter(|_| model == IommuModel::Intel);
            (m.alias, m.address) = (alias, address);
            m
        })
        .boxed()
}

pub(super) fn vsock() -> BoxedStrategy<Vsock> {
    (opt_of(VirtioModel::ALL), opt_bool(), opt(3u32..=u32::MAX), opt(virtio_options()), alias_address())
        .prop_map(|(model, auto, cid, driver, (alias, address))| {
            let mut v = Vsock::new(cid);
            // With auto='no' the context id is given.
            v.cid_auto = if auto == Some(false) && cid.is_none() { None } else { auto };
            (v.model, v.driver, v.alias, v.address) = (model, driver, alias, address);
            v
        })
        .boxed()
}

pub(super) fn shmems() -> BoxedStrategy<Vec<Shmem>> {
    let one = (
        re("[a-zA-Z0-9_.:+@-]{1,12}"),
        (opt_of(ShmemRole::ALL), opt_of(ShmemModel::ALL), opt(0u32..=10)),
        opt(opt(abs_path())),
        (opt(opt(1u32..=64)), opt_bool()),
        alias_address(),
    )
        .prop_map(|(name, (role, model, mib), server, (vectors, ioeventfd), (alias, address))| {
            let mut s = Shmem::new(name, ShmemModel::IvshmemPlain, ByteSize::mib(1));
            (s.role, s.model) = (role, model);
            s.size = mib.map(|n| ByteSize::mib(1u64 << n));
            s.server = server.map(|path| {
                let mut sv = ShmemServer::default();
                sv.path = path;
                sv
            });
            // Interrupts come from a server.
            s.msi = vectors.filter(|_| s.server.is_some()).map(|vectors| {
                let mut m = ShmemMsi::default();
                (m.vectors, m.ioeventfd) = (vectors, ioeventfd);
                m
            });
            (s.alias, s.address) = (alias, address);
            s
        });
    vec(one, 0..=2)
        .prop_map(|mut v| {
            let mut names = std::collections::HashSet::new();
            v.retain(|s| names.insert(s.name.clone()));
            v
        })
        .boxed()
}
