//! A small iSCSI initiator (RFC 7143): one session to one target, over
//! TCP, without digests, with CHAP (MD5) or no authentication, enough to ask which LUNs the
//! target has (REPORT LUNS), what each is (INQUIRY) and how big
//! (READ CAPACITY (16)). A guest's data never goes through it: QEMU has
//! its own initiator.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::chap::{self, Credentials};

/// How long connecting, logging in or one command may take.
const TIMEOUT: Duration = Duration::from_secs(20);
/// What this initiator takes in one PDU's data (declared at login).
const MAX_RECV: u32 = 262_144;

const OP_SCSI_CMD: u8 = 0x01;
const OP_LOGIN: u8 = 0x03;
const OP_LOGOUT: u8 = 0x06;
const OP_NOP_OUT: u8 = 0x00;
const OP_NOP_IN: u8 = 0x20;
const OP_SCSI_RESPONSE: u8 = 0x21;
const OP_LOGIN_RESPONSE: u8 = 0x23;
const OP_DATA_IN: u8 = 0x25;
const OP_LOGOUT_RESPONSE: u8 = 0x26;
const OP_REJECT: u8 = 0x3f;
const IMMEDIATE: u8 = 0x40;
const FINAL: u8 = 0x80;

/// SCSI status CHECK CONDITION, and the sense key UNIT ATTENTION that a
/// target reports once after a reset or a change: the command is retried.
const CHECK_CONDITION: u8 = 0x02;
const UNIT_ATTENTION: u8 = 0x06;
/// The peripheral device type of a disk (SBC).
pub(crate) const DIRECT_ACCESS: u8 = 0x00;

#[derive(Debug, thiserror::Error)]
pub(crate) enum IscsiError {
    #[error("cannot connect to {portal}: {source}")]
    Connect {
        portal: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{portal} did not answer in {} s", TIMEOUT.as_secs())]
    Timeout { portal: String },
    #[error("the connection to {portal} broke: {source}")]
    Lost {
        portal: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the login was refused (status {class}/{detail:#04x})")]
    Refused { class: u8, detail: u8 },
    #[error("{0}")]
    Login(String),
    #[error("the target answered what cannot be read: {0}")]
    Protocol(String),
    #[error("{op} of LUN {lun} failed: {why}")]
    Command { op: &'static str, lun: u32, why: String },
}

/// A LUN as REPORT LUNS and INQUIRY see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lun {
    pub lun: u32,
    /// Its peripheral device type (`DIRECT_ACCESS` for a disk).
    pub device_type: u8,
}

/// One PDU: its 48-byte header and its data.
struct Pdu {
    bhs: [u8; 48],
    data: Vec<u8>,
}

impl Pdu {
    fn new(opcode: u8, flags: u8) -> Pdu {
        let mut bhs = [0u8; 48];
        bhs[0] = opcode;
        bhs[1] = flags;
        Pdu { bhs, data: Vec::new() }
    }

    fn opcode(&self) -> u8 {
        self.bhs[0] & 0x3f
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_be_bytes([self.bhs[at], self.bhs[at + 1], self.bhs[at + 2], self.bhs[at + 3]])
    }

    fn set_u32(&mut self, at: usize, v: u32) {
        self.bhs[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
}

/// `key=value` pairs as login carries them, each ended by a NUL.
fn text(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

/// Why a login was refused, from its status class and detail.
pub(crate) fn login_refusal(class: u8, detail: u8, target: &str) -> String {
    match (class, detail) {
        (1, _) => format!("the portal redirects {target} elsewhere, which is not supported"),
        (2, 0x01) => format!("{target} refused the login: it wants authentication"),
        (2, 0x02) => format!("{target} does not let this initiator in"),
        (2, 0x03) => format!("no target {target} at this portal"),
        (2, 0x04) => format!("{target} has been removed"),
        (2, d) => format!("{target} refused the login (initiator error {d:#04x})"),
        (3, d) => format!("{target} could not take the login (target error {d:#04x})"),
        (c, d) => format!("{target} refused the login (status {c}/{d:#04x})"),
    }
}

/// The 8-byte SCSI LUN of a LUN number (peripheral, or flat above 255).
fn lun_bytes(lun: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    if lun < 256 {
        b[1] = lun as u8;
    } else {
        b[0] = 0x40 | ((lun >> 8) & 0x3f) as u8;
        b[1] = (lun & 0xff) as u8;
    }
    b
}

/// The LUN number of an 8-byte SCSI LUN, if it is one this initiator
/// can name (peripheral or flat addressing).
fn lun_number(b: &[u8]) -> Option<u32> {
    match b[0] >> 6 {
        0 if b[0] == 0 => Some(u32::from(b[1])),
        1 => Some((u32::from(b[0] & 0x3f) << 8) | u32::from(b[1])),
        _ => None,
    }
}

/// Reads REPORT LUNS data: the LUN numbers, and the bytes the whole list
/// needs (more than were asked for when it was cut short).
fn parse_report_luns(data: &[u8]) -> Result<(Vec<u32>, usize), IscsiError> {
    let head = data.get(..8).ok_or_else(|| IscsiError::Protocol("a REPORT LUNS list of no length".into()))?;
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let luns = data[8..].chunks_exact(8).take(len / 8).filter_map(lun_number).collect();
    Ok((luns, len + 8))
}

/// Reads READ CAPACITY (16) data: the size in bytes.
fn parse_capacity16(data: &[u8]) -> Option<u64> {
    let last = u64::from_be_bytes(data.get(..8)?.try_into().ok()?);
    let block = u32::from_be_bytes(data.get(8..12)?.try_into().ok()?);
    last.checked_add(1)?.checked_mul(u64::from(block))
}

/// What a command came to: its data, or its SCSI status and sense key.
type Outcome = Result<Vec<u8>, (u8, Option<u8>)>;

/// A login under way: the session's ISID and the TSIH the target gave.
struct Login {
    isid: [u8; 6],
    tsih: u16,
}

/// A session in full feature phase.
pub(crate) struct Session {
    stream: TcpStream,
    portal: String,
    itt: u32,
    cmd_sn: u32,
    exp_stat_sn: u32,
}

impl Session {
    /// Connects to `portal` (`HOST:PORT`) and logs in to `target` as
    /// `initiator`, with CHAP when `chap` is given.
    pub(crate) async fn login(
        portal: &str,
        target: &str,
        initiator: &str,
        chap: Option<&Credentials>,
    ) -> Result<Session, IscsiError> {
        let timeout = || IscsiError::Timeout { portal: portal.to_owned() };
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(portal))
            .await
            .map_err(|_| timeout())?
            .map_err(|source| IscsiError::Connect { portal: portal.to_owned(), source })?;
        let mut s = Session { stream, portal: portal.to_owned(), itt: 0, cmd_sn: 1, exp_stat_sn: 0 };
        tokio::time::timeout(TIMEOUT, s.negotiate(target, initiator, chap)).await.map_err(|_| timeout())??;
        Ok(s)
    }

    async fn negotiate(&mut self, target: &str, initiator: &str, chap: Option<&Credentials>) -> Result<(), IscsiError> {
        let max_recv = MAX_RECV.to_string();
        let security = text(&[
            ("InitiatorName", initiator),
            ("TargetName", target),
            ("SessionType", "Normal"),
            ("AuthMethod", if chap.is_some() { "CHAP" } else { "None" }),
        ]);
        let operational = text(&[
            ("HeaderDigest", "None"),
            ("DataDigest", "None"),
            ("MaxRecvDataSegmentLength", &max_recv),
            ("ErrorRecoveryLevel", "0"),
            ("InitialR2T", "Yes"),
            ("ImmediateData", "No"),
            ("MaxConnections", "1"),
            ("MaxBurstLength", &max_recv),
            ("FirstBurstLength", &max_recv),
            ("DefaultTime2Wait", "0"),
            ("DefaultTime2Retain", "0"),
            ("MaxOutstandingR2T", "1"),
            ("DataPDUInOrder", "Yes"),
            ("DataSequenceInOrder", "Yes"),
        ]);
        // A random ISID (type 10b): a session of its own, never one that
        // replaces another of this initiator name (QEMU's, or a listing
        // going on beside).
        let r = uuid::Uuid::new_v4().into_bytes();
        let mut login = Login { isid: [0x80 | (r[0] & 0x3f), r[1], r[2], r[3], r[4], r[5]], tsih: 0 };
        // Security (0) to operational (1), then operational to full
        // feature (3); a stage the target does not end yet is sent again.
        let mut stage = match chap {
            Some(c) => self.authenticate(&mut login, security.clone(), c).await?,
            None => 0,
        };
        if stage == 3 {
            return Ok(());
        }
        for _ in 0..8 {
            let (csg, data) = if stage == 0 { (0, security.clone()) } else { (1, operational.clone()) };
            let nsg = if stage == 0 { 1 } else { 3 };
            let r = self.login_step(&mut login, csg, Some(nsg), data).await?;
            let transit = r.bhs[1] & FINAL != 0;
            match (transit, r.bhs[1] & 0x03) {
                (true, 3) => return Ok(()),
                (true, 1) => stage = 1,
                (true, n) => return Err(IscsiError::Protocol(format!("login moved to stage {n}"))),
                (false, _) => {}
            }
        }
        Err(IscsiError::Login(format!("{target} did not end the login")))
    }

    /// The security stage with CHAP: the offer, the algorithm, the answer
    /// to the target's challenge. Returns the stage the target moved to.
    async fn authenticate(&mut self, login: &mut Login, offer: Vec<u8>, c: &Credentials) -> Result<u8, IscsiError> {
        let r = self.login_step(login, 0, None, offer).await?;
        match chap::key(&r.data, "AuthMethod") {
            Some("CHAP") => {}
            other => {
                let said = other.unwrap_or("nothing");
                return Err(IscsiError::Login(format!("CHAP was offered, the target chose {said}")));
            }
        }
        let r = self.login_step(login, 0, None, text(&[("CHAP_A", chap::MD5)])).await?;
        let (id, challenge) = chap::challenge(&r.data).map_err(IscsiError::Login)?;
        let answer = chap::hex(&chap::response(id, &c.secret, &challenge));
        let r = self.login_step(login, 0, Some(1), text(&[("CHAP_N", &c.user), ("CHAP_R", &answer)])).await?;
        match (r.bhs[1] & FINAL != 0, r.bhs[1] & 0x03) {
            (true, 1) => Ok(1),
            (true, 3) => Ok(3),
            _ => Err(IscsiError::Login("the target did not end the CHAP exchange".into())),
        }
    }

    /// Sends one login request of stage `csg` (asking to move to `nsg`, if
    /// given) and returns the target's answer, which must be a success.
    async fn login_step(
        &mut self,
        login: &mut Login,
        csg: u8,
        nsg: Option<u8>,
        data: Vec<u8>,
    ) -> Result<Pdu, IscsiError> {
        let flags = match nsg {
            Some(n) => FINAL | (csg << 2) | n,
            None => csg << 2,
        };
        let mut p = Pdu::new(IMMEDIATE | OP_LOGIN, flags);
        p.bhs[8..14].copy_from_slice(&login.isid);
        p.bhs[14..16].copy_from_slice(&login.tsih.to_be_bytes());
        p.data = data;
        let itt = self.next_itt();
        p.set_u32(16, itt);
        self.send(&mut p, false).await?;
        let r = self.recv().await?;
        if r.opcode() != OP_LOGIN_RESPONSE {
            return Err(IscsiError::Protocol(format!("opcode {:#04x} during login", r.opcode())));
        }
        let (class, detail) = (r.bhs[36], r.bhs[37]);
        if class != 0 {
            return Err(IscsiError::Refused { class, detail });
        }
        self.exp_stat_sn = r.u32_at(24).wrapping_add(1);
        login.tsih = u16::from_be_bytes([r.bhs[14], r.bhs[15]]);
        Ok(r)
    }

    /// A new initiator task tag.
    fn next_itt(&mut self) -> u32 {
        self.itt = self.itt.wrapping_add(1) % u32::MAX;
        self.itt
    }

    /// Sends a PDU with its sequence numbers (a command advances CmdSN).
    async fn send(&mut self, p: &mut Pdu, advance: bool) -> Result<(), IscsiError> {
        let len = p.data.len() as u32;
        p.bhs[5..8].copy_from_slice(&len.to_be_bytes()[1..]);
        p.set_u32(24, self.cmd_sn);
        p.set_u32(28, self.exp_stat_sn);
        if advance {
            self.cmd_sn = self.cmd_sn.wrapping_add(1);
        }
        let mut bytes = p.bhs.to_vec();
        bytes.extend_from_slice(&p.data);
        bytes.resize(bytes.len().next_multiple_of(4), 0);
        self.stream.write_all(&bytes).await.map_err(|e| self.lost(e))
    }

    async fn recv(&mut self) -> Result<Pdu, IscsiError> {
        let mut p = Pdu::new(0, 0);
        self.stream.read_exact(&mut p.bhs).await.map_err(|e| self.lost(e))?;
        let ahs = usize::from(p.bhs[4]) * 4;
        let len = u32::from_be_bytes([0, p.bhs[5], p.bhs[6], p.bhs[7]]) as usize;
        if len > MAX_RECV as usize * 4 {
            return Err(IscsiError::Protocol(format!("a PDU of {len} bytes")));
        }
        let mut rest = vec![0u8; ahs + len.next_multiple_of(4)];
        self.stream.read_exact(&mut rest).await.map_err(|e| self.lost(e))?;
        p.data = rest[ahs..ahs + len].to_vec();
        Ok(p)
    }

    fn lost(&self, source: std::io::Error) -> IscsiError {
        IscsiError::Lost { portal: self.portal.clone(), source }
    }

    /// Runs a command that reads up to `alloc` bytes from LUN `lun`; a
    /// unit attention is cleared by sending it again.
    async fn read_command(
        &mut self,
        op: &'static str,
        lun: u32,
        cdb: &[u8],
        alloc: u32,
    ) -> Result<Vec<u8>, IscsiError> {
        for _ in 0..4 {
            match tokio::time::timeout(TIMEOUT, self.command_once(lun, cdb, alloc)).await {
                Err(_) => return Err(IscsiError::Timeout { portal: self.portal.clone() }),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(Ok(data))) => return Ok(data),
                Ok(Ok(Err((status, sense_key)))) if status == CHECK_CONDITION && sense_key == Some(UNIT_ATTENTION) => {}
                Ok(Ok(Err((status, sense_key)))) => {
                    let key = sense_key.map_or(String::new(), |k| format!(", sense key {k:#x}"));
                    return Err(IscsiError::Command { op, lun, why: format!("status {status:#04x}{key}") });
                }
            }
        }
        Err(IscsiError::Command { op, lun, why: "the unit attention did not clear".into() })
    }

    /// One command: its data, or its SCSI status and sense key.
    async fn command_once(&mut self, lun: u32, cdb: &[u8], alloc: u32) -> Result<Outcome, IscsiError> {
        let mut p = Pdu::new(OP_SCSI_CMD, FINAL | 0x40 | 0x01); // read, simple task
        p.bhs[8..16].copy_from_slice(&lun_bytes(lun));
        p.set_u32(20, alloc);
        p.bhs[32..32 + cdb.len()].copy_from_slice(cdb);
        let itt = self.next_itt();
        p.set_u32(16, itt);
        self.send(&mut p, true).await?;
        let mut data = Vec::new();
        loop {
            let r = self.recv().await?;
            match r.opcode() {
                OP_DATA_IN if r.u32_at(16) == itt => {
                    let at = r.u32_at(40) as usize;
                    if at + r.data.len() > alloc as usize {
                        return Err(IscsiError::Protocol(format!("more data than the {alloc} bytes asked for")));
                    }
                    if data.len() < at + r.data.len() {
                        data.resize(at + r.data.len(), 0);
                    }
                    data[at..at + r.data.len()].copy_from_slice(&r.data);
                    if r.bhs[1] & 0x01 != 0 {
                        self.exp_stat_sn = r.u32_at(24).wrapping_add(1);
                        let status = r.bhs[3];
                        return Ok(if status == 0 { Ok(data) } else { Err((status, None)) });
                    }
                }
                OP_SCSI_RESPONSE if r.u32_at(16) == itt => {
                    self.exp_stat_sn = r.u32_at(24).wrapping_add(1);
                    if r.bhs[2] != 0 {
                        return Err(IscsiError::Protocol(format!("a command ended with response {:#04x}", r.bhs[2])));
                    }
                    let status = r.bhs[3];
                    // Sense data: its length (2 bytes), then fixed or
                    // descriptor format.
                    let sense_key = r.data.get(2..).and_then(|s| match s.first()? & 0x7f {
                        0x70 | 0x71 => s.get(2).map(|k| k & 0x0f),
                        0x72 | 0x73 => s.get(1).map(|k| k & 0x0f),
                        _ => None,
                    });
                    return Ok(if status == 0 { Ok(data) } else { Err((status, sense_key)) });
                }
                OP_NOP_IN if r.u32_at(20) != u32::MAX => {
                    // A ping from the target: answered with its tag.
                    let mut out = Pdu::new(IMMEDIATE | OP_NOP_OUT, FINAL);
                    out.bhs[8..16].copy_from_slice(&r.bhs[8..16]);
                    out.set_u32(16, u32::MAX);
                    out.set_u32(20, r.u32_at(20));
                    self.send(&mut out, false).await?;
                }
                OP_REJECT => return Err(IscsiError::Protocol("the target rejected a command".into())),
                _ => {}
            }
        }
    }

    /// The target's LUNs, each with its device type.
    pub(crate) async fn luns(&mut self) -> Result<Vec<Lun>, IscsiError> {
        let mut alloc: u32 = 16 + 8 * 32;
        let numbers = loop {
            let mut cdb = [0u8; 12];
            cdb[0] = 0xa0;
            cdb[6..10].copy_from_slice(&alloc.to_be_bytes());
            let data = self.read_command("REPORT LUNS", 0, &cdb, alloc).await?;
            let (numbers, needed) = parse_report_luns(&data)?;
            if needed <= alloc as usize || alloc >= MAX_RECV {
                break numbers;
            }
            alloc = (needed as u32).min(MAX_RECV);
        };
        let mut out = Vec::with_capacity(numbers.len());
        for lun in numbers {
            let data = self.read_command("INQUIRY", lun, &[0x12, 0, 0, 0, 36, 0], 36).await?;
            let first = *data.first().ok_or_else(|| IscsiError::Protocol("an empty INQUIRY answer".into()))?;
            // Qualifier 0: a device is connected at this LUN.
            if first >> 5 == 0 {
                out.push(Lun { lun, device_type: first & 0x1f });
            }
        }
        Ok(out)
    }

    /// The size in bytes of a LUN.
    pub(crate) async fn capacity(&mut self, lun: u32) -> Result<u64, IscsiError> {
        let mut cdb = [0u8; 16];
        cdb[0] = 0x9e;
        cdb[1] = 0x10;
        cdb[13] = 32;
        let data = self.read_command("READ CAPACITY (16)", lun, &cdb, 32).await?;
        parse_capacity16(&data).ok_or_else(|| IscsiError::Protocol("a READ CAPACITY answer too short".into()))
    }

    /// Logs out (the session ends either way).
    pub(crate) async fn logout(mut self) {
        let mut p = Pdu::new(IMMEDIATE | OP_LOGOUT, FINAL);
        let itt = self.next_itt();
        p.set_u32(16, itt);
        if self.send(&mut p, false).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Ok(r) = self.recv().await {
                    if r.opcode() == OP_LOGOUT_RESPONSE {
                        break;
                    }
                }
            })
            .await;
        }
        let _ = self.stream.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luns_are_addressed_as_sam_says() {
        for lun in [0, 1, 255, 256, 16383] {
            assert_eq!(lun_number(&lun_bytes(lun)), Some(lun), "{lun}");
        }
        assert_eq!(lun_bytes(3), [0, 3, 0, 0, 0, 0, 0, 0]);
        assert_eq!(lun_bytes(300), [0x41, 0x2c, 0, 0, 0, 0, 0, 0]);
        assert_eq!(lun_number(&[0x81, 0, 0, 0, 0, 0, 0, 0]), None);
    }

    #[test]
    fn report_luns_and_capacity_are_read() {
        let mut data = vec![0, 0, 0, 24, 0, 0, 0, 0];
        for lun in [0u32, 1, 2] {
            data.extend_from_slice(&lun_bytes(lun));
        }
        assert_eq!(parse_report_luns(&data).unwrap(), (vec![0, 1, 2], 32));
        // Cut short: the list says how long it is.
        assert_eq!(parse_report_luns(&data[..16]).unwrap(), (vec![0], 32));
        assert!(parse_report_luns(&[0, 0]).is_err());
        let mut cap = 16383u64.to_be_bytes().to_vec();
        cap.extend_from_slice(&512u32.to_be_bytes());
        cap.resize(32, 0);
        assert_eq!(parse_capacity16(&cap), Some(8 << 20));
        assert_eq!(parse_capacity16(&cap[..10]), None);
    }

    async fn read_pdu(s: &mut TcpStream) -> ([u8; 48], Vec<u8>) {
        let mut bhs = [0u8; 48];
        s.read_exact(&mut bhs).await.unwrap();
        let len = u32::from_be_bytes([0, bhs[5], bhs[6], bhs[7]]) as usize;
        let mut data = vec![0u8; len.next_multiple_of(4)];
        s.read_exact(&mut data).await.unwrap();
        data.truncate(len);
        (bhs, data)
    }

    async fn write_pdu(s: &mut TcpStream, mut bhs: [u8; 48], data: &[u8]) {
        bhs[5..8].copy_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
        let mut all = bhs.to_vec();
        all.extend_from_slice(data);
        all.resize(all.len().next_multiple_of(4), 0);
        s.write_all(&all).await.unwrap();
    }

    /// A reply to `req` of `opcode`, with its task tag.
    fn answer(req: &[u8; 48], opcode: u8, flags: u8) -> [u8; 48] {
        let mut bhs = [0u8; 48];
        bhs[0] = opcode;
        bhs[1] = flags;
        bhs[16..20].copy_from_slice(&req[16..20]);
        bhs
    }

    /// Data-In that ends a command with status GOOD.
    fn data_in(req: &[u8; 48]) -> [u8; 48] {
        answer(req, OP_DATA_IN, FINAL | 0x01)
    }

    /// A target that pings, reports a unit attention once, and has a
    /// controller at LUN 0 and a disk of 1 MiB at LUN 1.
    async fn fake_target(mut s: TcpStream) {
        let (req, data) = read_pdu(&mut s).await;
        assert_eq!((req[0], req[1], req[8] >> 6), (IMMEDIATE | OP_LOGIN, FINAL | 1, 0b10));
        assert!(data.split(|b| *b == 0).any(|kv| kv == b"TargetName=iqn.a:t"));
        write_pdu(&mut s, answer(&req, OP_LOGIN_RESPONSE, FINAL | 1), b"AuthMethod=None\0").await;
        let (req, _) = read_pdu(&mut s).await;
        assert_eq!(req[1], FINAL | (1 << 2) | 3);
        let mut done = answer(&req, OP_LOGIN_RESPONSE, FINAL | (1 << 2) | 3);
        done[15] = 7; // TSIH
        write_pdu(&mut s, done, b"").await;
        // REPORT LUNS: a ping first, then a unit attention, then the list.
        let (req, _) = read_pdu(&mut s).await;
        assert_eq!(req[32], 0xa0);
        let mut nop = answer(&req, OP_NOP_IN, FINAL);
        nop[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        nop[20..24].copy_from_slice(&0x1234u32.to_be_bytes());
        write_pdu(&mut s, nop, b"").await;
        let (pong, _) = read_pdu(&mut s).await;
        assert_eq!((pong[0] & 0x3f, &pong[16..24]), (OP_NOP_OUT, &[0xff, 0xff, 0xff, 0xff, 0, 0, 0x12, 0x34][..]));
        let mut ua = answer(&req, OP_SCSI_RESPONSE, FINAL);
        ua[3] = CHECK_CONDITION;
        write_pdu(&mut s, ua, &[0, 18, 0x70, 0, UNIT_ATTENTION, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x29, 0, 0, 0, 0, 0]).await;
        let (req, _) = read_pdu(&mut s).await;
        assert_eq!(req[32], 0xa0, "the command was not sent again");
        let mut list = vec![0, 0, 0, 16, 0, 0, 0, 0];
        list.extend_from_slice(&lun_bytes(0));
        list.extend_from_slice(&lun_bytes(1));
        write_pdu(&mut s, data_in(&req), &list).await;
        for device_type in [0x0c, DIRECT_ACCESS] {
            let (req, _) = read_pdu(&mut s).await;
            assert_eq!(req[32], 0x12);
            let mut inq = vec![0u8; 36];
            inq[0] = device_type;
            write_pdu(&mut s, data_in(&req), &inq).await;
        }
        let (req, _) = read_pdu(&mut s).await;
        assert_eq!((req[32], req[9]), (0x9e, 1));
        let mut cap = 2047u64.to_be_bytes().to_vec();
        cap.extend_from_slice(&512u32.to_be_bytes());
        cap.resize(32, 0);
        write_pdu(&mut s, data_in(&req), &cap).await;
        let (req, _) = read_pdu(&mut s).await;
        assert_eq!(req[0], IMMEDIATE | OP_LOGOUT);
        write_pdu(&mut s, answer(&req, OP_LOGOUT_RESPONSE, FINAL), b"").await;
    }

    #[tokio::test]
    async fn a_session_answers_pings_and_outlasts_a_unit_attention() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let portal = listener.local_addr().unwrap().to_string();
        let target = tokio::spawn(async move { fake_target(listener.accept().await.unwrap().0).await });
        let mut s = Session::login(&portal, "iqn.a:t", "iqn.a:i", None).await.unwrap();
        let luns = s.luns().await.unwrap();
        assert_eq!(luns, [Lun { lun: 0, device_type: 0x0c }, Lun { lun: 1, device_type: DIRECT_ACCESS }]);
        assert_eq!(s.capacity(1).await.unwrap(), 1 << 20);
        s.logout().await;
        target.await.unwrap();
    }

    /// A target that wants CHAP with user `u` and secret `s3cret`: it
    /// checks the answer to its challenge and refuses a wrong one.
    async fn chap_target(mut s: TcpStream) {
        let (req, data) = read_pdu(&mut s).await;
        assert_eq!(req[1], 0, "the CHAP offer asks for no transit");
        assert!(data.split(|b| *b == 0).any(|kv| kv == b"AuthMethod=CHAP"));
        write_pdu(&mut s, answer(&req, OP_LOGIN_RESPONSE, 0), b"AuthMethod=CHAP\0").await;
        let (req, data) = read_pdu(&mut s).await;
        assert_eq!(data, b"CHAP_A=5\0");
        let c = [0x5au8; 16];
        let said = format!("CHAP_A=5\0CHAP_I=9\0CHAP_C={}\0", chap::hex(&c));
        write_pdu(&mut s, answer(&req, OP_LOGIN_RESPONSE, 0), said.as_bytes()).await;
        let (req, data) = read_pdu(&mut s).await;
        assert_eq!(req[1], FINAL | 1, "the answer asks to move to the operational stage");
        assert_eq!(chap::key(&data, "CHAP_N"), Some("u"));
        let right = chap::hex(&chap::response(9, b"s3cret", &c));
        if chap::key(&data, "CHAP_R") != Some(right.as_str()) {
            let mut no = answer(&req, OP_LOGIN_RESPONSE, 0);
            (no[36], no[37]) = (2, 1);
            write_pdu(&mut s, no, b"").await;
            return;
        }
        write_pdu(&mut s, answer(&req, OP_LOGIN_RESPONSE, FINAL | 1), b"").await;
        let (req, _) = read_pdu(&mut s).await;
        assert_eq!(req[1], FINAL | (1 << 2) | 3);
        write_pdu(&mut s, answer(&req, OP_LOGIN_RESPONSE, FINAL | (1 << 2) | 3), b"").await;
        let (req, _) = read_pdu(&mut s).await;
        assert_eq!(req[0], IMMEDIATE | OP_LOGOUT);
        write_pdu(&mut s, answer(&req, OP_LOGOUT_RESPONSE, FINAL), b"").await;
    }

    #[tokio::test]
    async fn a_chap_login_answers_the_challenge_and_a_wrong_secret_is_refused() {
        for (secret, ok) in [(&b"s3cret"[..], true), (b"wrong", false)] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let portal = listener.local_addr().unwrap().to_string();
            let target = tokio::spawn(async move { chap_target(listener.accept().await.unwrap().0).await });
            let c = Credentials { user: "u".into(), secret: secret.to_vec().into() };
            match Session::login(&portal, "iqn.a:t", "iqn.a:i", Some(&c)).await {
                Ok(s) if ok => s.logout().await,
                Err(IscsiError::Refused { class: 2, detail: 1 }) if !ok => {}
                Err(e) => panic!("{e}"),
                Ok(_) => panic!("a wrong secret logged in"),
            }
            target.await.unwrap();
        }
    }

    #[test]
    fn login_refusals_say_why() {
        assert_eq!(login_refusal(2, 3, "iqn.a:b"), "no target iqn.a:b at this portal");
        assert!(login_refusal(2, 1, "iqn.a:b").contains("wants authentication"));
        assert_eq!(text(&[("A", "1"), ("B", "x")]), b"A=1\0B=x\0");
    }
}
