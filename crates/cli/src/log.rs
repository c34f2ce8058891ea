//! The server log, redacted: every line passes through the shared
//! [`Redactor`] before it is written, so a secret carried by a logged error
//! (a connection string, a token in a provider's message, a value set
//! through the Settings API a moment ago) never reaches the log.

use std::io::{self, Write};

use agentwerke_evidence::redact::Redactor;
use tracing_subscriber::fmt::MakeWriter;

/// A [`MakeWriter`] whose writers redact what they are given. The fmt
/// layer formats each event whole and writes it at once, so a value is
/// never split between two writes.
#[derive(Clone)]
pub struct RedactingWriter<M> {
    inner: M,
    redactor: Redactor,
}

impl<M> RedactingWriter<M> {
    /// Writes through `inner`, redacting with `redactor` (shared: values it
    /// learns later are redacted from the next line on).
    pub fn new(inner: M, redactor: Redactor) -> Self {
        Self { inner, redactor }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingWriter<M> {
    type Writer = Redacting<'a, M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Redacting {
            inner: self.inner.make_writer(),
            redactor: &self.redactor,
        }
    }
}

/// One line's writer.
pub struct Redacting<'a, W> {
    inner: W,
    redactor: &'a Redactor,
}

impl<W: Write> Write for Redacting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A log line is text; one that is not is written with its invalid
        // bytes replaced, never passed through unread.
        let text = String::from_utf8_lossy(buf);
        self.inner
            .write_all(self.redactor.redact_str(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_logged_secret_never_reaches_the_log_even_one_learned_after_start() {
        let lines = Lines::default();
        let redactor = Redactor::new(["from-redact-env-1"]);
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(RedactingWriter::new(move || sink.clone(), redactor.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            // Learned after the log was set up, as the Settings API does.
            redactor.add(["set-through-the-api-2"]);
            let error = "cannot reach postgres://app:pa55word@db/x with set-through-the-api-2";
            tracing::error!(%error, token = "from-redact-env-1", "the call failed");
            tracing::warn!("key sk-abcdefghijklmnopqrstuvwx refused");
        });
        let log = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("the call failed"), "{log}");
        assert!(log.contains("[REDACTED]"), "{log}");
        for planted in [
            "from-redact-env-1",
            "set-through-the-api-2",
            "pa55word",
            "sk-abcdefghijklmnopqrstuvwx",
        ] {
            assert!(!log.contains(planted), "{planted} in {log}");
        }
    }
}
