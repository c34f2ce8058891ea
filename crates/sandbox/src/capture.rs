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
    let mut capture = Capture::new(cap);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if capture.feed(&buf[..n]) {
            over_cap();
            break;
        }
    }
    capture.finish()
}

/// A stream taken in pieces as they arrive (a session relays each command's
/// output in frames): the same count, digest, cap and excerpt as [`capture`].
pub(crate) struct Capture {
    cap: u64,
    hasher: Sha256,
    captured: Vec<u8>,
    bytes: u64,
    truncated: bool,
}

impl Capture {
    /// Nothing taken yet.
    pub(crate) fn new(cap: u64) -> Self {
        Capture {
            cap,
            hasher: Sha256::new(),
            captured: Vec::new(),
            bytes: 0,
            truncated: false,
        }
    }

    /// Takes the next piece. True the one time the stream passes the cap;
    /// after that pieces are neither counted nor kept.
    pub(crate) fn feed(&mut self, piece: &[u8]) -> bool {
        if self.truncated {
            return false;
        }
        self.bytes += piece.len() as u64;
        self.hasher.update(piece);
        let room = self.cap.saturating_sub(self.captured.len() as u64) as usize;
        self.captured
            .extend_from_slice(&piece[..piece.len().min(room)]);
        self.truncated = self.bytes > self.cap;
        self.truncated
    }

    /// The record of what was taken.
    pub(crate) fn finish(self) -> Output {
        let excerpt =
            String::from_utf8_lossy(&self.captured[..self.captured.len().min(EXCERPT_BYTES)])
                .into_owned();
        Output {
            bytes: self.bytes,
            sha256: hex::encode(self.hasher.finalize()),
            excerpt,
            truncated: self.truncated,
            captured: self.captured,
        }
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

    #[test]
    fn pieces_are_taken_like_one_stream_until_the_cap() {
        let mut capture = Capture::new(10);
        assert!(!capture.feed(b"hel"));
        assert!(!capture.feed(b"lo"));
        let whole = capture.finish();
        assert_eq!(whole, super::capture(&b"hello"[..], 10, || ()));
        let mut capture = Capture::new(10);
        assert!(!capture.feed(&[b'x'; 8]));
        assert!(capture.feed(&[b'x'; 8]));
        assert!(!capture.feed(&[b'x'; 8]), "the cap is reported once");
        let out = capture.finish();
        assert!(out.truncated);
        assert_eq!((out.bytes, out.captured.len()), (16, 10));
    }
}
