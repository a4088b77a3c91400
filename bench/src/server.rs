//! The release `u21-mock`, started as its own process so its memory is its own.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A running fake, killed when dropped.
pub struct Server {
    child: Child,
    /// Base URL.
    pub base: String,
}

impl Server {
    pub fn start(extra: &[&str]) -> anyhow::Result<Server> {
        let mut command = Command::new(binary()?);
        command.args(["--listen", "127.0.0.1:0"]).args(extra);
        Server::spawn(command)
    }

    /// This binary, serving `body` from a bare axum route (see [`serve_bare`]).
    pub fn bare(body: &str) -> anyhow::Result<Server> {
        let mut command = Command::new(std::env::current_exe()?);
        command.args(["--serve-bare", body]);
        Server::spawn(command)
    }

    fn spawn(mut command: Command) -> anyhow::Result<Server> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
        let base = u21_mock::ready::base_url_from_banner(&line)
            .ok_or_else(|| anyhow::anyhow!("unexpected banner {line:?}"))?
            .to_owned();
        Ok(Server { child, base })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    /// CPU time (user and system) the process has used so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the command name (which is in parentheses and may hold spaces):
        // utime and stime are the 12th and 13th, in clock ticks of 1/100 s (USER_HZ).
        let ticks: u64 = stat
            .rsplit_once(')')
            .map(|(_, rest)| {
                rest.split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|f| f.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0);
        ticks as f64 / 100.0
    }

    /// Peak resident memory so far (`VmHWM`), in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        peak_rss_mib(self.pid())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// `target/release/u21-mock`, beside this binary.
pub fn binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe
        .parent()
        .map(|d| d.join("u21-mock"))
        .ok_or_else(|| anyhow::anyhow!("no directory"))?;
    anyhow::ensure!(
        path.exists(),
        "{} is missing: run `cargo build --release --workspace --bins` first",
        path.display()
    );
    Ok(path)
}

/// A bare axum server answering `GET /v1/imports/{id}` with `body`, and nothing else: no
/// journal, no keys, no store. It prints the fake's banner so [`Server`] can start it.
pub async fn serve_bare(body: String) -> anyhow::Result<()> {
    use axum::http::header::CONTENT_TYPE;
    let body = bytes::Bytes::from(body);
    let app = axum::Router::new().route(
        "/v1/imports/{id}",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([(CONTENT_TYPE, "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{}http://{}",
            u21_mock::ready::BANNER_PREFIX,
            listener.local_addr()?
        )?;
        out.flush()?;
    }
    axum::serve(listener, app).await?;
    Ok(())
}
