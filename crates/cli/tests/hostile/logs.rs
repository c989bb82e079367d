//! Log lines land whole, however many write the log.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use virtkit_proto::v1;

use crate::common::grpc::{client, req};
use crate::common::virtkitd_bin;

/// virtkitd's output opened without O_APPEND (as `virtkitd 2>log` does)
/// while another writer appends to the same log: each of its lines is
/// one write at the end, so neither writer tears or overwrites the
/// other's lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_of_one_log_tear_no_line() {
    let dir = tempfile::Builder::new().prefix("vklog").tempdir_in("/tmp").unwrap();
    let path = dir.path().join("log");
    let out = std::fs::OpenOptions::new().create(true).write(true).truncate(true).open(&path).unwrap();
    let mut child = std::process::Command::new(virtkitd_bin())
        .arg("--root")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let sock = dir.path().join("virtkit-sock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < deadline, "virtkitd did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    const N: usize = 300;
    let marker = |i: usize| format!("OTHER-WRITER {i:05} {}", "x".repeat(80));
    let other = {
        let path = path.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
            for i in 0..N {
                f.write_all(format!("{}\n", marker(i)).as_bytes()).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let mut c = client(&sock).await;
    for _ in 0..N {
        c.hello(req(v1::HelloRequest {}, "test:///default")).await.unwrap();
    }
    other.join().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut markers = 0;
    for line in text.lines() {
        if line.starts_with("OTHER-WRITER") {
            assert_eq!(line, marker(markers), "a torn line of the other writer");
            markers += 1;
        } else {
            assert!(line.starts_with("20") && line.contains("virtkitd"), "a torn line of virtkitd: {line:?}");
        }
    }
    assert_eq!(markers, N, "lines of the other writer were overwritten");
    assert!(text.matches("call=\"hello\"").count() >= N, "virtkitd's lines were overwritten");
}
