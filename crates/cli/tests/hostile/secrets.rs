//! Secret values (a VNC password …) are never shown to a read-only client,
//! and to a read-write one only when it asks (libvirt's
//! VIR_DOMAIN_XML_SECURE, virsh's `dumpxml --security-info`), in XML and
//! JSON, through the daemon and in process alike.

use tonic::Code;
use virtkit_proto::v1;

use crate::common::grpc::{client, kind, req};
use crate::common::{Daemon, run};

const URI: &str = "test:///default";

fn document() -> String {
    "<domain type='test'><name>s</name><uuid>5ec2e7a1-0000-4000-8000-000000000001</uuid><memory unit='MiB'>64</memory>\
     <os><type>hvm</type></os><devices><graphics type='vnc' port='-1' autoport='yes' passwd='S3CRET-vnc'/></devices></domain>"
        .to_owned()
}

#[tokio::test]
async fn read_only_clients_never_see_secrets() {
    let d = Daemon::start(&[]);
    let mut rw = client(&d.sock()).await;
    let info = rw
        .define_domain(req(v1::DefineDomainRequest { xml: document(), expected_generation: None }, URI))
        .await
        .unwrap()
        .into_inner();
    let ask = |secure: bool| v1::GetDomainXmlRequest { uuid: info.uuid.clone(), inactive: false, secure };
    let mut ro = client(&d.sock_ro()).await;
    let xml = ro.get_domain_xml(req(ask(false), URI)).await.unwrap().into_inner().xml;
    assert!(!xml.contains("S3CRET") && xml.contains("<graphics type='vnc'"), "{xml}");
    let e = ro.get_domain_xml(req(ask(true), URI)).await.expect_err("refused");
    assert_eq!((e.code(), kind(&e)), (Code::PermissionDenied, Some("permission-denied")), "{e:?}");
    // Read-write: only when asked.
    let xml = rw.get_domain_xml(req(ask(false), URI)).await.unwrap().into_inner().xml;
    assert!(!xml.contains("S3CRET"), "{xml}");
    let xml = rw.get_domain_xml(req(ask(true), URI)).await.unwrap().into_inner().xml;
    assert!(xml.contains("passwd='S3CRET-vnc'"), "{xml}");

    // The CLI, through either socket, in XML and JSON.
    let ro_uri = format!("test+unix:///default?socket={}", d.sock_ro().display());
    for (uri, script) in [
        (ro_uri.as_str(), "dumpxml s"),
        (&d.uri("test"), "dumpxml s"),
        (&d.uri("test"), "dumpxml s --json"),
        (&ro_uri, "dumpxml s --json"),
    ] {
        let (code, out, err) = run(uri, script);
        assert_eq!(code, 0, "{script}: {err}");
        assert!(out.contains("vnc") && !out.contains("S3CRET"), "{uri} {script}: {out}");
    }
    for script in ["dumpxml s --security-info", "dumpxml s --security-info --json"] {
        let (code, out, err) = run(&ro_uri, script);
        assert_eq!(code, 1, "{script}: {out}");
        assert!(err.contains("read-only") && !out.contains("S3CRET"), "{script}: {err}");
        let (code, out, err) = run(&d.uri("test"), script);
        assert_eq!(code, 0, "{script}: {err}");
        assert!(out.contains("S3CRET-vnc"), "{script}: {out}");
    }
}

#[test]
fn in_process_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.xml");
    std::fs::write(&file, document()).unwrap();
    let (code, out, err) = run(URI, &format!("define {}; dumpxml s; dumpxml s --json", file.display()));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("vnc") && !out.contains("S3CRET"), "{out}");
    let (code, out, err) = run(URI, &format!("define {}; dumpxml s --security-info", file.display()));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("passwd='S3CRET-vnc'"), "{out}");
}
