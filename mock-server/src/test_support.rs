//! Helpers for the crate's own unit tests.

use std::sync::mpsc;

/// What `during` logged at `level` or above, as text (each write sent down a channel: no lock
/// outside the engine, even in a test).
pub(crate) fn logged(level: tracing::Level, during: impl FnOnce()) -> String {
    let (sent, received) = mpsc::channel::<Vec<u8>>();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(move || Capture(sent.clone()))
        .finish();
    tracing::subscriber::with_default(subscriber, during);
    let bytes: Vec<u8> = received.try_iter().flatten().collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

struct Capture(mpsc::Sender<Vec<u8>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send(bytes.to_vec());
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
