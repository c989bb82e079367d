//! Network namespaces of a test's own: virtkitd runs in one ("the host"),
//! joined by a veth pair to another ("the outside world") where a small
//! TCP responder tells each client the address it came from. Nothing
//! touches the real host's network.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A network namespace, held open by a sleeping process of the test's own.
pub struct Netns {
    holder: Child,
}

impl Netns {
    pub fn new() -> Netns {
        let holder = Command::new("unshare")
            .args(["-n", "sleep", "infinity"])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare is missing (util-linux)");
        let ns = Netns { holder };
        // unshare execs sleep once the namespace is made.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_link(format!("/proc/{}/ns/net", ns.pid())).ok()
            == std::fs::read_link("/proc/self/ns/net").ok()
        {
            assert!(Instant::now() < deadline, "unshare -n did not make a namespace");
            std::thread::sleep(Duration::from_millis(10));
        }
        ns.sh("ip link set lo up");
        ns
    }

    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// `nsenter … --`: what runs a command inside.
    pub fn wrapper(&self) -> Vec<String> {
        ["nsenter", "-t", &self.pid().to_string(), "-n", "--"].iter().map(|s| (*s).to_owned()).collect()
    }

    /// A command that runs inside.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.pid().to_string(), "-n", "--", program]);
        c
    }

    /// Runs a shell command inside; its output, whatever its status.
    pub fn try_sh(&self, script: &str) -> Output {
        self.command("sh").args(["-c", script]).output().unwrap()
    }

    /// Runs a shell command inside; its stdout. It must succeed.
    pub fn sh(&self, script: &str) -> String {
        let out = self.try_sh(script);
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// The host and the outside world: `host` reaches `outside` (OUTSIDE_IP)
/// over a veth pair, its default route through it; the outside has no
/// route back to any guest subnet, so only NAT brings answers back.
pub struct World {
    pub host: Netns,
    pub outside: Netns,
    responder: Child,
}

pub const HOST_IP: &str = "10.250.0.1";
pub const OUTSIDE_IP: &str = "10.250.0.2";
/// The responder's port: it answers `SEEN <client address>`.
pub const RESPONDER_PORT: u16 = 7777;

impl World {
    pub fn new() -> World {
        let host = Netns::new();
        let outside = Netns::new();
        host.sh(&format!(
            "ip link add vk-out type veth peer name vk-in netns /proc/{}/ns/net && \
             ip addr add {HOST_IP}/24 dev vk-out && ip link set vk-out up && \
             ip route add default via {OUTSIDE_IP}",
            outside.pid()
        ));
        outside.sh(&format!("ip addr add {OUTSIDE_IP}/24 dev vk-in && ip link set vk-in up"));
        let code = format!(
            "import socket\n\
             s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('{OUTSIDE_IP}', {RESPONDER_PORT})); s.listen(16)\n\
             while True:\n    c, a = s.accept(); c.sendall(('SEEN %s\\n' % a[0]).encode()); c.close()\n"
        );
        let responder = outside.command("python3").args(["-c", &code]).stdin(Stdio::null()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let probe = format!("exec 3<>/dev/tcp/{OUTSIDE_IP}/{RESPONDER_PORT}");
        while !host.command("bash").args(["-c", &probe]).output().unwrap().status.success() {
            assert!(Instant::now() < deadline, "the outside responder did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        World { host, outside, responder }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.responder.kill();
        let _ = self.responder.wait();
    }
}
