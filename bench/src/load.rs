//! A minimal HTTP/1.1 keep-alive load generator: one request in flight per connection, the
//! response read by its Content-Length. Far cheaper than a full client, so on two shared cores
//! the figure is mostly the server's.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Latencies (µs) of every request one connection completed before `until`.
pub async fn hammer(addr: String, request: Vec<u8>, until: Instant) -> anyhow::Result<Vec<u32>> {
    let mut stream = TcpStream::connect(&addr).await?;
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut latencies = Vec::with_capacity(1 << 16);
    while Instant::now() < until {
        let started = Instant::now();
        stream.write_all(&request).await?;
        let mut filled = 0;
        let total = loop {
            let n = stream.read(&mut buf[filled..]).await?;
            anyhow::ensure!(n > 0, "the server closed the connection");
            filled += n;
            if let Some(end) = find(&buf[..filled], b"\r\n\r\n") {
                let head = std::str::from_utf8(&buf[..end]).unwrap_or("");
                anyhow::ensure!(
                    head.starts_with("HTTP/1.1 200"),
                    "unexpected answer: {}",
                    head.lines().next().unwrap_or("")
                );
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.split_once(':')
                            .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                            .map(|(_, v)| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                break end + 4 + length;
            }
        };
        while filled < total {
            let n = stream.read(&mut buf[filled..total]).await?;
            anyhow::ensure!(n > 0, "the server closed the connection");
            filled += n;
        }
        latencies.push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
    }
    Ok(latencies)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `(requests per second, p50, p99)` over `connections` connections for `duration`.
pub async fn run(
    addr: &str,
    request: Vec<u8>,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<(f64, Duration, Duration)> {
    let until = Instant::now() + duration;
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(hammer(addr.to_owned(), request.clone(), until)))
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pick = |q: f64| {
        Duration::from_micros(
            all.get(((all.len() as f64 - 1.0) * q) as usize)
                .copied()
                .unwrap_or(0) as u64,
        )
    };
    Ok((all.len() as f64 / elapsed, pick(0.5), pick(0.99)))
}
