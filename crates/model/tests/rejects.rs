//! Bad documents: each is refused with one clear error naming its line,
//! column and path, and nothing is accepted with parts missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use virtkit_model::domain::Domain;
use virtkit_model::{Document, ErrorKind, TextPos};

/// A valid base document; tests break one line of it.
const BASE: &str = "\
<domain type='kvm'>
  <name>base</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <memory unit='MiB'>512</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <boot dev='hd'/>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/images/base.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:12:34:56'/>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
";

fn with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "base has {from}");
    BASE.replacen(from, to, 1)
}

/// The first error: (line, column, path, message).
fn first_error(xml: &str) -> (u32, u32, String, String) {
    let errs = Domain::from_xml(xml).expect_err("document must be refused");
    let e = errs.first();
    let TextPos { line, column } = e.pos.expect("error has a position");
    (line, column, e.path.clone(), e.kind.to_string())
}

fn assert_refused(xml: &str, line: u32, column: u32, path: &str, msg: &str) {
    let got = first_error(xml);
    assert_eq!(got, (line, column, path.to_owned(), msg.to_owned()));
}

#[test]
fn base_document_is_valid() {
    let d = Domain::from_xml(BASE).unwrap();
    assert_eq!(d.name, "base");
    assert_eq!(d.devices.disks.len(), 1);
}

// ---- typos: element, attribute, value, anywhere ----

#[test]
fn element_typo_at_top_level() {
    assert_refused(
        &with("<vcpu>2</vcpu>", "<vpcu>2</vpcu>"),
        5,
        3,
        "/domain/vpcu",
        "unknown element <vpcu> in <domain> (did you mean <vcpu>?)",
    );
}

#[test]
fn element_typo_in_devices() {
    assert_refused(
        &with("<interface type='network'>", "<interfcae type='network'>").replace("</interface>", "</interfcae>"),
        16,
        5,
        "/domain/devices/interfcae",
        "unknown element <interfcae> in <devices> (did you mean <interface>?)",
    );
}

#[test]
fn element_typo_deep_in_a_device() {
    assert_refused(
        &with("<target dev='vda' bus='virtio'/>", "<taget dev='vda' bus='virtio'/>"),
        14,
        7,
        "/domain/devices/disk/taget",
        "unknown element <taget> in <disk> (did you mean <target>?)",
    );
}

#[test]
fn attribute_typo() {
    assert_refused(
        &with("<target dev='vda' bus='virtio'/>", "<target dev='vda' buss='virtio'/>"),
        14,
        25,
        "/domain/devices/disk/target/@buss",
        "unknown attribute 'buss' on <target> (did you mean 'bus'?)",
    );
}

#[test]
fn attribute_typo_of_a_required_attribute() {
    assert_refused(
        &with("<source network='default'/>", "<source netwrok='default'/>"),
        18,
        15,
        "/domain/devices/interface/source/@netwrok",
        "unknown attribute 'netwrok' on <source> (did you mean 'network'?)",
    );
}

#[test]
fn enum_value_typo() {
    assert_refused(
        &with("bus='virtio'", "bus='scsii'"),
        14,
        25,
        "/domain/devices/disk/target/@bus",
        "'scsii' is not one of virtio, sata, scsi, ide, usb, fdc, sd",
    );
    assert_refused(
        &with("<boot dev='hd'/>", "<boot dev='hdd'/>"),
        8,
        11,
        "/domain/os/boot/@dev",
        "'hdd' is not one of hd, fd, cdrom, network",
    );
    assert_refused(
        &with("<domain type='kvm'>", "<domain type='kvn'>"),
        1,
        9,
        "/domain/@type",
        "'kvn' is not one of qemu, kvm, lxc, test",
    );
}

#[test]
fn value_libvirt_has_but_virtkit_does_not() {
    assert_refused(
        &with("<domain type='kvm'>", "<domain type='xen'>"),
        1,
        9,
        "/domain/@type",
        "'xen' is not supported; supported: qemu, kvm, lxc, test",
    );
}

#[test]
fn feature_libvirt_has_but_virtkit_does_not() {
    assert_refused(
        &with("  <devices>\n", "  <devices>\n    <parallel type='pty'/>\n"),
        11,
        5,
        "/domain/devices/parallel",
        "unsupported element <parallel> in <devices>",
    );
}

#[test]
fn namespaced_elements_outside_metadata_are_refused() {
    // libvirt's LXC namespace is libvirt's (unsupported); another one is not.
    let xml = with("<domain type='kvm'>", "<domain type='kvm' xmlns:lxc='http://libvirt.org/schemas/domain/lxc/1.0'>")
        .replace("</devices>", "</devices>\n  <lxc:namespace/>\n  <x:y xmlns:x='urn:x'/>");
    let errs = every_line(&xml);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs[0].ends_with("/domain/lxc:namespace: unsupported element <lxc:namespace> in <domain>"), "{errs:#?}");
    assert!(errs[1].contains("/domain/x:y: unknown element <x:y> in <domain>"), "{errs:#?}");
}

#[test]
fn unexpected_text() {
    assert_refused(
        &with("  <devices>\n", "  <devices>\n    stray words\n"),
        10,
        12,
        "/domain/devices",
        "unexpected text in <devices>",
    );
}

// ---- malformed values ----

#[test]
fn bad_uuid() {
    assert_refused(
        &with("c7a5fdbd-edaf-9455-926a-d65c16db1809", "c7a5fdbd-edaf-9455-926a-d65c16db18"),
        3,
        3,
        "/domain/uuid",
        "'c7a5fdbd-edaf-9455-926a-d65c16db18' is not a UUID",
    );
}

#[test]
fn bad_mac() {
    assert_refused(
        &with("52:54:00:12:34:56", "52:54:00:12:34"),
        17,
        12,
        "/domain/devices/interface/mac/@address",
        "'52:54:00:12:34' is not a MAC address (like 52:54:00:12:34:56)",
    );
    assert_refused(
        &with("52:54:00:12:34:56", "01:00:5e:00:00:01"),
        17,
        12,
        "/domain/devices/interface/mac/@address",
        "01:00:5e:00:00:01 is a multicast address",
    );
}

#[test]
fn unit_overflow_and_bad_units() {
    assert_refused(
        &with("<memory unit='MiB'>512</memory>", "<memory unit='EiB'>512</memory>"),
        4,
        3,
        "/domain/memory",
        "512 EiB is too large (at most 18446744073709551615 bytes)",
    );
    let (_, _, path, msg) = first_error(&with("unit='MiB'", "unit='MiBs'"));
    assert_eq!(path, "/domain/memory");
    assert!(msg.starts_with("unknown unit 'MiBs'"), "{msg}");
    let (_, _, _, msg) = first_error(&with(">512<", ">-1<"));
    assert_eq!(msg, "'-1' is not an unsigned integer");
}

#[test]
fn every_memory_unit_is_read() {
    for (unit, bytes) in [
        ("b", 512),
        ("bytes", 512),
        ("KB", 512_000),
        ("k", 512 << 10),
        ("KiB", 512 << 10),
        ("MB", 512_000_000),
        ("M", 512 << 20),
        ("MiB", 512 << 20),
        ("GB", 512_000_000_000),
        ("G", 512 << 30),
        ("GiB", 512 << 30),
        ("TB", 512_000_000_000_000),
        ("T", 512 << 40),
        ("TiB", 512 << 40),
    ] {
        let d = Domain::from_xml(&with("unit='MiB'", &format!("unit='{unit}'"))).unwrap();
        assert_eq!(d.memory.as_bytes(), bytes, "{unit}");
        assert_eq!(Domain::from_xml(&d.to_xml()).unwrap(), d, "{unit} round-trips");
    }
}

#[test]
fn duplicate_disk_target() {
    let second = "    <disk type='file' device='disk'>\n      <source file='/images/b.img'/>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n";
    let xml = with("    <interface", &format!("{second}    <interface"));
    assert_refused(
        &xml,
        18,
        15,
        "/domain/devices/disk[2]/target/@dev",
        "target 'vda' is already used by /domain/devices/disk[1]",
    );
}

#[test]
fn duplicate_single_element() {
    assert_refused(
        &with("<vcpu>2</vcpu>", "<vcpu>2</vcpu><vcpu>3</vcpu>"),
        5,
        17,
        "/domain/vcpu[2]",
        "<vcpu> may appear only once in <domain>",
    );
}

#[test]
fn missing_required_parts() {
    assert_refused(&with("  <name>base</name>\n", ""), 1, 1, "/domain", "missing element <name> in <domain>");
    assert_refused(
        &with("<target dev='vda' bus='virtio'/>", "<target bus='virtio'/>"),
        14,
        7,
        "/domain/devices/disk/target",
        "missing attribute 'dev' on <target>",
    );
}

#[test]
fn relative_paths_are_refused() {
    assert_refused(
        &with("/images/base.qcow2", "images/base.qcow2"),
        13,
        15,
        "/domain/devices/disk/source/@file",
        "'images/base.qcow2' is not an absolute path",
    );
}

#[test]
fn inconsistent_values() {
    let (_, _, path, msg) = first_error(&with("<vcpu>2</vcpu>", "<vcpu current='3'>2</vcpu>"));
    assert_eq!((path.as_str(), msg.as_str()), ("/domain/vcpu/@current", "3 online vCPUs is more than the 2 vCPUs"));
    let (_, _, path, _) = first_error(&with(
        "<memory unit='MiB'>512</memory>",
        "<memory unit='MiB'>512</memory><currentMemory unit='GiB'>1</currentMemory>",
    ));
    assert_eq!(path, "/domain/currentMemory");
}

#[test]
fn os_type_must_fit_the_domain_type() {
    let (_, _, path, msg) = first_error(&with("<domain type='kvm'>", "<domain type='lxc'>"));
    assert_eq!(path, "/domain/os/type");
    assert_eq!(msg, "a container needs os type 'exe', not 'hvm'");
}

#[test]
fn controller_model_must_fit_its_type() {
    let xml = with("  </devices>", "    <controller type='scsi' index='0' model='virtio-scssi'/>\n  </devices>");
    let (line, _, path, msg) = first_error(&xml);
    assert_eq!(line, 21);
    assert_eq!(path, "/domain/devices/controller/@model");
    assert!(msg.starts_with("'virtio-scssi' is not one of auto, buslogic"), "{msg}");
}

#[test]
fn several_broken_devices_are_all_reported() {
    let xml = BASE.replacen("bus='virtio'", "bus='virtioo'", 1).replacen(
        "<model type='virtio'/>",
        "<model type='virtio o'/>",
        1,
    );
    let errs = Domain::from_xml(&xml).unwrap_err();
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["/domain/devices/disk/target/@bus", "/domain/devices/interface/model/@type"]);
}

/// Every problem, one line each: `line:column: path: message`.
fn every_line(xml: &str) -> Vec<String> {
    Domain::from_xml(xml).unwrap_err().to_string().lines().map(str::to_owned).collect()
}

#[test]
fn every_problem_of_a_document_is_reported_in_one_run() {
    // Mistakes in different elements, several in one element, and
    // unsupported features beside typos: each is a line of its own.
    let xml = with(
        "<vcpu>2</vcpu>",
        "<vcpu placement='statik' curent='1'>2</vcpu>\n  <bootloader>/usr/bin/pygrub</bootloader>",
    )
    .replacen("<boot dev='hd'/>", "<boot dev='hdd'/>\n    <bootmneu enable='yes'/>", 1)
    .replacen(
        "<driver name='qemu' type='qcow2'/>",
        "<driver name='qemu' type='qcow2'/><geometry cyls='1' heads='1' secs='1'/>",
        1,
    )
    .replacen("<source network='default'/>", "<source netwrok='default'/>", 1)
    .replacen("  </devices>", "  </devices>\n  <bootloader_args>-q</bootloader_args>", 1);
    assert_eq!(
        every_line(&xml),
        [
            "5:9: /domain/vcpu/@placement: 'statik' is not one of static, auto",
            "5:28: /domain/vcpu/@curent: unknown attribute 'curent' on <vcpu> (did you mean 'current'?)",
            "6:3: /domain/bootloader: unsupported element <bootloader> in <domain>",
            "9:11: /domain/os/boot/@dev: 'hdd' is not one of hd, fd, cdrom, network",
            "10:5: /domain/os/bootmneu: unknown element <bootmneu> in <os> (did you mean <bootmenu>?)",
            "14:41: /domain/devices/disk/geometry: unsupported element <geometry> in <disk>",
            "20:15: /domain/devices/interface/source/@netwrok: unknown attribute 'netwrok' on <source> (did you mean 'network'?)",
            "24:3: /domain/bootloader_args: unsupported element <bootloader_args> in <domain>",
        ]
    );
}

#[test]
fn typos_inside_an_unsupported_element_are_reported_too() {
    let xml = with(
        "  <devices>",
        "  <features>\n    <xen>\n      <e820_host stat='on'/>\n    </xen>\n  </features>\n  <devices>",
    );
    assert_eq!(
        every_line(&xml),
        [
            "11:5: /domain/features/xen: unsupported element <xen> in <features>",
            "12:18: /domain/features/xen/e820_host/@stat: unknown attribute 'stat' on <e820_host> (did you mean 'state'?)",
        ]
    );
}

#[test]
fn a_failed_element_still_reports_its_typos() {
    // The interface stops at its type; the typo further in is still found,
    // and what libvirt knows there (<link>, <rom>) is not called unknown.
    let xml = with("<interface type='network'>", "<interface type='netwrok'>").replacen(
        "<model type='virtio'/>",
        "<modle type='virtio'/>\n      <link state='up'/>\n      <rom bar='on'/>",
        1,
    );
    let errs = every_line(&xml);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs[0].starts_with("16:16: /domain/devices/interface/@type: "), "{errs:#?}");
    assert_eq!(
        errs[1],
        "19:7: /domain/devices/interface/modle: unknown element <modle> in <interface> (did you mean <model>?)"
    );
}

#[test]
fn values_in_messages_are_escaped_to_one_line() {
    let xml = with("<boot dev='hd'/>", "<boot dev='h&#10;d'/>");
    assert_eq!(every_line(&xml), ["8:11: /domain/os/boot/@dev: 'h\\nd' is not one of hd, fd, cdrom, network"]);
}

// ---- names ----

#[test]
fn names_that_could_escape_a_directory_are_refused() {
    for (name, msg) in [
        ("../etc/passwd", "'../etc/passwd' contains '/'"),
        ("a/b", "'a/b' contains '/'"),
        ("..", "'..' is not a usable name"),
        (".", "'.' is not a usable name"),
        ("", "a name must not be empty"),
    ] {
        let (line, col, path, got) = first_error(&with("<name>base</name>", &format!("<name>{name}</name>")));
        assert_eq!((line, col, path.as_str(), got.as_str()), (2, 3, "/domain/name", msg), "{name:?}");
    }
    let (_, _, _, msg) = first_error(&with("<name>base</name>", "<name>a&#9;b</name>"));
    assert_eq!(msg, "a name must not contain control characters");
}

// ---- hostile input ----

#[test]
fn not_xml_at_all() {
    let errs = Domain::from_xml("<domain type='kvm'><name>x</domain>").unwrap_err();
    let e = errs.first();
    assert!(matches!(e.kind, ErrorKind::Syntax(_)), "{e}");
    assert_eq!(e.pos, Some(TextPos { line: 1, column: 27 }));
    assert!(Domain::from_xml("").is_err());
    assert!(Domain::from_xml("just text").is_err());
}

#[test]
fn entity_expansion_is_refused() {
    let bomb = "<?xml version='1.0'?>\n<!DOCTYPE domain [\n <!ENTITY a 'aaaaaaaaaa'>\n <!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>\n <!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>\n]>\n<domain type='kvm'><name>&c;</name></domain>";
    let errs = Domain::from_xml(bomb).unwrap_err();
    assert_eq!(errs.first().kind, ErrorKind::Syntax("document type declarations (DTD) are not allowed".into()));
    let external = "<!DOCTYPE domain SYSTEM 'file:///etc/passwd'><domain type='kvm'/>";
    assert!(Domain::from_xml(external).is_err());
}

#[test]
fn huge_documents_are_refused() {
    let big = BASE.replace("<name>base</name>", &format!("<name>{}</name>", "x".repeat(11 << 20)));
    let errs = Domain::from_xml(&big).unwrap_err();
    assert!(matches!(errs.first().kind, ErrorKind::Limit(_)), "{}", errs);
}

#[test]
fn deep_nesting_is_refused_without_a_crash() {
    let depth = 100_000;
    let deep = format!("{}{}", "<x>".repeat(depth), "</x>".repeat(depth));
    // In metadata, where any XML is allowed, depth is limited.
    let xml = with("<vcpu>2</vcpu>", &format!("<vcpu>2</vcpu><metadata><a:m xmlns:a='urn:a'>{deep}</a:m></metadata>"));
    let errs = Domain::from_xml(&xml).unwrap_err();
    assert!(matches!(errs.first().kind, ErrorKind::Limit(_)), "{}", errs);
    // Elsewhere too, before anything is parsed.
    let xml = with("<vcpu>2</vcpu>", &format!("<vcpu>2</vcpu>{deep}"));
    let (line, _, path, msg) = first_error(&xml);
    assert_eq!((line, path.as_str(), msg.as_str()), (5, "", "elements are nested more than 256 deep"));
    // Within the depth limit, the first unknown level is refused.
    let xml = with("<vcpu>2</vcpu>", &format!("<vcpu>2</vcpu>{}{}", "<x>".repeat(200), "</x>".repeat(200)));
    assert_eq!(first_error(&xml).2, "/domain/x");
}

#[test]
fn many_attributes_are_refused() {
    let attrs: String = (0..100).map(|i| format!(" a{i}='1'")).collect();
    let xml = with("<vcpu>2</vcpu>", &format!("<vcpu{attrs}>2</vcpu>"));
    assert!(matches!(Domain::from_xml(&xml).unwrap_err().first().kind, ErrorKind::Limit(_)));
}

/// Limits hold before any work that grows faster than the document: a
/// parser that compares every attribute of an element with every other
/// takes half a minute over 100,000 of them.
#[test]
fn limits_are_checked_before_parsing() {
    let many = |n: usize, f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<String>();
    let cases = [
        ("100,000 attributes", format!("<vcpu{}>2</vcpu>", many(100_000, &|i| format!(" a{i}='1'"))), "attributes"),
        (
            "100,000 namespaces",
            format!("<metadata>{}</metadata>", many(100_000, &|i| format!("<p{i}:m xmlns:p{i}='urn:{i}'/>"))),
            "namespaces",
        ),
        ("a 1 MiB name", format!("<{}/>", "n".repeat(1 << 20)), "name is longer"),
    ];
    for (what, part, says) in cases {
        let xml = with("<vcpu>2</vcpu>", &part);
        for parse in [|x: &str| Domain::from_xml(x).map(drop), |x: &str| Document::from_xml(x).map(drop)] {
            let t = std::time::Instant::now();
            let errs = parse(&xml).unwrap_err();
            let took = t.elapsed();
            let e = errs.first();
            assert!(matches!(e.kind, ErrorKind::Limit(_)) && e.to_string().contains(says), "{what}: {e}");
            assert_eq!(e.pos.map(|p| p.line), Some(5), "{what}");
            assert!(took < std::time::Duration::from_millis(100), "{what}: refused in {took:?}");
        }
    }
}

/// Every problem is reported, up to a hundred: placing each one walks the
/// document, so 20,000 mistakes took two minutes to report one by one.
#[test]
fn a_document_of_mistakes_is_refused_in_linear_time() {
    let xml = with("<vcpu>2</vcpu>", &"<x/>".repeat(20_000));
    let t = std::time::Instant::now();
    let errs = Domain::from_xml(&xml).unwrap_err();
    let took = t.elapsed();
    let all: Vec<_> = errs.iter().collect();
    assert_eq!(all.len(), virtkit_model::limits::MAX_ERRORS + 1, "{errs}");
    assert_eq!(all[0].path, "/domain/x[1]");
    assert_eq!(all[99].path, "/domain/x[100]");
    assert_eq!(all[100].kind.to_string(), "reading stopped after 100 problems");
    assert!(took < std::time::Duration::from_secs(2), "refused in {took:?}");
}

#[test]
fn other_documents_are_refused_by_kind() {
    let d = Document::from_xml("<secret><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></secret>").unwrap();
    assert_eq!(d.kind(), "secret");
    let e = Document::from_xml("<domainsnapshot/>").unwrap_err();
    assert_eq!(e.first().kind.to_string(), "snapshot documents (<domainsnapshot>) are not supported yet");
    let e = Document::from_xml("<html/>").unwrap_err();
    assert_eq!(
        e.first().kind.to_string(),
        "<html> is not a document virtkit reads; expected <domain>, <network>, <pool>, <volume>, <secret>, <node>"
    );
    let e = Domain::from_xml("<network/>").unwrap_err();
    assert_eq!(e.first().path, "/network");
}

#[test]
fn json_is_as_strict_as_xml() {
    let d = Domain::from_xml(BASE).unwrap();
    let json = d.to_json();
    assert_eq!(Domain::from_json(&json).unwrap(), d);
    let typo = json.replacen("\"memory\"", "\"memroy\"", 1);
    assert!(Domain::from_json(&typo).is_err());
    let bad_name = json.replacen("\"base\"", "\"a/b\"", 1);
    let e = Domain::from_json(&bad_name).unwrap_err();
    assert_eq!(e.first().path, "/domain/name");
    let control = json.replacen("\"base\"", "\"a\\u0001b\"", 1);
    assert!(Domain::from_json(&control).is_err());
}

#[test]
fn live_xml_id_is_accepted_and_not_kept() {
    let d = Domain::from_xml(&with("<domain type='kvm'>", "<domain type='kvm' id='7'>")).unwrap();
    assert!(!d.to_xml().contains("id='7'"));
}

#[test]
fn missing_uuid_is_generated_and_kept() {
    let d = Domain::from_xml(&with("  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n", "")).unwrap();
    let again = Domain::from_xml(&d.to_xml()).unwrap();
    assert_eq!(again.uuid, d.uuid);
    assert!(!d.uuid.is_nil());
}

// ---- devices: audio and sound ----

/// Every problem of `xml`, as (line, path, message).
fn all_errors(xml: &str) -> Vec<(u32, String, String)> {
    let errs = Domain::from_xml(xml).expect_err("document must be refused");
    errs.iter().map(|e| (e.pos.map_or(0, |p| p.line), e.path.clone(), e.kind.to_string())).collect()
}

fn with_devices(devices: &str) -> String {
    with("  </devices>", &format!("{devices}  </devices>"))
}

#[test]
fn audio_attributes_belong_to_their_backend_type() {
    let xml = with_devices(
        "    <audio id='1' type='none' path='/tmp/a.wav'>\n      <output dev='/dev/dsp'/>\n    </audio>\n",
    );
    assert_eq!(
        all_errors(&xml),
        [
            (21, "/domain/devices/audio/@path".into(), "none audio has no path".into()),
            (22, "/domain/devices/audio/output/@dev".into(), "none audio has no dev".into()),
        ]
    );
    assert_refused(
        &with_devices("    <audio id='1' type='alsa'><input voicess='2'/></audio>\n"),
        21,
        38,
        "/domain/devices/audio/input/@voicess",
        "unknown attribute 'voicess' on <input> (did you mean 'voices'?)",
    );
    assert_refused(
        &with_devices("    <audio id='1' type='alsaa'/>\n"),
        21,
        19,
        "/domain/devices/audio/@type",
        "'alsaa' is not one of none, alsa, coreaudio, jack, oss, pulseaudio, sdl, spice, file, dbus",
    );
}

#[test]
fn audio_ids_are_unique_and_sound_cards_name_one() {
    let xml = with_devices(
        "    <sound model='ich9'><audio id='3'/></sound>\n    <sound model='ac97'><codec type='duplex'/></sound>\n    <audio id='1' type='none'/>\n    <audio id='1' type='spice'/>\n    <audio id='0' type='none'/>\n",
    );
    assert_eq!(
        all_errors(&xml),
        [
            (21, "/domain/devices/sound[1]/audio/@id".into(), "there is no audio backend with id 3".into()),
            (22, "/domain/devices/sound[2]/codec".into(), "only ich6, ich7 and ich9 sound cards have codecs".into()),
            (
                24,
                "/domain/devices/audio[2]/@id".into(),
                "audio id 1 is already used by /domain/devices/audio[1]".into()
            ),
            (25, "/domain/devices/audio[3]/@id".into(), "audio ids start at 1".into()),
        ]
    );
}

// ---- devices: graphics, character devices, USB ----

#[test]
fn graphics_rules_are_checked() {
    let xml = with_devices(
        "    <graphics type='spice' listen='127.0.0.1' passwdValidTo='2011-13-31T16:11:22'>\n      <listen type='address' address='::1'/>\n      <channel name='main' mode='secure'/>\n      <channel name='main' mode='any'/>\n    </graphics>\n    <graphics type='vnc' socket='/run/vnc.sock' powerControl='yes' connected='fail'/>\n    <graphics type='dbus' address='unix:path=/tmp/d' p2p='no'/>\n",
    );
    assert_eq!(
        all_errors(&xml),
        [
            (
                21,
                "/domain/devices/graphics[1]/@listen".into(),
                "'127.0.0.1' differs from the first <listen>'s address '::1'".into()
            ),
            (
                21,
                "/domain/devices/graphics[1]/@passwdValidTo".into(),
                "'2011-13-31T16:11:22' is not a date and time like 2011-05-31T16:11:22".into()
            ),
            (24, "/domain/devices/graphics[1]/channel[2]/@name".into(), "channel 'main' is given twice".into()),
            (
                26,
                "/domain/devices/graphics[2]/@powerControl".into(),
                "not allowed with a socket: VNC listens on one or the other".into()
            ),
            (
                26,
                "/domain/devices/graphics[2]/@connected".into(),
                "VNC keeps connected clients: 'keep' is the only choice".into()
            ),
            (
                27,
                "/domain/devices/graphics[3]/@p2p".into(),
                "a D-Bus display is on a bus address or peer to peer, not both".into()
            ),
        ]
    );
    assert_refused(
        &with_devices("    <graphics type='spice'><streaming mode='fast'/></graphics>\n"),
        21,
        39,
        "/domain/devices/graphics/streaming/@mode",
        "'fast' is not one of filter, all, off",
    );
}

#[test]
fn character_device_sources_are_checked() {
    let xml = with_devices(
        "    <serial type='unix'>\n      <source mode='bind' path='/tmp/s.sock'>\n        <reconnect enabled='yes'/>\n      </source>\n    </serial>\n    <serial type='null'>\n      <source>\n        <seclabel model='dac' relabel='no'/>\n      </source>\n    </serial>\n    <console type='file'>\n      <source path='/tmp/c.log'>\n        <seclabel model='selinux' relabel='no'>\n          <label>x</label>\n        </seclabel>\n      </source>\n    </console>\n",
    );
    assert_eq!(
        all_errors(&xml),
        [
            (
                23,
                "/domain/devices/serial[1]/source/reconnect".into(),
                "only a socket in mode 'connect' reconnects".into()
            ),
            (
                23,
                "/domain/devices/serial[1]/source/reconnect/@timeout".into(),
                "reconnecting needs a timeout of 1 second or more".into()
            ),
            (28, "/domain/devices/serial[2]/source/seclabel".into(), "a null source has no host file to label".into()),
            (34, "/domain/devices/console/source/seclabel/label".into(), "a label is only for relabelling".into()),
        ]
    );
    assert_refused(
        &with_devices("    <serial type='udpp'/>\n"),
        21,
        13,
        "/domain/devices/serial/@type",
        "'udpp' is not one of null, vc, pty, dev, file, pipe, stdio, udp, tcp, unix, spicevmc, spiceport, nmdm, qemu-vdagent, dbus",
    );
}

#[test]
fn usb_companions_need_their_master() {
    let xml = with_devices(
        "    <controller type='usb' index='0' model='ich9-ehci1'/>\n    <controller type='usb' index='0' model='ich9-uhci1'><master startport='0'/></controller>\n    <controller type='usb' index='1' model='ich9-uhci2'><master startport='2'/></controller>\n    <controller type='usb' index='0' model='qemu-xhci'><master startport='4'/></controller>\n    <controller type='scsi' index='0'><pcihole64>1024</pcihole64></controller>\n",
    );
    assert_eq!(
        all_errors(&xml),
        [
            (
                23,
                "/domain/devices/controller[3]/master".into(),
                "no USB controller with index 1 for this companion to serve".into()
            ),
            (
                24,
                "/domain/devices/controller[4]/master".into(),
                "a USB companion controller is ich9-uhci1, ich9-uhci2 or ich9-uhci3".into()
            ),
            (
                25,
                "/domain/devices/controller[5]/pcihole64".into(),
                "only pci-root and pcie-root controllers have a 64-bit hole".into()
            ),
        ]
    );
}

#[test]
fn usb_redirection_smartcards_inputs_and_video_are_checked() {
    let xml = with_devices(
        "    <input type='passthrough' bus='usb'/>\n    <input type='mouse' bus='ps2'><source dev='/dev/input/event0'/></input>\n    <video><model type='vga' primary='yes'><acceleration accel3d='yes'/></model></video>\n    <video><model type='virtio' primary='yes'/></video>\n    <redirfilter><usbdev vendor='0x123456' version='1.100' allow='yes'/></redirfilter>\n    <smartcard mode='host-certificates'><certificate>a</certificate></smartcard>\n",
    );
    assert_eq!(
        all_errors(&xml),
        [
            (21, "/domain/devices/input[1]".into(), "a passthrough input needs a <source> device".into()),
            (21, "/domain/devices/input[1]/@bus".into(), "a passthrough input is on the virtio bus".into()),
            (
                22,
                "/domain/devices/input[2]/source".into(),
                "only passthrough and evdev inputs have a host device".into()
            ),
            (
                23,
                "/domain/devices/video[1]/model/acceleration/@accel3d".into(),
                "only virtio and vbox video accelerate 3D".into()
            ),
            (24, "/domain/devices/video[2]/model/@primary".into(), "one video device is primary".into()),
            (
                25,
                "/domain/devices/redirfilter/usbdev/@vendor".into(),
                "'0x123456' is not a USB vendor (up to 4 hex digits, or -1)".into()
            ),
            (
                25,
                "/domain/devices/redirfilter/usbdev/@version".into(),
                "'1.100' is not a USB release (like 1.10, or -1)".into()
            ),
            (26, "/domain/devices/smartcard".into(), "host-certificates takes three certificates, not 1".into()),
        ]
    );
}

#[test]
fn one_tpm_and_pcr_banks_only_for_tpm2() {
    let xml = with_devices(
        "    <tpm model='tpm-tis'><backend type='emulator' version='1.2'><active_pcr_banks><sha1/></active_pcr_banks></backend></tpm>\n    <tpm model='tpm-crb'><backend type='passthrough'><device path='/dev/tpm0'/></backend></tpm>\n",
    );
    assert_eq!(
        all_errors(&xml),
        [
            (
                21,
                "/domain/devices/tpm[1]/backend/active_pcr_banks".into(),
                "only a TPM 2.0 has PCR banks to activate".into()
            ),
            (
                22,
                "/domain/devices/tpm[2]".into(),
                "a domain has one TPM (and at most one spapr-tpm-proxy beside it)".into()
            ),
        ]
    );
    assert_refused(
        &with_devices(
            "    <tpm><backend type='emulator'><active_pcr_banks><sha257/></active_pcr_banks></backend></tpm>\n",
        ),
        21,
        53,
        "/domain/devices/tpm/backend/active_pcr_banks/sha257",
        "unknown element <sha257> in <active_pcr_banks> (did you mean <sha256>?)",
    );
}

// ---- the top-level parts: NUMA, memory, tuning, firmware, security ----

/// `BASE` with `top` put after `<vcpu>` and `cpu` after `<os>`.
fn with_top(top: &str, cpu: &str) -> String {
    BASE.replacen("<vcpu>2</vcpu>", &format!("<vcpu>2</vcpu>\n{top}"), 1).replacen("</os>", &format!("</os>\n{cpu}"), 1)
}

#[test]
fn numa_cells_are_checked_against_each_other_and_the_vcpus() {
    let cpu = "<cpu><numa>
      <cell id='0' cpus='0-1' memory='256' unit='MiB'><distances><sibling id='0' value='20'/><sibling id='3' value='20'/></distances></cell>
      <cell id='0' cpus='1-2' memory='256' unit='MiB'/>
    </numa></cpu>";
    let top = "<numatune><memory mode='strict' placement='auto' nodeset='0'/><memnode cellid='5' mode='strict' nodeset='0'/></numatune>";
    let errs = every_line(&with_top(top, cpu));
    let want = [
        "/domain/numatune/memory/@nodeset: not allowed with placement 'auto'",
        "/domain/numatune/memnode/@cellid: there is no cell 5",
        "/domain/cpu/numa/cell[1]/distances/sibling[1]/@value: the distance is 10 to the cell itself and more to others",
        "/domain/cpu/numa/cell[1]/distances/sibling[2]/@id: there is no cell 3",
        "/domain/cpu/numa/cell[2]/@id: cell 0 is given twice",
        "/domain/cpu/numa/cell[2]/@cpus: vCPU 1 is in cell 0 already",
    ];
    for w in want {
        assert!(errs.iter().any(|e| e.ends_with(w)), "missing {w:?} in {errs:#?}");
    }
    assert_eq!(errs.len(), want.len(), "{errs:#?}");
}

#[test]
fn huge_pages_name_cells_that_exist() {
    let top = "<memoryBacking><hugepages><page size='2' unit='MiB' nodeset='1'/><page size='1' unit='GiB'/><page size='4' unit='KiB'/></hugepages>\
               <allocation threads='0'/></memoryBacking>";
    let errs = every_line(&with_top(top, ""));
    let want = [
        "/domain/memoryBacking/hugepages/page[1]/@nodeset: there is no guest cell 1",
        "/domain/memoryBacking/hugepages/page[3]: only one page size may be for all cells",
        "/domain/memoryBacking/allocation/@threads: must be at least 1",
    ];
    assert_eq!(errs.len(), want.len(), "{errs:#?}");
    for (e, w) in errs.iter().zip(want) {
        assert!(e.ends_with(w), "{e} is not {w}");
    }
}

#[test]
fn cpu_tuning_and_iothreads_are_checked() {
    let top = "<iothreads>1</iothreads><iothreadids><iothread id='0'/><iothread id='2' thread_pool_min='4' thread_pool_max='2'/></iothreadids>
  <cputune><period>10</period><vcpupin vcpu='2' cpuset='0'/><iothreadpin iothread='9' cpuset='0'/>
    <vcpusched vcpus='0' scheduler='fifo'/><emulatorsched scheduler='batch' priority='3'/></cputune>";
    let errs = every_line(&with_top(top, ""));
    let want = [
        "/domain/iothreadids/iothread[1]/@id: I/O thread ids start at 1",
        "/domain/iothreadids/iothread[2]/@thread_pool_min: the pool's minimum is above its maximum",
        "/domain/cputune/period: 10 is out of range (1000 to 1000000 µs)",
        "/domain/cputune/vcpupin/@vcpu: vCPU 2 is beyond the domain's 2 vCPUs",
        "/domain/cputune/iothreadpin/@iothread: there is no I/O thread 9",
        "/domain/cputune/vcpusched: scheduler 'fifo' needs a priority",
        "/domain/cputune/emulatorsched/@priority: scheduler 'batch' has no priority",
    ];
    for w in want {
        assert!(errs.iter().any(|e| e.ends_with(w)), "missing {w:?} in {errs:#?}");
    }
    assert_eq!(errs.len(), want.len(), "{errs:#?}");
}

#[test]
fn firmware_sysinfo_features_and_labels_are_checked() {
    let top = "<sysinfo type='smbios'><system><entry name='uuid'>c7a5fdbd-edaf-9455-926a-d65c16db1800</entry></system></sysinfo>
  <sysinfo type='fwcfg'><entry name='etc/x'>v</entry></sysinfo>";
    let xml = with_top(top, "")
        .replacen("<os>", "<os>\n    <smbios mode='sysinfo'/>", 1)
        .replacen(
            "</os>",
            "</os>\n  <features><hyperv mode='passthrough'><relaxed state='on'/></hyperv><kvm><dirty-ring state='on' size='1000'/></kvm></features>",
            1,
        )
        .replacen("</devices>", "</devices>\n  <seclabel type='static' model='selinux'/>\n  <seclabel type='none' model='selinux'/>", 1);
    let errs = every_line(&xml);
    let want = [
        "/domain/sysinfo[1]/system/entry: the system uuid differs from the domain's",
        "/domain/sysinfo[2]/entry/@name: a fw_cfg name starts with 'opt/' and is at most 55 bytes",
        "/domain/features/hyperv/@mode: mode 'passthrough' takes no enlightenments",
        "/domain/features/kvm/dirty-ring/@size: a power of two from 1024 to 65536",
        "/domain/seclabel[1]: a static label needs a <label>",
        "/domain/seclabel[2]/@model: model 'selinux' has a label already",
    ];
    for w in want {
        assert!(errs.iter().any(|e| e.ends_with(w)), "missing {w:?} in {errs:#?}");
    }
    // A <firmware> without features is refused (libvirt's schema wants one).
    let errs = every_line(&with("<os>", "<os>\n    <firmware/>"));
    assert_eq!(errs, ["7:5: /domain/os/firmware: missing element <feature> in <firmware>"]);
}

#[test]
fn the_new_parts_are_read_and_written_back() {
    let top = "<memoryBacking><hugepages/><access mode='shared'/></memoryBacking>
  <iothreads>2</iothreads>
  <numatune><memory mode='strict' nodeset='0'/></numatune>";
    let cpu = "<features><acpi/><hyperv mode='custom'><relaxed state='on'/><spinlocks state='on' retries='8191'/></hyperv><pmu state='off'/></features>
  <cpu><numa><cell id='0' cpus='0-1' memory='512' unit='MiB' memAccess='shared'/></numa></cpu>";
    let d = Domain::from_xml(&with_top(top, cpu)).unwrap();
    assert_eq!(d.iothreads.count, Some(2));
    let numa = d.cpu.as_ref().and_then(|c| c.numa.as_ref()).unwrap();
    assert_eq!(numa.total_memory(), virtkit_model::ByteSize::mib(512));
    let f = d.features.as_ref().unwrap();
    assert_eq!(f.hyperv.as_ref().unwrap().enlightenments(), [("relaxed", true), ("spinlocks", true)]);
    let again = Domain::from_xml(&d.to_xml()).unwrap();
    assert_eq!(again, d);
    assert_eq!(Domain::from_json(&d.to_json()).unwrap(), d);
}
