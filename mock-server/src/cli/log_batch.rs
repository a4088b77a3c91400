//! The binary's log writer: lines gather in a buffer in memory and a thread writes them to
//! stderr every [`EVERY`], many per system call.
//!
//! The fake logs a line per request. Written one by one (or handed one by one to a writer
//! thread, which must then be woken for each), those lines cost more than the request itself;
//! gathered, a line costs a copy. A quiet fake shows a line within [`EVERY`]; a flooded one
//! keeps at most [`LIMIT`] bytes waiting and counts the lines it drops.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long a line may wait before it is written.
const EVERY: Duration = Duration::from_millis(50);
/// How many bytes may wait; past it, lines are dropped.
const LIMIT: usize = 1024 * 1024;

struct Batch {
    waiting: Mutex<Vec<u8>>,
    dropped: AtomicU64,
    stopping: AtomicBool,
    stopped: Condvar,
}

/// Where tracing writes: a handle on the batch.
#[derive(Clone)]
pub struct BatchWriter(Arc<Batch>);

/// Writes what is still waiting when dropped (at exit).
pub struct FlushOnDrop {
    batch: Arc<Batch>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The writer and its guard; the thread that writes is started here.
pub fn stderr() -> (BatchWriter, FlushOnDrop) {
    let batch = Arc::new(Batch {
        waiting: Mutex::new(Vec::with_capacity(64 * 1024)),
        dropped: AtomicU64::new(0),
        stopping: AtomicBool::new(false),
        stopped: Condvar::new(),
    });
    let for_thread = batch.clone();
    let thread = std::thread::Builder::new()
        .name("u21-mock-log".into())
        .spawn(move || {
            let mut out = Vec::with_capacity(64 * 1024);
            loop {
                let stopping = {
                    let waiting = for_thread.waiting.lock().unwrap_or_else(|e| e.into_inner());
                    let (mut waiting, _) = for_thread
                        .stopped
                        .wait_timeout(waiting, EVERY)
                        .unwrap_or_else(|e| e.into_inner());
                    std::mem::swap(&mut *waiting, &mut out);
                    for_thread.stopping.load(Ordering::Acquire)
                };
                write_out(&for_thread, &mut out);
                if stopping {
                    return;
                }
            }
        })
        .ok();
    (BatchWriter(batch.clone()), FlushOnDrop { batch, thread })
}

fn write_out(batch: &Batch, out: &mut Vec<u8>) {
    let dropped = batch.dropped.swap(0, Ordering::Relaxed);
    if dropped > 0 {
        let _ = writeln!(
            out,
            "u21-mock: {dropped} log lines dropped (the log fell behind)"
        );
    }
    if !out.is_empty() {
        let _ = std::io::stderr().lock().write_all(out);
        out.clear();
    }
}

impl Write for BatchWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut waiting = self.0.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.len() + line.len() > LIMIT {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            waiting.extend_from_slice(line);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchWriter {
    type Writer = BatchWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Log timestamps (`2026-11-28T21:51:40.131Z`) made cheaply: the date and time to the second
/// are formatted once a second per thread, the milliseconds appended.
pub struct UtcMillis;

impl tracing_subscriber::fmt::time::FormatTime for UtcMillis {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        thread_local! {
            static SECOND: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        SECOND.with(|cached| {
            let mut cached = cached.borrow_mut();
            if cached.0 != now.as_secs() {
                let full = u21_mock::clock::iso8601_millis(now.as_secs() as i64 * 1000);
                // Keep `YYYY-MM-DDTHH:MM:SS.`; the milliseconds change within the second.
                cached.1 = full[..full.len() - 4].to_owned();
                cached.0 = now.as_secs();
            }
            write!(w, "{}{:03}Z", cached.1, now.subsec_millis())
        })
    }
}

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        self.batch.stopping.store(true, Ordering::Release);
        self.batch.stopped.notify_all();
        match self.thread.take() {
            Some(thread) => {
                let _ = thread.join();
            }
            // No thread could be started: write what is waiting here.
            None => {
                let mut out = std::mem::take(
                    &mut *self.batch.waiting.lock().unwrap_or_else(|e| e.into_inner()),
                );
                write_out(&self.batch, &mut out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_wait_in_order_and_a_flood_is_counted_not_kept() {
        let (mut writer, guard) = stderr();
        guard.batch.stopping.store(false, Ordering::Release);
        // Hold the thread off by keeping the buffer full of our own lines.
        let mut waiting_before = 0;
        for i in 0..3 {
            let line = format!("line {i}\n");
            writer.write_all(line.as_bytes()).unwrap();
            waiting_before += line.len();
        }
        let waiting = writer.0.waiting.lock().unwrap().len();
        assert!(waiting <= waiting_before, "{waiting} > {waiting_before}");
        let big = vec![b'x'; LIMIT + 1];
        writer.write_all(&big).unwrap();
        assert_eq!(writer.0.dropped.load(Ordering::Relaxed), 1);
        assert!(writer.0.waiting.lock().unwrap().len() <= LIMIT);
        drop(guard);
        assert!(
            writer.0.waiting.lock().unwrap().is_empty(),
            "the guard writes out the rest"
        );
    }
}
