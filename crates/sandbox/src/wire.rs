//! The frames between the host and a session's server inside the sandbox:
//! a tag byte, a little-endian `u32` length and the payload. One writer per
//! direction, so frames never interleave.

use std::io::{self, Read, Write};

use zeroize::Zeroizing;

/// Host to server: run the command whose confinement spec is the payload.
pub(crate) const RUN: u8 = 1;
/// Host to server: kill the running command's process group.
pub(crate) const KILL: u8 = 2;
/// Host to server, right after a [`RUN`] whose spec names secret files:
/// their values, framed as for a one-off helper's standard input
/// (`secret::frames`), which the server feeds to that command's helper.
pub(crate) const SECRETS: u8 = 3;
/// Server to host: the sandbox is up and waits for commands.
pub(crate) const READY: u8 = 10;
/// Server to host: bytes the command wrote to stdout.
pub(crate) const STDOUT: u8 = 11;
/// Server to host: bytes the command wrote to stderr.
pub(crate) const STDERR: u8 = 12;
/// Server to host: the command exited with the code in the payload.
pub(crate) const EXITED: u8 = 13;
/// Server to host: the command was killed by the signal in the payload.
pub(crate) const SIGNALED: u8 = 14;
/// Server to host: the command could not be started (the reason, UTF-8).
pub(crate) const NOT_STARTED: u8 = 15;

/// The largest payload either side accepts: a frame's length is read before
/// its bytes, and a corrupt one must not make the reader allocate gigabytes.
const MAX_PAYLOAD: usize = 16 << 20;

/// Writes one frame with a single `write_all`. The copy it assembles is
/// wiped afterwards, since a [`SECRETS`] payload holds secret values.
pub(crate) fn write_frame(mut to: impl Write, tag: u8, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&n| n as usize <= MAX_PAYLOAD)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    let mut frame = Zeroizing::new(Vec::with_capacity(5 + payload.len()));
    frame.push(tag);
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(payload);
    to.write_all(&frame)?;
    to.flush()
}

/// Reads one frame; `None` when the stream ends between frames. A caller
/// reading a [`SECRETS`] frame wraps its payload in `Zeroizing` (the bytes
/// are moved, not copied).
pub(crate) fn read_frame(mut from: impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 5];
    let mut got = 0;
    while got < header.len() {
        match from.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut payload = vec![0u8; len];
    from.read_exact(&mut payload)?;
    Ok(Some((header[0], payload)))
}

/// The `i32` payload of [`EXITED`] and [`SIGNALED`].
pub(crate) fn int_payload(payload: &[u8]) -> io::Result<i32> {
    let bytes: [u8; 4] = payload
        .try_into()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad status frame"))?;
    Ok(i32::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_a_clean_end_is_none() {
        let mut buf = Vec::new();
        write_frame(&mut buf, RUN, b"{\"spec\":1}").unwrap();
        write_frame(&mut buf, EXITED, &7i32.to_le_bytes()).unwrap();
        let mut reader = &buf[..];
        assert_eq!(
            read_frame(&mut reader).unwrap(),
            Some((RUN, b"{\"spec\":1}".to_vec()))
        );
        let (tag, payload) = read_frame(&mut reader).unwrap().unwrap();
        assert_eq!((tag, int_payload(&payload).unwrap()), (EXITED, 7));
        assert_eq!(read_frame(&mut reader).unwrap(), None);
    }

    #[test]
    fn a_cut_frame_and_an_oversized_length_are_errors() {
        let mut buf = Vec::new();
        write_frame(&mut buf, STDOUT, b"abcdef").unwrap();
        assert!(read_frame(&buf[..3]).is_err());
        assert!(read_frame(&buf[..8]).is_err());
        let huge = [STDOUT, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            read_frame(&huge[..]).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
