//! What standard gRPC clients send as `:authority` on a unix socket, made
//! acceptable to HTTP/2 before the server reads it.
//!
//! The authority means nothing on a unix socket, but the HTTP/2 server
//! (h2) refuses a request whose `:authority` is not `host[:port]` with a
//! stream reset. gRPC's C core (grpcio for Python, Ruby, PHP, C++) sends
//! the socket path percent-encoded since its 1.57 (`tmp%2Fvirtkit%2Fsock`
//! for `unix:/tmp/virtkit/sock`), grpc-java the bare path. So on unix
//! sockets each request header block is walked (HPACK, RFC 7541, without
//! decoding anything but the structure), and an `:authority` literal that
//! is not a valid authority has its bytes replaced in place by `-` (same
//! length, so the frame and HPACK's dynamic table stay as the client
//! built them; a later reference to the entry gets the same value).
//! Huffman-coded literals, header blocks split over CONTINUATION frames
//! and blocks over 64 KiB go through unchanged.

/// The client's connection preface.
const PREFACE: usize = 24;
const HEADERS: u8 = 1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// The largest HEADERS frame held whole to be looked at.
const MAX_BLOCK: usize = 64 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Bytes of the preface still to pass.
    Preface(usize),
    /// Reading a frame header (held).
    Header,
    /// Bytes of a frame's payload to pass unchanged.
    Pass(usize),
    /// Holding a HEADERS frame of this payload length.
    Block(usize),
}

/// The bytes a unix-socket client sends, with bad authorities mended.
#[derive(Debug)]
pub(crate) struct Mender {
    state: State,
    held: Vec<u8>,
}

impl Default for Mender {
    fn default() -> Self {
        Mender { state: State::Preface(PREFACE), held: Vec::new() }
    }
}

impl Mender {
    /// Takes what was read; appends to `out` what may go on to HTTP/2.
    pub(crate) fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            match self.state {
                State::Preface(n) | State::Pass(n) => {
                    let k = n.min(input.len());
                    out.extend_from_slice(&input[..k]);
                    input = &input[k..];
                    self.state = match self.state {
                        _ if k == n => State::Header,
                        State::Preface(_) => State::Preface(n - k),
                        _ => State::Pass(n - k),
                    };
                }
                State::Header => {
                    let k = (9 - self.held.len()).min(input.len());
                    self.held.extend_from_slice(&input[..k]);
                    input = &input[k..];
                    if self.held.len() == 9 {
                        let len = usize::from(self.held[0]) << 16
                            | usize::from(self.held[1]) << 8
                            | usize::from(self.held[2]);
                        if self.held[3] == HEADERS && len <= MAX_BLOCK {
                            self.state = State::Block(len);
                        } else {
                            out.append(&mut self.held);
                            self.state = if len == 0 { State::Header } else { State::Pass(len) };
                        }
                    }
                }
                State::Block(len) => {
                    let k = (9 + len - self.held.len()).min(input.len());
                    self.held.extend_from_slice(&input[..k]);
                    input = &input[k..];
                    if self.held.len() == 9 + len {
                        mend_frame(&mut self.held);
                        out.append(&mut self.held);
                        self.state = State::Header;
                    }
                }
            }
        }
    }
}

/// Mends the `:authority` of one whole HEADERS frame (header included).
fn mend_frame(frame: &mut [u8]) {
    let flags = frame[4];
    if flags & END_HEADERS == 0 {
        return;
    }
    let payload = &mut frame[9..];
    let mut start = 0;
    let mut end = payload.len();
    if flags & PADDED != 0 {
        let Some(&pad) = payload.first() else { return };
        start = 1;
        let Some(e) = end.checked_sub(usize::from(pad)) else { return };
        end = e;
    }
    if flags & PRIORITY != 0 {
        start += 5;
    }
    if start > end {
        return;
    }
    // Stops at the first thing it cannot walk: h2 will say what is wrong.
    let _ = mend_block(&mut payload[start..end]);
}

/// An HPACK integer with an `n`-bit prefix at `block[*i]`.
fn int(block: &[u8], i: &mut usize, n: u32) -> Option<usize> {
    let mask = (1usize << n) - 1;
    let mut v = usize::from(*block.get(*i)?) & mask;
    *i += 1;
    if v < mask {
        return Some(v);
    }
    let mut shift = 0;
    loop {
        let b = *block.get(*i)?;
        *i += 1;
        v = v.checked_add(usize::from(b & 0x7f).checked_shl(shift)?)?;
        shift += 7;
        if b & 0x80 == 0 {
            return Some(v);
        }
        if shift > 28 {
            return None;
        }
    }
}

/// A string literal at `block[*i]`: whether Huffman-coded, and its range.
fn string(block: &[u8], i: &mut usize) -> Option<(bool, std::ops::Range<usize>)> {
    let huffman = block.get(*i)? & 0x80 != 0;
    let len = int(block, i, 7)?;
    let start = *i;
    let end = start.checked_add(len).filter(|e| *e <= block.len())?;
    *i = end;
    Some((huffman, start..end))
}

fn mend_block(block: &mut [u8]) -> Option<()> {
    let mut i = 0;
    while i < block.len() {
        let b = block[i];
        let name_index = if b & 0x80 != 0 {
            int(block, &mut i, 7)?;
            continue;
        } else if b & 0x40 != 0 {
            int(block, &mut i, 6)?
        } else if b & 0x20 != 0 {
            int(block, &mut i, 5)?;
            continue;
        } else {
            int(block, &mut i, 4)?
        };
        // Index 1 of HPACK's static table is `:authority`.
        let authority = if name_index == 0 {
            let (huffman, name) = string(block, &mut i)?;
            !huffman && &block[name] == b":authority"
        } else {
            name_index == 1
        };
        let (huffman, value) = string(block, &mut i)?;
        if authority && !huffman && !value.is_empty() && !valid(&block[value.clone()]) {
            for c in &mut block[value] {
                if !(c.is_ascii_alphanumeric() || *c == b'.') {
                    *c = b'-';
                }
            }
        }
    }
    Some(())
}

/// Whether HTTP/2 takes `value` as an authority.
fn valid(value: &[u8]) -> bool {
    tonic::codegen::http::uri::Authority::try_from(value).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A HEADERS frame (stream 1, END_HEADERS) holding `block`.
    fn frame(block: &[u8]) -> Vec<u8> {
        let len = block.len();
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, HEADERS, END_HEADERS | 0x1, 0, 0, 0, 1];
        f.extend_from_slice(block);
        f
    }

    fn literal(value: &[u8]) -> Vec<u8> {
        let mut v = vec![value.len() as u8];
        v.extend_from_slice(value);
        v
    }

    fn mended(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut m = Mender::default();
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            m.feed(c, &mut out);
        }
        out
    }

    #[test]
    fn the_authorities_grpc_clients_send_are_mended() {
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        // gRPC C core 1.85 (grpcio): a new name, incremental indexing, the
        // path without its first '/', percent-encoded.
        let mut core = vec![0x40];
        core.extend(literal(b":authority"));
        core.extend(literal(b"tmp%2Fvirtkit%2Fsock"));
        core.extend([0x83, 0x86]); // :method POST, :scheme http
        // grpc-java: the static table's name, the bare path.
        let mut java = vec![0x41];
        java.extend(literal(b"/run/virtkit/virtkit-sock"));
        // What is already fine stays as it is.
        let mut fine = vec![0x01];
        fine.extend(literal(b"localhost:1"));
        let data = [0, 0, 2, 0, 1, 0, 0, 0, 1, b'%', b'/'];
        let mut input = preface.clone();
        for b in [&core, &java, &fine] {
            input.extend(frame(b));
        }
        input.extend(data);
        for chunk in [1, 7, 4096] {
            let out = mended(&input, chunk);
            assert_eq!(out.len(), input.len());
            let text = String::from_utf8_lossy(&out);
            assert!(text.contains("tmp-2Fvirtkit-2Fsock"), "{text:?}");
            assert!(text.contains("-run-virtkit-virtkit-sock"), "{text:?}");
            assert!(text.contains("localhost:1"), "{text:?}");
            assert!(out.ends_with(b"%/"), "a DATA frame is not touched");
            assert!(out.starts_with(&preface));
            assert!(valid(b"tmp-2Fvirtkit-2Fsock") && !valid(b"tmp%2Fvirtkit%2Fsock") && !valid(b"/run/x"));
        }
    }

    #[test]
    fn what_cannot_be_walked_goes_through() {
        // A length past the end, a Huffman literal, no END_HEADERS.
        let mut cut = vec![0x41, 0x7f, 0x10];
        cut.extend(b"%%");
        let mut huff = vec![0x41, 0x83];
        huff.extend(b"%2F");
        for block in [cut, huff] {
            let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
            input.extend(frame(&block));
            assert_eq!(mended(&input, 3), input);
        }
        let mut open = frame(&[0x41, 0x03, b'%', b'2', b'F']);
        open[4] = 0;
        let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        input.extend(&open);
        assert_eq!(mended(&input, 5), input);
    }
}
