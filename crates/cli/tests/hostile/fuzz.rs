//! Input no well-behaved client sends, on every entry point: random
//! protobuf messages to every RPC, random bytes and truncated HTTP/2 on
//! every listener, oversize and deeply nested documents, names that are
//! paths. Seeded, so a failure can be replayed (VIRTKIT_FUZZ_SEED).

use std::io::Write;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use virtkit_proto::v1;

use crate::common::Daemon;
use crate::common::grpc::{channel, client, kind, raw_call, req};

const URIS: [&str; 4] = ["test:///default", "qemu:///system", "", "bogus:///x"];

/// xorshift64*: enough randomness for inputs, and replayable.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::env::var("VIRTKIT_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
        });
        eprintln!("VIRTKIT_FUZZ_SEED={seed}");
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A message of random fields: mostly well-formed protobuf (known field
/// numbers, every wire type, strings that are UUIDs, names, paths,
/// documents or junk), sometimes truncated or plain noise.
fn message(rng: &mut Rng, uuids: &[String]) -> Vec<u8> {
    if rng.below(8) == 0 {
        let n = rng.below(64) as usize;
        return rng.bytes(n);
    }
    let strings = |rng: &mut Rng| -> Vec<u8> {
        match rng.below(9) {
            0 => uuids[rng.below(uuids.len() as u64) as usize].clone().into_bytes(),
            1 => b"../../../../etc/passwd".to_vec(),
            2 => b"a/b\0c".to_vec(),
            3 => b"<domain type='test'><name>fz</name><memory>1</memory><os><type>hvm</type></os></domain>".to_vec(),
            4 => "<domain>".repeat(rng.below(2000) as usize).into_bytes(),
            5 => vec![0xff; rng.below(40) as usize],
            6 => b"acpi".to_vec(),
            7 => b"qemu-argv".to_vec(),
            _ => {
                let n = rng.below(40) as usize;
                rng.bytes(n)
            }
        }
    };
    let mut out = Vec::new();
    for _ in 0..rng.below(6) {
        let field = 1 + rng.below(12);
        match rng.below(4) {
            0 => {
                varint(field << 3, &mut out);
                let v = match rng.below(3) {
                    0 => rng.below(4),
                    1 => rng.below(100_000),
                    _ => rng.next(),
                };
                varint(v, &mut out);
            }
            1 | 2 => {
                varint((field << 3) | 2, &mut out);
                let s = strings(rng);
                varint(s.len() as u64, &mut out);
                out.extend_from_slice(&s);
            }
            _ => {
                let wire = [1, 5, 3, 4, 6, 7][rng.below(6) as usize];
                varint((field << 3) | wire, &mut out);
                let n = rng.below(9) as usize;
                out.extend(rng.bytes(n));
            }
        }
    }
    if !out.is_empty() && rng.below(6) == 0 {
        out.truncate(rng.below(out.len() as u64) as usize);
    }
    out
}

/// A message for a failure report: its length and first bytes.
fn show(body: &[u8]) -> String {
    format!("({} bytes) {:?}", body.len(), &body[..body.len().min(64)])
}

/// Every unary RPC of the contract, read from the .proto itself.
fn unary_rpcs() -> Vec<String> {
    let proto = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../proto/proto/virtkit.proto")).unwrap();
    let rpcs: Vec<String> = proto
        .lines()
        .filter_map(|l| l.trim().strip_prefix("rpc "))
        .filter(|l| !l.contains("stream "))
        .map(|l| l.split('(').next().unwrap().trim().to_owned())
        .collect();
    assert!(rpcs.len() >= 20, "{rpcs:?}");
    rpcs
}

async fn lists(c: &mut v1::virtkit_client::VirtkitClient<tonic::transport::Channel>) -> Vec<v1::DomainList> {
    let mut out = Vec::new();
    for uri in &URIS[..2] {
        out.push(c.list_domains(req(v1::ListDomainsRequest::default(), uri)).await.unwrap().into_inner());
    }
    out
}

/// Random messages to every RPC: none is answered `internal` (or left
/// unanswered), and one that is refused changes nothing (every list,
/// with its revision, is the same after it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_messages_to_every_rpc_are_refused_cleanly() {
    let d = Daemon::start(&[]);
    let mut rng = Rng::seeded();
    let mut c = client(&d.sock()).await;
    let mut before = lists(&mut c).await;
    let uuids: Vec<String> = before.iter().flat_map(|l| l.domains.iter().map(|d| d.uuid.clone())).collect();
    let uuids = if uuids.is_empty() { vec!["00000000-0000-0000-0000-000000000000".to_owned()] } else { uuids };
    let ch = channel(&d.sock()).await;
    let (mut calls, mut refused) = (0, 0);
    for rpc in unary_rpcs() {
        for _ in 0..30 {
            let body = message(&mut rng, &uuids);
            let uri = URIS[rng.below(URIS.len() as u64) as usize];
            let method = format!("/virtkit.v1.Virtkit/{rpc}");
            let r = tokio::time::timeout(Duration::from_secs(20), raw_call(ch.clone(), &method, body.clone(), uri))
                .await
                .unwrap_or_else(|_| panic!("{rpc} {} on '{uri}' was not answered", show(&body)));
            calls += 1;
            let after = lists(&mut c).await;
            match r {
                Ok(_) => before = after,
                Err(e) => {
                    refused += 1;
                    assert_ne!(e.code(), tonic::Code::Internal, "{rpc} {}: {e:?}", show(&body));
                    assert_ne!(e.code(), tonic::Code::Unknown, "{rpc} {}: {e:?}", show(&body));
                    assert!(kind(&e).is_some() || e.code() == tonic::Code::InvalidArgument, "{rpc}: {e:?}");
                    assert_eq!(after, before, "{rpc} {} was refused ({e:?}) but changed something", show(&body));
                }
            }
        }
    }
    eprintln!("{calls} random calls, {refused} refused");
    c.hello(req(v1::HelloRequest {}, "test:///default")).await.unwrap();
}

/// Junk on every listener (random bytes, a truncated HTTP/2 preface, a
/// preface and a frame that stops half-way, a connection held open
/// silent): the daemon keeps serving other clients meanwhile and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_on_every_listener_leaves_the_daemon_serving() {
    let d = Daemon::start(&[]);
    let mut rng = Rng::seeded();
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut held = Vec::new();
    for sock in [d.sock(), d.sock_ro()] {
        for i in 0..40 {
            let mut s = tokio::net::UnixStream::connect(&sock).await.unwrap();
            let junk = match i % 4 {
                0 => {
                    let n = rng.below(8192) as usize;
                    rng.bytes(n)
                }
                1 => PREFACE[..rng.below(PREFACE.len() as u64) as usize].to_vec(),
                2 => {
                    // A SETTINGS frame header that promises more than comes.
                    let mut v = PREFACE.to_vec();
                    v.extend_from_slice(&[0, 0x40, 0, 4, 0, 0, 0, 0, 0]);
                    let n = rng.below(100) as usize;
                    v.extend(rng.bytes(n));
                    v
                }
                _ => {
                    // A HEADERS frame for a stream with garbage HPACK.
                    let mut v = PREFACE.to_vec();
                    v.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
                    let n = 1 + rng.below(200) as usize;
                    v.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8, 1, 4, 0, 0, 0, 1]);
                    v.extend(rng.bytes(n));
                    v
                }
            };
            let _ = s.write_all(&junk).await;
            if i % 10 == 0 {
                held.push(s);
            }
        }
        // Meanwhile, and on this very listener, a good client is served.
        let mut good = client(&sock).await;
        tokio::time::timeout(Duration::from_secs(10), good.hello(req(v1::HelloRequest {}, "test:///default")))
            .await
            .expect("a good client is answered while junk is held open")
            .unwrap();
    }
    drop(held);
    let mut c = client(&d.sock()).await;
    c.hello(req(v1::HelloRequest {}, "test:///default")).await.unwrap();
    c.list_domains(req(v1::ListDomainsRequest::default(), "test:///default")).await.unwrap();
}

/// Documents past every limit are refused with a reason, never `internal`,
/// and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_and_deeply_nested_documents_are_refused() {
    let d = Daemon::start(&[]);
    let mut c = client(&d.sock()).await.max_encoding_message_size(usize::MAX);
    let before = lists(&mut c).await;
    let deep = format!(
        "<domain type='test'><name>deep</name><memory>1</memory><os><type>hvm</type></os><metadata>{}{}</metadata></domain>",
        "<m:a xmlns:m='urn:x'>".repeat(100_000),
        "</m:a>".repeat(100_000)
    );
    let big = format!(
        "<domain type='test'><name>big</name><memory>1</memory><os><type>hvm</type></os><description>{}</description></domain>",
        "x".repeat(virtkit_proto::MAX_MESSAGE + 1)
    );
    let unclosed = "<domain>".repeat(200_000);
    for (what, xml) in [("deep", deep), ("oversize", big), ("unclosed", unclosed)] {
        for uri in &URIS[..2] {
            let msg = v1::DefineDomainRequest { xml: xml.clone(), expected_generation: None };
            let e = c.define_domain(req(msg, uri)).await.expect_err(what);
            assert!(!matches!(e.code(), tonic::Code::Internal | tonic::Code::Unknown), "{what}: {e:?}");
            eprintln!("{what} on {uri}: {:?} {}", e.code(), kind(&e).unwrap_or("-"));
        }
    }
    assert_eq!(lists(&mut c).await, before);
}

/// Names and keys that are paths, or hold NUL, are refused (or not found)
/// and write nothing anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_are_paths_are_refused() {
    let d = Daemon::start(&[]);
    let mut c = client(&d.sock()).await;
    let before = lists(&mut c).await;
    let files = |d: &Daemon| {
        let mut n = 0;
        let mut stack = vec![d.root().to_owned()];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).unwrap().flatten() {
                n += 1;
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                }
            }
        }
        n
    };
    let files_before = files(&d);
    for name in ["a/b", "..", ".", "../../escape", "a&#0;b", "/abs", "a\u{1}b", ""] {
        for uri in &URIS[..2] {
            let ty = if uri.starts_with("qemu") { "qemu" } else { "test" };
            let xml =
                format!("<domain type='{ty}'><name>{name}</name><memory>1</memory><os><type>hvm</type></os></domain>");
            let e = c
                .define_domain(req(v1::DefineDomainRequest { xml, expected_generation: None }, uri))
                .await
                .expect_err(name);
            assert!(matches!(kind(&e), Some("invalid-document" | "invalid-argument")), "{name:?} on {uri}: {e:?}");
            let key = v1::LookupDomainRequest { key: name.replace("&#0;", "\0") };
            let e = c.lookup_domain(req(key, uri)).await.expect_err(name);
            assert_eq!(kind(&e), Some("not-found"), "{name:?}: {e:?}");
        }
    }
    // The NUL and a path as a UUID.
    for uuid in ["../../x", "a\0b", "00000000-0000-0000-0000-00000000000/"] {
        let e = c.get_domain_info(req(v1::GetDomainInfoRequest { uuid: uuid.into(), stats: false }, URIS[0])).await;
        let e = e.expect_err(uuid);
        assert_eq!(kind(&e), Some("invalid-argument"), "{uuid:?}: {e:?}");
    }
    assert_eq!(lists(&mut c).await, before);
    // The daemon's log grew; nothing else did.
    let _ = std::io::stderr().flush();
    assert_eq!(files(&d), files_before, "a refused name wrote a file");
}
