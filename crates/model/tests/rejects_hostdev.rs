//! Bad host devices, memory devices, IOMMU, vsock, shared memory and
//! filesystems: each mistake is refused with its line, column and path, and
//! every one of a document in one run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use virtkit_model::domain::Domain;

/// A valid base document; tests add devices and top-level parts to it.
const BASE: &str = "\
<domain type='kvm'>
  <name>base</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <memory unit='MiB'>512</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
  </os>
  <devices>
  </devices>
</domain>
";

fn with_devices(devices: &str) -> String {
    BASE.replacen("  </devices>", &format!("{devices}\n  </devices>"), 1)
}

/// Each error as `line:column: path: message`.
fn every_line(xml: &str) -> Vec<String> {
    Domain::from_xml(xml).unwrap_err().to_string().lines().map(str::to_owned).collect()
}

fn assert_errors(xml: &str, want: &[&str]) {
    let errs = every_line(xml);
    for w in want {
        assert!(errs.iter().any(|e| e.ends_with(w)), "missing {w:?} in {errs:#?}");
    }
    assert_eq!(errs.len(), want.len(), "{errs:#?}");
}

fn round_trips(xml: &str) -> Domain {
    let d = Domain::from_xml(xml).unwrap();
    assert_eq!(Domain::from_xml(&d.to_xml()).unwrap(), d, "{}", d.to_xml());
    assert_eq!(Domain::from_json(&d.to_json()).unwrap(), d);
    d
}

#[test]
fn a_pci_host_address_out_of_range_is_refused_where_it_is() {
    let xml = with_devices(
        "    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source>
        <address domain='0x10000' bus='0x06' slot='0x20' function='0x8'/>
      </source>
    </hostdev>",
    );
    let errs = every_line(&xml);
    assert_eq!(
        errs,
        [
            "12:18: /domain/devices/hostdev/source/address/@domain: 65536 is out of range (at most 65535)",
            "12:46: /domain/devices/hostdev/source/address/@slot: 32 is out of range (at most 31)",
            "12:58: /domain/devices/hostdev/source/address/@function: 8 is out of range (at most 7)",
        ],
        "{errs:#?}"
    );
}

#[test]
fn host_devices_are_checked_each_and_together() {
    let xml = with_devices(
        "    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0000' bus='0x06' slot='0x12'/></source>
    </hostdev>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0000' bus='0x06' slot='0x12' function='0x1'/></source>
      <teaming type='transient' persistent='ua-backup0'/>
    </hostdev>
    <hostdev mode='subsystem' type='pci' managed='no'>
      <source><address domain='0x0000' bus='0x06' slot='0x12' function='0x1'/></source>
    </hostdev>
    <hostdev mode='subsystem' type='usb'>
      <source><vendor id='0x1234'/></source>
    </hostdev>
    <hostdev mode='subsystem' type='usb'>
      <source><address bus='1000' device='3'/></source>
    </hostdev>
    <hostdev mode='subsystem' type='scsi_host'>
      <source protocol='vhost' wwpn='naa.123'/>
    </hostdev>
    <hostdev mode='subsystem' type='mdev' model='vfio-ccw' display='on' ramfb='on'>
      <source><address uuid='53764d0e-85a0-42b4-af5c-2046b460b1dc'/></source>
    </hostdev>",
    );
    assert_errors(
        &xml,
        &[
            "/domain/devices/hostdev[1]/source/address: a host PCI device needs its function",
            "/domain/devices/hostdev[2]/teaming/@persistent: no interface has the alias 'ua-backup0'",
            "/domain/devices/hostdev[3]: host PCI device 0000:06:12.1 is already given to the guest by /domain/devices/hostdev[2]",
            "/domain/devices/hostdev[4]/source: a USB device is named by vendor and product together",
            "/domain/devices/hostdev[5]/source/address/@bus: 1000 is out of range (at most 999)",
            "/domain/devices/hostdev[6]/source/@wwpn: 'naa.123' is not a WWPN (naa. and 16 hex digits)",
            "/domain/devices/hostdev[7]/@display: only a vfio-pci mediated device has a display",
        ],
    );
    // A word outside the vocabulary stops that device only.
    assert_errors(
        &with_devices("    <hostdev mode='subsystem' type='pcie'/>"),
        &["/domain/devices/hostdev/@type: 'pcie' is not one of pci, usb, scsi, scsi_host, mdev"],
    );
}

#[test]
fn memory_devices_need_max_memory_and_fit_in_it() {
    let dimm = "    <memory model='dimm'>
      <target><size unit='MiB'>256</size></target>
      <address type='dimm' slot='0'/>
    </memory>";
    // No <maxMemory>: nowhere to put it.
    assert_errors(
        &with_devices(dimm),
        &["/domain/devices/memory: a dimm memory device needs <maxMemory> (the guest's room for memory devices)"],
    );
    let max = |size: &str, slots: u32, devices: &str| {
        with_devices(devices).replacen(
            "<memory unit='MiB'>512</memory>",
            &format!("<maxMemory slots='{slots}' unit='MiB'>{size}</maxMemory>\n  <memory unit='MiB'>512</memory>"),
            1,
        )
    };
    round_trips(&max("1024", 2, dimm));
    let two = format!("{dimm}\n{}", dimm.replace("slot='0'", "slot='3'"));
    assert_errors(
        &max("768", 2, &two),
        &[
            "/domain/memory: memory devices (524288 KiB) leave nothing of <memory> (524288 KiB), which counts them, for the base memory",
            "/domain/devices/memory[2]/address/@slot: slot 3 is beyond <maxMemory slots='2'>",
        ],
    );
    let nvdimm = "    <memory model='nvdimm'>
      <source><pagesize unit='KiB'>2048</pagesize></source>
      <target><size unit='MiB'>128</size><block unit='MiB'>2</block></target>
    </memory>
    <memory model='virtio-mem'>
      <target><size unit='MiB'>128</size><block unit='KiB'>3000</block><requested unit='MiB'>256</requested></target>
    </memory>";
    assert_errors(
        &max("2048", 4, nvdimm),
        &[
            "/domain/devices/memory[1]: a nvdimm device is backed by a host file: give <source><path>",
            "/domain/devices/memory[1]/source: a nvdimm device is a file: pagesize and nodemask are for RAM",
            "/domain/devices/memory[1]/target: block, requested and current are a virtio-mem device's",
            "/domain/devices/memory[2]/target/block: 3000 KiB is not a power of two",
            "/domain/devices/memory[2]/target/requested: more is requested than the device's size",
        ],
    );
}

#[test]
fn one_vsock_and_one_iommu_with_their_rules() {
    let two = with_devices("    <vsock model='virtio'><cid auto='yes'/></vsock>\n    <vsock model='virtio'/>");
    let errs = every_line(&two);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].starts_with("11:5: /domain/devices/vsock"), "{errs:#?}");
    assert!(errs[0].contains("<vsock>"), "{errs:#?}");
    assert_errors(
        &with_devices(
            "    <vsock><cid auto='no' address='2'/></vsock>
    <iommu model='intel'><driver intremap='on' eim='on' aw_bits='40'/></iommu>",
        ),
        &[
            "/domain/devices/vsock/cid/@address: 2 is reserved (0 to 2 are the hypervisor's and the host's): 3 and up",
            "/domain/devices/iommu/driver/@aw_bits: 40 is not an address width an IOMMU has (39 or 48)",
            "/domain/devices/iommu/driver/@intremap: interrupt remapping needs the split I/O APIC (<features><ioapic driver='qemu'/>)",
        ],
    );
    assert_errors(
        &with_devices("    <iommu model='virtio'><driver caching_mode='on'/></iommu>"),
        &["/domain/devices/iommu/driver: the virtio IOMMU has no driver options (they are intel's)"],
    );
}

#[test]
fn shared_memory_filesystems_and_leases() {
    let xml = with_devices(
        "    <lease><lockspace>a</lockspace><key>k</key><target path='lease'/></lease>
    <filesystem type='mount' accessmode='passthrough' fmode='0644'>
      <driver type='path' queue='1024'/>
      <binary path='/usr/libexec/virtiofsd'/>
      <source socket='/run/fs.sock'/>
      <target dir='tag'/>
    </filesystem>
    <shmem name='a'><size unit='M'>3</size></shmem>
    <shmem name='a'><msi vectors='4'/></shmem>",
    );
    assert_errors(
        &xml,
        &[
            "/domain/devices/lease/target/@path: 'lease' is not an absolute path",
            "/domain/devices/filesystem/binary: <binary> is the virtiofsd of a virtiofs filesystem (driver type='virtiofs')",
            "/domain/devices/filesystem/source/@socket: a socket source is a virtiofsd's: driver type='virtiofs'",
            "/domain/devices/filesystem/driver/@queue: a queue size is virtiofs's",
            "/domain/devices/filesystem: fmode and dmode are for accessmode='mapped'",
            "/domain/devices/shmem[1]/size: 3072 KiB is not a power of two MiB",
            "/domain/devices/shmem[2]/@name: shared memory 'a' is given twice",
            "/domain/devices/shmem[2]/msi: interrupts (msi) come from an ivshmem server: give <server>",
        ],
    );
}

#[test]
fn the_new_devices_are_read_and_written_back() {
    let xml = with_devices(
        "    <lease><lockspace>area</lockspace><key>key</key><target path='/var/lib/lease' offset='1024'/></lease>
    <filesystem type='mount' accessmode='passthrough'>
      <driver type='virtiofs' queue='1024'/>
      <binary path='/usr/libexec/virtiofsd' xattr='on'>
        <cache mode='always'/><sandbox mode='chroot'/><lock posix='off' flock='off'/><thread_pool size='16'/>
      </binary>
      <source dir='/srv'/>
      <target dir='tag'/>
      <boot order='1'/>
    </filesystem>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <driver name='vfio'/>
      <source><address domain='0x0000' bus='0x06' slot='0x12' function='0x5'/></source>
      <rom bar='off' file='/srv/rom.bin'/>
    </hostdev>
    <hostdev mode='subsystem' type='usb' managed='no'>
      <source startupPolicy='optional'><vendor id='1d6b'/><product id='0x0002'/><address bus='1' device='3'/></source>
    </hostdev>
    <hostdev mode='subsystem' type='scsi' managed='no' sgio='unfiltered' rawio='yes'>
      <source protocol='iscsi' name='iqn.2013-07.com.example:iscsi-pool/1'>
        <host name='example.com' port='3260'/>
        <auth username='u'><secret type='iscsi' usage='pool'/></auth>
        <initiator><iqn name='iqn.2013-07.com.example:client'/></initiator>
      </source>
      <readonly/>
      <shareable/>
    </hostdev>
    <hostdev mode='subsystem' type='mdev' model='vfio-pci' display='on' ramfb='on'>
      <source><address uuid='53764d0e-85a0-42b4-af5c-2046b460b1dc'/></source>
    </hostdev>
    <hostdev mode='capabilities' type='storage'><source><block>/dev/sdf1</block></source></hostdev>
    <shmem name='s' role='peer'><model type='ivshmem-doorbell'/><size unit='M'>4</size><server path='/tmp/s'/><msi vectors='2' ioeventfd='on'/></shmem>
    <iommu model='virtio'/>
    <vsock model='virtio'><cid auto='no' address='4'/><driver iommu='on'/></vsock>",
    );
    let d = round_trips(&xml);
    assert_eq!(d.devices.hostdevs.len(), 5);
    let out = d.to_xml();
    assert!(out.contains("<vendor id='0x1d6b'/>"), "{out}");
    assert!(out.contains("<address bus='1' device='3'/>"), "{out}");
    assert!(out.contains("<size unit='M'>4</size>"), "{out}");
}
