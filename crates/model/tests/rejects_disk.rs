//! Bad disks: network sources without what their protocol needs, backing
//! chains that repeat an index, devices on the wrong bus, I/O limits that
//! contradict each other. Each is refused naming its line and path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use virtkit_model::domain::Domain;
use virtkit_model::domain::devices::{DiskBackingStore, DiskType, SourceLocation};

/// A domain with `disks` as its devices.
fn domain(disks: &str) -> String {
    format!(
        "<domain type='kvm'>
  <name>d</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <memory unit='MiB'>512</memory>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
  </os>
  <devices>
{disks}
  </devices>
</domain>
"
    )
}

fn every_line(disks: &str) -> Vec<String> {
    Domain::from_xml(&domain(disks)).unwrap_err().to_string().lines().map(str::to_owned).collect()
}

#[test]
fn a_network_disk_names_the_hosts_its_protocol_needs() {
    let disks = "    <disk type='network' device='disk'>
      <source protocol='nbd' name='export'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='network' device='disk'>
      <source protocol='iscsi'>
        <host name='a.lan'/>
        <host name='b.lan'/>
      </source>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='network' device='disk'>
      <source protocol='gluster' name='vol/img'>
        <host transport='unix' name='x'/>
      </source>
      <target dev='vdc' bus='virtio'/>
    </disk>";
    assert_eq!(
        every_line(disks),
        [
            "10:7: /domain/devices/disk[1]/source: protocol 'nbd' needs a <host>",
            "14:7: /domain/devices/disk[2]/source: protocol 'iscsi' needs a name (the image on the server)",
            "16:9: /domain/devices/disk[2]/source/host[2]: protocol 'iscsi' has one <host>",
            "22:9: /domain/devices/disk[3]/source/host: a unix host needs a socket",
            "22:9: /domain/devices/disk[3]/source/host: a unix host has a socket, not a name or port",
        ]
    );
}

#[test]
fn protocol_options_belong_to_their_protocol() {
    let disks = "    <disk type='network' device='disk'>
      <source protocol='nbd' name='e' query='a=b'>
        <host name='nbd.lan' port='10809'/>
        <snapshot name='s'/>
      </source>
      <target dev='vda' bus='virtio'/>
    </disk>";
    assert_eq!(
        every_line(disks),
        [
            "10:39: /domain/devices/disk/source/@query: query is for protocol http, https only",
            "12:9: /domain/devices/disk/source/snapshot: snapshot is for protocol rbd only",
        ]
    );
}

#[test]
fn a_backing_chain_uses_each_index_once() {
    let disks = "    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/images/top.qcow2' index='3'/>
      <backingStore type='file' index='2'>
        <format type='qcow2'/>
        <source file='/images/mid.qcow2'/>
        <backingStore type='file' index='3'>
          <format type='raw'/>
          <source file='/images/base.img'/>
          <backingStore/>
        </backingStore>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>";
    assert_eq!(
        every_line(disks),
        [
            "15:35: /domain/devices/disk/backingStore/backingStore/@index: index 3 is already used by /domain/devices/disk/source/@index"
        ]
    );
}

#[test]
fn a_backing_layer_says_its_format() {
    let disks = "    <disk type='file' device='disk'>
      <source file='/images/top.qcow2'/>
      <backingStore type='file'>
        <source file='/images/base.img'/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>";
    assert_eq!(
        every_line(disks),
        ["11:7: /domain/devices/disk/backingStore: missing element <format> in <backingStore>"]
    );
}

#[test]
fn devices_buses_and_lun_options_agree() {
    let disks = "    <disk type='file' device='floppy'>
      <source file='/images/f.img'/>
      <target dev='fda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk' rawio='yes'>
      <source file='/images/a.img'/>
      <target dev='fdb' bus='fdc'/>
    </disk>
    <disk type='file' device='lun'>
      <source file='/images/l.img'/>
      <target dev='sda' bus='scsi'/>
    </disk>";
    assert_eq!(
        every_line(disks),
        [
            "11:25: /domain/devices/disk[1]/target/@bus: a floppy is on the fdc bus, and only a floppy is",
            "13:37: /domain/devices/disk[2]/@rawio: rawio is for device='lun' only",
            "15:25: /domain/devices/disk[2]/target/@bus: a floppy is on the fdc bus, and only a floppy is",
            "17:23: /domain/devices/disk[3]/@device: a lun is a block device, a network (iSCSI) disk or a volume",
        ]
    );
}

#[test]
fn io_limits_and_auth_do_not_contradict_themselves() {
    let disks = "    <disk type='network' device='disk'>
      <auth username='u'>
        <secret type='iscsi' usage='t'/>
      </auth>
      <source protocol='iscsi' name='iqn.2013-07.com.example:t/1'>
        <host name='iscsi.lan'/>
        <auth username='u'>
          <secret type='iscsi' usage='t'/>
        </auth>
      </source>
      <target dev='vda' bus='virtio'/>
      <iotune>
        <total_bytes_sec>1000</total_bytes_sec>
        <read_bytes_sec>10</read_bytes_sec>
      </iotune>
    </disk>";
    assert_eq!(
        every_line(disks),
        [
            "10:7: /domain/devices/disk/auth: auth goes in <disk> or in <source>, not both",
            "21:9: /domain/devices/disk/iotune/total_bytes_sec: total_bytes_sec excludes read_bytes_sec and write_bytes_sec",
        ]
    );
}

#[test]
fn network_chains_and_nvram_sources_are_read_and_written_back() {
    let disks = "    <disk type='network' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source protocol='rbd' name='pool/image' index='2'>
        <host name='mon1.lan' port='6789'/>
        <auth username='admin'>
          <secret type='ceph' uuid='0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f'/>
        </auth>
      </source>
      <backingStore type='block' index='1'>
        <format type='raw'/>
        <source dev='/dev/vg/base'/>
        <backingStore/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>";
    let xml = domain(disks).replacen(
        "</os>",
        "  <nvram type='network'>
      <source protocol='nbd' name='vars'>
        <host name='nbd.lan' port='10809'/>
      </source>
    </nvram>
  </os>",
        1,
    );
    let d = Domain::from_xml(&xml).unwrap();
    let disk = &d.devices.disks[0];
    assert_eq!(disk.disk_type(), DiskType::Network);
    let SourceLocation::Network(n) = &disk.source.location else { panic!("not a network source") };
    assert_eq!(n.hosts[0].port, Some(6789));
    assert!(n.auth.is_some());
    let layers: Vec<_> = disk.backing_store.as_ref().unwrap().layers().collect();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].source.path(), Some("/dev/vg/base"));
    assert!(disk.backing_store.as_ref().is_some_and(DiskBackingStore::ends));
    assert_eq!(d.os.nvram.as_ref().and_then(|n| n.source.as_ref()).map(|s| s.disk_type()), Some(DiskType::Network));
    assert_eq!(Domain::from_xml(&d.to_xml()).unwrap(), d);
    assert_eq!(Domain::from_json(&d.to_json()).unwrap(), d);
}
