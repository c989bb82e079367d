//! Documents that take long to read hold up only the client that sent them.

use std::time::{Duration, Instant};

use crate::common::Daemon;
use crate::common::grpc::{client, kind, req};
use virtkit_proto::v1;

/// A document the daemon must read whole before it can refuse it: about
/// `mib` MiB of metadata, elements of 64 attributes each (within every
/// limit), then an element nobody knows.
fn slow_document(mib: usize) -> String {
    let attrs: String = (0..64).map(|i| format!(" a{i}='1'")).collect();
    let e = format!("<m:e{attrs}/>");
    format!(
        "<domain type='test'><name>slow</name><memory>1024</memory><os><type>hvm</type></os>\
         <metadata><m:r xmlns:m='urn:slow'>{}</m:r></metadata><bogus/></domain>",
        e.repeat((mib << 20) / e.len())
    )
}

async fn define(sock: &std::path::Path, xml: String) -> tonic::Status {
    let mut c = client(sock).await;
    c.define_domain(req(v1::DefineDomainRequest { xml, expected_generation: None }, "test:///default"))
        .await
        .expect_err("the document is refused")
}

/// Reading a document runs off the workers that serve every client: while
/// more documents than the daemon has workers are read, a read-only Hello
/// is still answered at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn big_documents_hold_up_no_other_client() {
    let d = Daemon::start(&[]);
    let xml = slow_document(3);
    let t = Instant::now();
    let e = define(&d.sock(), xml.clone()).await;
    let one = t.elapsed();
    assert_eq!(kind(&e), Some("invalid-document"), "{e:?}");
    assert!(e.message().contains("/domain/bogus"), "{e:?}");

    let mut ro = client(&d.sock_ro()).await;
    let hello = v1::HelloRequest {};
    ro.hello(req(hello, "test:///default")).await.unwrap();
    // More at once than the daemon has worker threads (2).
    let defines: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn({
                let (sock, xml) = (d.sock(), xml.clone());
                async move { define(&sock, xml).await }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut slowest = Duration::ZERO;
    let mut answered = 0;
    while !defines.iter().all(tokio::task::JoinHandle::is_finished) && answered < 20 {
        let t = Instant::now();
        let r = ro.hello(req(v1::HelloRequest {}, "test:///default")).await.unwrap().into_inner();
        assert!(r.read_only);
        slowest = slowest.max(t.elapsed());
        answered += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for t in defines {
        assert_eq!(kind(&t.await.unwrap()), Some("invalid-document"));
    }
    eprintln!("one refusal took {one:?}; {answered} Hellos meanwhile, the slowest in {slowest:?}");
    assert!(answered >= 3, "the defines were over before Hello could be timed ({one:?} each)");
    assert!(slowest < Duration::from_millis(500), "a Hello waited {slowest:?} behind documents");
}
