//! Reading one output stream with a cap: digest and count everything read,
//! keep at most the cap, and call back once when the cap is exceeded.

use std::io::Read;

use sha2::{Digest, Sha256};

use crate::record::Output;

/// Bytes of each stream kept as the excerpt.
pub(crate) const EXCERPT_BYTES: usize = 4096;

/// Reads `stream` to its end, or until it passes `cap` bytes, when
/// `over_cap` is called and reading stops (the pipe is then closed, so a
/// writer that survives the kill gets `EPIPE`).
pub(crate) fn capture(mut stream: impl Read, cap: u64, over_cap: impl FnOnce()) -> Output {
    let mut hasher = Sha256::new();
    let mut captured = Vec::new();
    let mut bytes: u64 = 0;
    let mut truncated = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        bytes += n as u64;
        hasher.update(&buf[..n]);
        let room = cap.saturating_sub(captured.len() as u64) as usize;
        captured.extend_from_slice(&buf[..n.min(room)]);
        if bytes > cap {
            truncated = true;
            over_cap();
            break;
        }
    }
    let excerpt =
        String::from_utf8_lossy(&captured[..captured.len().min(EXCERPT_BYTES)]).into_owned();
    Output {
        bytes,
        sha256: hex::encode(hasher.finalize()),
        excerpt,
        truncated,
        captured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_under_the_cap_is_kept_whole() {
        let mut called = false;
        let out = capture(&b"hello"[..], 10, || called = true);
        assert_eq!(out.bytes, 5);
        assert_eq!(out.captured, b"hello");
        assert_eq!(out.excerpt, "hello");
        assert!(!out.truncated && !called);
        assert_eq!(
            out.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
    }

    #[test]
    fn a_stream_over_the_cap_is_cut_and_reported() {
        let mut called = false;
        let data = [b'x'; 100];
        let out = capture(&data[..], 10, || called = true);
        assert!(out.truncated && called);
        assert_eq!(out.captured.len(), 10);
        assert_eq!(out.bytes, 100);
    }
}
