//! CHAP as an iSCSI login carries it (RFC 7143 §12.1.3, RFC 1994): the
//! target sends an identifier and a challenge, the initiator answers with
//! its name and MD5(identifier ‖ secret ‖ challenge). MD5 (`CHAP_A=5`) is
//! the one algorithm every target has; binary values are hex (`0x…`).

use md5::{Digest, Md5};
use virtkit_engine::seams::SecretBytes;

/// Who the initiator logs in as, and the secret it proves it has: the
/// engine's own buffer of the secret's value, shared (not copied) and
/// wiped when its last holder drops it.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub user: String,
    pub secret: SecretBytes,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).finish_non_exhaustive()
    }
}

/// CHAP with MD5, the algorithm asked for.
pub(crate) const MD5: &str = "5";

/// The answer to challenge `challenge` with identifier `id`.
pub(crate) fn response(id: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([id]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

/// `0x` and the bytes in hex, as CHAP_R is sent.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * bytes.len());
    s.push_str("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The bytes of a hex value (`0x…` or `0X…`); base64 (`0b…`) is not
/// taken, nor is an odd or empty run of digits.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    if digits.is_empty() || digits.len() % 2 != 0 {
        return None;
    }
    (0..digits.len()).step_by(2).map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok()).collect()
}

/// The value of `key` among login text's `key=value` pairs.
pub(crate) fn key<'a>(data: &'a [u8], key: &str) -> Option<&'a str> {
    data.split(|b| *b == 0).filter_map(|kv| std::str::from_utf8(kv).ok()).find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then_some(v)
    })
}

/// What the target's challenge says: its identifier and challenge bytes.
pub(crate) fn challenge(data: &[u8]) -> Result<(u8, Vec<u8>), String> {
    match key(data, "CHAP_A") {
        Some(MD5) => {}
        Some(a) => return Err(format!("the target chose CHAP algorithm {a}, not MD5 (5)")),
        None => return Err("the target sent no CHAP algorithm".into()),
    }
    let id = key(data, "CHAP_I").and_then(|i| i.parse::<u8>().ok()).ok_or("the target sent no CHAP identifier")?;
    let c = key(data, "CHAP_C").and_then(unhex).ok_or("the target sent no CHAP challenge in hex")?;
    Ok((id, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_is_md5_of_id_secret_and_challenge() {
        // Worked out with Python's hashlib.md5 of bytes([7]) + b"secretpass12" + the challenge.
        let c = unhex("0x00112233445566778899aabbccddeeff").unwrap();
        assert_eq!(hex(&response(7, b"secretpass12", &c)), "0x4f419aa5160869e583087966899d3515");
    }

    #[test]
    fn challenges_are_read_strictly() {
        let t = b"CHAP_A=5\0CHAP_I=200\0CHAP_C=0xA0b1\0";
        assert_eq!(challenge(t).unwrap(), (200, vec![0xa0, 0xb1]));
        for (bad, says) in [
            (&b"CHAP_A=7\0CHAP_I=1\0CHAP_C=0x00\0"[..], "algorithm 7"),
            (b"CHAP_A=5\0CHAP_I=256\0CHAP_C=0x00\0", "identifier"),
            (b"CHAP_A=5\0CHAP_I=1\0CHAP_C=0bAAAA\0", "challenge"),
            (b"CHAP_A=5\0CHAP_I=1\0CHAP_C=0x123\0", "challenge"),
            (b"CHAP_I=1\0", "algorithm"),
        ] {
            assert!(challenge(bad).unwrap_err().contains(says), "{bad:?}");
        }
        assert_eq!(unhex("0x"), None);
        assert_eq!(unhex("0xzz"), None);
    }

    #[test]
    fn credentials_do_not_show_their_secret() {
        let c = Credentials { user: "u".into(), secret: b"hunter2".to_vec().into() };
        for shown in [format!("{c:?}"), format!("{c:#?}"), format!("{:?}", Some(c.clone()))] {
            // Neither as text nor as the numbers a Vec<u8> prints (b'h' is 104, b'u' 117).
            assert!(!shown.contains("hunter2") && !shown.contains("104, 117"), "{shown}");
            assert!(shown.contains("\"u\""), "{shown}");
        }
    }
}
