//! A stock gRPC client (gRPC's C core, through Python's grpcio) on the unix
//! sockets, with nothing set but the target: it sends the authority C core
//! sends for `unix:` targets (the socket path, percent-encoded), which
//! HTTP/2 alone would refuse. Runs where `python3` imports `grpc`
//! (`VIRTKIT_PYTHON` names another interpreter); says so and passes where
//! it does not. The same bytes are checked without Python by the daemon's
//! unit tests (`authority::tests`).

use std::process::Command;

use prost::Message;
use virtkit_proto::v1;

use crate::common::Daemon;

const SCRIPT: &str = r#"
import sys, grpc
target, method, uri = sys.argv[1], sys.argv[2], sys.argv[3]
with grpc.insecure_channel("unix:" + target) as ch:
    call = ch.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    try:
        reply = call(b"", metadata=[("virtkit-uri", uri)], timeout=20)
        print("ok", reply.hex())
    except grpc.RpcError as e:
        print("error", e.code().name, e.details())
"#;

fn python() -> Option<String> {
    let py = std::env::var("VIRTKIT_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let ok = Command::new(&py).args(["-c", "import grpc"]).output().is_ok_and(|o| o.status.success());
    ok.then_some(py)
}

fn call(py: &str, sock: &std::path::Path, method: &str) -> String {
    let out =
        Command::new(py).args(["-c", SCRIPT, sock.to_str().unwrap(), method, "test:///default"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn grpcio_talks_to_both_sockets_as_it_comes() {
    let Some(py) = python() else {
        eprintln!("skipped: no python3 with grpcio (pip install grpcio, or set VIRTKIT_PYTHON)");
        return;
    };
    let d = Daemon::start(&[]);
    for (sock, read_only) in [(d.sock(), false), (d.sock_ro(), true)] {
        let out = call(&py, &sock, "/virtkit.v1.Virtkit/Hello");
        let hex = out.strip_prefix("ok ").unwrap_or_else(|| panic!("{out}\n{}", d.log()));
        let bytes: Vec<u8> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        let hello = v1::HelloReply::decode(bytes.as_slice()).unwrap();
        assert_eq!(hello.read_only, read_only, "{hello:?}");
        assert_eq!(hello.driver, "test");
        let out = call(&py, &sock, "/virtkit.v1.Virtkit/ListDomains");
        assert!(out.starts_with("ok "), "{out}");
    }
    // A refusal reaches it as a status, not a reset stream.
    let out = call(&py, &d.sock_ro(), "/virtkit.v1.Virtkit/UndefineDomain");
    assert!(out.starts_with("error PERMISSION_DENIED"), "{out}");
}

/// The exact bytes gRPC C core 1.85 sends for `unix:` targets (captured
/// from grpcio): the `:authority` a new literal name, incrementally
/// indexed, its value the socket path without its first `/`,
/// percent-encoded. Written by hand on the socket, no Python needed: the
/// daemon answers, rather than resetting the stream.
#[test]
fn the_authority_grpc_core_sends_is_accepted() {
    use std::io::{Read, Write};
    let d = Daemon::start(&[]);
    let sock = d.sock_ro();
    let encoded: String = sock.to_str().unwrap()[1..].replace('/', "%2F");
    let lit = |out: &mut Vec<u8>, s: &[u8]| {
        assert!(s.len() < 127);
        out.push(s.len() as u8);
        out.extend_from_slice(s);
    };
    let mut block = Vec::new();
    for (name, value) in [(&b":path"[..], &b"/virtkit.v1.Virtkit/Hello"[..]), (b":authority", encoded.as_bytes())] {
        block.push(0x40);
        lit(&mut block, name);
        lit(&mut block, value);
    }
    // :method POST, :scheme http (static table), as C core sends them.
    block.extend([0x83, 0x86]);
    for (name, value) in
        [(&b"content-type"[..], &b"application/grpc"[..]), (b"te", b"trailers"), (b"virtkit-uri", b"test:///default")]
    {
        block.push(0x40);
        lit(&mut block, name);
        lit(&mut block, value);
    }
    let frame = |ty: u8, flags: u8, stream: u8, payload: &[u8]| {
        let n = payload.len();
        let mut f = vec![(n >> 16) as u8, (n >> 8) as u8, n as u8, ty, flags, 0, 0, 0, stream];
        f.extend_from_slice(payload);
        f
    };
    let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(4, 0, 0, &[]));
    out.extend(frame(1, 0x4, 1, &block));
    out.extend(frame(0, 0x1, 1, &[0, 0, 0, 0, 0]));
    s.write_all(&out).unwrap();
    // Frames back until the reply's DATA on stream 1, or a reset.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the daemon hung up: {}", d.log());
        got.extend_from_slice(&buf[..n]);
        let (mut i, mut data) = (0, None);
        while i + 9 <= got.len() {
            let len = usize::from(got[i]) << 16 | usize::from(got[i + 1]) << 8 | usize::from(got[i + 2]);
            let (ty, stream) = (got[i + 3], got[i + 8]);
            if i + 9 + len > got.len() {
                break;
            }
            assert!(!(ty == 3 && stream == 1), "the stream was reset: {}", d.log());
            if ty == 0 && stream == 1 && len > 5 {
                data = Some(got[i + 9 + 5..i + 9 + len].to_vec());
            }
            i += 9 + len;
        }
        if let Some(reply) = data {
            let hello = v1::HelloReply::decode(reply.as_slice()).unwrap();
            assert!(hello.read_only && hello.driver == "test", "{hello:?}");
            return;
        }
    }
}
