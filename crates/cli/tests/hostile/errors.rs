//! What a bad request is told: invalid-argument naming the field (never
//! internal), virtkit's error kind on every refusal (a message that does not
//! even decode too), and never more of what was sent than a few hundred
//! bytes.

use tonic::Code;
use virtkit_proto::convert::MAX_ERROR_TEXT;
use virtkit_proto::v1;

use crate::common::Daemon;
use crate::common::grpc::{channel, client, kind, raw_call, req};

const URI: &str = "test:///default";

#[tokio::test]
async fn a_bad_field_is_invalid_argument_and_named() {
    let d = Daemon::start(&[]);
    let mut c = client(&d.sock_ro()).await;
    let e = c
        .list_domains(req(v1::ListDomainsRequest { states: vec![1, 0], ..Default::default() }, URI))
        .await
        .expect_err("state 0 is no state");
    assert_eq!((e.code(), kind(&e)), (Code::InvalidArgument, Some("invalid-argument")), "{e:?}");
    assert!(e.message().starts_with("states[1]: "), "{e:?}");
    let e = c
        .get_domain_info(req(v1::GetDomainInfoRequest { uuid: "nope".into(), stats: false }, URI))
        .await
        .expect_err("not a uuid");
    assert_eq!((e.code(), kind(&e)), (Code::InvalidArgument, Some("invalid-argument")), "{e:?}");
    assert!(e.message().starts_with("uuid: 'nope'"), "{e:?}");
}

#[tokio::test]
async fn a_message_that_does_not_decode_says_so_with_its_kind() {
    let d = Daemon::start(&[]);
    // Field 1 (uuid, a string) with a length running past the end.
    let e = raw_call(channel(&d.sock_ro()).await, "/virtkit.v1.Virtkit/GetDomainInfo", vec![0x0a, 0x7f, b'x'], URI)
        .await
        .expect_err("garbage");
    assert_eq!((e.code(), kind(&e)), (Code::InvalidArgument, Some("invalid-argument")), "{e:?}");
    assert!(e.message().contains("does not decode"), "{e:?}");
}

#[tokio::test]
async fn a_huge_value_is_not_sent_back() {
    let d = Daemon::start(&[]);
    let mut c = client(&d.sock_ro()).await;
    let key = "k".repeat(10 << 20);
    let e = c.lookup_domain(req(v1::LookupDomainRequest { key }, URI)).await.expect_err("no such domain");
    assert_eq!(kind(&e), Some("not-found"), "{:?}", &e.message()[..200.min(e.message().len())]);
    assert!(e.message().len() <= MAX_ERROR_TEXT, "{} bytes came back", e.message().len());
    // Every path that quotes what it was sent is cut the same way.
    let e = c
        .get_domain_info(req(v1::GetDomainInfoRequest { uuid: "u".repeat(10 << 20), stats: false }, URI))
        .await
        .expect_err("not a uuid");
    assert_eq!(kind(&e), Some("invalid-argument"));
    assert!(e.message().len() <= MAX_ERROR_TEXT, "{} bytes came back", e.message().len());
    assert!(e.message().starts_with("uuid: 'uuuu") && e.message().contains('…'), "{}", e.message());
    // A document with a 1 MiB name: each problem's message is cut too.
    let name = "n".repeat(1 << 20);
    let xml = format!("<domain type='test'><{name}/></domain>");
    let alive = c.hello(req(v1::HelloRequest {}, URI)).await;
    assert!(alive.is_ok(), "{alive:?}\n{}", d.log());
    let mut rw = client(&d.sock()).await;
    let e = rw
        .define_domain(req(v1::DefineDomainRequest { xml, expected_generation: None }, URI))
        .await
        .expect_err("refused");
    assert_eq!(kind(&e), Some("invalid-document"));
    let details: v1::ErrorDetails = prost::Message::decode(e.details()).unwrap();
    assert!(!details.document_errors.is_empty());
    for p in &details.document_errors {
        assert!(
            p.message.len() <= MAX_ERROR_TEXT && p.path.len() <= MAX_ERROR_TEXT,
            "{} {}",
            p.path.len(),
            p.message.len()
        );
    }
    assert!(e.message().len() <= MAX_ERROR_TEXT);
}
