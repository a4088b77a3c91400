//! `u21-mock`: runs the Unit21 imports fake until interrupted.

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser};
use u21_mock::{Config, KeyConfig, MockServer, Timing};

#[path = "cli/log_batch.rs"]
mod log_batch;

/// A faithful local fake of Unit21's file imports API, with its S3 upload endpoint.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Examples:\n  u21-mock\n  u21-mock --timing instant --listen 0.0.0.0:8021 --public-url http://localhost:8021\n  u21-mock --listen localhost:8032\n  u21-mock --config streams.toml --rate-limit 0\n\nBoolean environment variables (U21_MOCK_NO_CONTROL) take 1/0, true/false, yes/no or on/off."
)]
struct Args {
    /// Address to listen on: HOST:PORT (an IP or a host name such as localhost), or :PORT for
    /// every interface. Port 0 picks a free one.
    #[arg(long, env = "U21_MOCK_LISTEN", default_value = "127.0.0.1:8021", value_parser = parse_listen)]
    listen: SocketAddr,
    /// Serve S3's form POST on this address of its own (HOST:PORT or :PORT), apart from the
    /// API, as Unit21's forms point at S3's host: each endpoint then answers only its routes.
    #[arg(long, env = "U21_MOCK_S3_LISTEN", value_parser = parse_listen)]
    s3_listen: Option<SocketAddr>,
    /// Serve HTTPS with this certificate chain (PEM), on every endpoint; needs --tls-key.
    #[arg(
        long,
        env = "U21_MOCK_TLS_CERT",
        requires = "tls_key",
        value_name = "PEM"
    )]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(
        long,
        env = "U21_MOCK_TLS_KEY",
        requires = "tls_cert",
        value_name = "PEM"
    )]
    tls_key: Option<PathBuf>,
    /// TOML configuration: keys, streams and schemas, S3 credentials, fidelity switches.
    #[arg(long, env = "U21_MOCK_CONFIG")]
    config: Option<PathBuf>,
    /// Base URL clients reach the fake at, written into pre-signed forms (for proxies and
    /// Docker port mappings), or `auto` to use each request's Host. Default: the listen address.
    #[arg(long, env = "U21_MOCK_PUBLIC_URL")]
    public_url: Option<String>,
    /// Lifecycle timing: instant, fast, realistic or manual.
    #[arg(long, env = "U21_MOCK_TIMING")]
    timing: Option<Timing>,
    /// Calls per second per key and route; 0 turns rate limiting off.
    #[arg(long, env = "U21_MOCK_RATE_LIMIT")]
    rate_limit: Option<u32>,
    /// Adds an API key, as KEY or KEY=ORG (repeatable). Replaces the default key.
    #[arg(long = "api-key", env = "U21_MOCK_API_KEYS", value_delimiter = ',')]
    api_keys: Vec<String>,
    /// Keep the state and uploaded objects here across restarts. Default: in memory and a
    /// temporary directory, both gone on exit.
    #[arg(long, env = "U21_MOCK_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Serve no control API under /_mock/.
    #[arg(long, env = "U21_MOCK_NO_CONTROL", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    no_control: bool,
    /// Require this token (header x-u21-mock-token, or Authorization: Bearer) on control calls.
    #[arg(long, env = "U21_MOCK_CONTROL_TOKEN")]
    control_token: Option<String>,
    /// A host name that may reach the control API and dashboard without the token, besides
    /// loopback, the listen address and the public URL's host (repeatable), e.g. a compose
    /// service name.
    #[arg(
        long = "allow-host",
        env = "U21_MOCK_ALLOW_HOSTS",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    allow_hosts: Vec<String>,
    /// How many requests the journal keeps.
    #[arg(long, env = "U21_MOCK_JOURNAL_CAPACITY")]
    journal_capacity: Option<usize>,
    /// Exit when standard input closes (end of file or an error): a wrapper that holds the pipe
    /// leaves no fake behind when it dies, even by kill -9.
    #[arg(long, env = "U21_MOCK_EXIT_WITH_STDIN", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    exit_with_stdin: bool,
    /// When ready, print one JSON line on standard output (url, keys, S3 bucket and
    /// credentials, pid, version) for programs to read; the human banner goes to stderr.
    #[arg(long, env = "U21_MOCK_READY_JSON", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    ready_json: bool,
    /// Check the flags and configuration, print the settings, and exit without serving.
    #[arg(long)]
    check: bool,
    /// Exit 0 if a GET of this http:// URL answers 200, else 1 (for container health checks,
    /// where no curl is installed). Every other flag and U21_MOCK_* variable is ignored, so the
    /// check runs in the same environment as the server it checks.
    #[arg(long, value_name = "URL")]
    health_check: Option<String>,
}

/// `HOST:PORT` with an IP or a host name, or `:PORT` for every interface.
fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    if let Some(port) = value.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("'{port}' is not a port number"))?;
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Ok(address) = value.parse::<SocketAddr>() {
        return Ok(address);
    }
    let addresses: Vec<SocketAddr> = value
        .to_socket_addrs()
        .map_err(|e| format!("expected HOST:PORT or :PORT ({e})"))?
        .collect();
    // localhost resolves to ::1 and 127.0.0.1: IPv4 is what most clients try first.
    addresses
        .iter()
        .find(|a| a.is_ipv4())
        .or(addresses.first())
        .copied()
        .ok_or_else(|| format!("'{value}' resolves to no address"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(url) = &args.health_check {
        return match health_check(url) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("u21-mock: health check of {url} failed: {err}");
                ExitCode::from(1)
            }
        };
    }
    // Lines gather in memory and a thread writes them out in batches (see `log_batch`), so a
    // request never waits on stderr nor wakes a thread; under a flood, lines are dropped and
    // counted rather than requests slowed. The guard writes what is left at exit.
    let (writer, _flush_on_exit) = log_batch::stderr();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("U21_MOCK_LOG")
                .unwrap_or_else(|_| "u21_mock=info".into()),
        )
        .with_writer(writer)
        .with_timer(log_batch::UtcMillis)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("u21-mock: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("u21-mock: {err:#}");
            let in_use = err.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse)
            });
            if in_use {
                eprintln!("hint: another program (perhaps another u21-mock) holds that port; stop it, or pick another with --listen 127.0.0.1:8022 (or :0 for any free port)");
            }
            ExitCode::from(1)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let stop = StopSignal::listen(args.exit_with_stdin)?;
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(url) = &args.public_url {
        config.public_url = Some(url.clone());
    }
    if let Some(timing) = args.timing {
        config.timing = timing;
    }
    if let Some(limit) = args.rate_limit {
        config.rate_limit = limit;
    }
    for spec in &args.api_keys {
        let (key, org) = spec
            .split_once('=')
            .unwrap_or((spec, u21_mock::config::DEFAULT_ORG));
        config.keys.push(KeyConfig::new(key, org));
    }
    if args.no_control {
        config.control.enabled = false;
    }
    if let Some(token) = &args.control_token {
        config.control.token = Some(token.clone());
    }
    config
        .control
        .allowed_hosts
        .extend(args.allow_hosts.iter().cloned());
    if let Some(capacity) = args.journal_capacity {
        config.control.journal_capacity = capacity;
    }
    let timing = config.timing;
    let keys: Vec<(String, String)> = config
        .effective_keys()
        .iter()
        .map(|k| (k.key.clone(), k.org.clone()))
        .collect();
    if args.check {
        config.validate()?;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "configuration ok: listen {}, timing {}, rate limit {}, {} key(s), {} stream(s), control {}",
            args.listen, timing.as_str(), config.rate_limit, config.effective_keys().len(), config.streams.len(),
            if config.control.enabled { "on" } else { "off" });
        return Ok(());
    }
    let control = match (&config.control.enabled, &config.control.token) {
        (false, _) => "off (--no-control)",
        (true, Some(_)) => "on, a token is required (x-u21-mock-token)",
        (true, None) => "on, open to this machine's clients (no token)",
    };
    // Settings given now (a timing flag, a configuration file) win over those a data
    // directory kept from an earlier run; without them, the directory's are used.
    let settings_given = args.timing.is_some() || args.config.is_some();
    let mut builder = MockServer::builder()
        .config(config)
        .listen(args.listen)
        .keep_stored_settings(!settings_given);
    if let Some(dir) = &args.data_dir {
        builder = builder.data_dir(dir);
    }
    if let Some(at) = args.s3_listen {
        builder = builder.s3_listen(at);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        builder = builder.tls(cert, key);
    }
    let server = builder.try_start().await.context("cannot start")?;
    let data_dir = args.data_dir.as_ref().map_or_else(
        || "none (state in memory, gone on exit)".to_owned(),
        |d| d.display().to_string(),
    );
    // What is in force, wherever it came from.
    let timing = server.clock().timing();
    let timing_source = match (&args.timing, &args.config, &args.data_dir) {
        (Some(_), _, _) => "--timing",
        (None, Some(_), _) => "--config",
        (None, None, Some(_)) => "kept in the data dir, or the default",
        (None, None, None) => "the default",
    };
    let banner = Banner {
        timing,
        timing_source,
        control,
        data_dir: &data_dir,
    };
    if args.ready_json {
        let ready = ready_line(&server, &keys, timing, &args);
        print_banner(&server, &banner, &mut std::io::stderr().lock());
        // One write of one line: a reader never sees half of it.
        let mut out = std::io::stdout().lock();
        let _ = out
            .write_all(format!("{ready}\n").as_bytes())
            .and_then(|()| out.flush());
    } else {
        print_banner(&server, &banner, &mut std::io::stdout().lock());
    }
    let why = stop.received().await;
    let _ = writeln!(std::io::stderr(), "u21-mock: stopping ({why})");
    Ok(())
}

/// The `--ready-json` line: everything a wrapper needs to use the fake, so that no program
/// parses the human banner. Its fields are documented in the README; new ones may be added.
fn ready_line(
    server: &MockServer,
    keys: &[(String, String)],
    timing: Timing,
    args: &Args,
) -> serde_json::Value {
    let control = &args.control_token;
    serde_json::json!({
        "event": "ready",
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "url": server.uri(),
        "public_url": server.public_url(),
        "public_url_from_host": server.public_url_is_auto(),
        "api_key": server.api_key(),
        "keys": keys.iter().map(|(key, org)| serde_json::json!({"key": key, "org": org})).collect::<Vec<_>>(),
        "s3": {
            "bucket": server.bucket(),
            "url": format!("{}/{}/", server.public_url(), server.bucket()),
            "access_key_id": server.s3_access_key_id(),
            "secret_access_key": server.s3_secret_access_key(),
        },
        "timing": timing.as_str(),
        "control": {
            "enabled": !args.no_control,
            "token_required": control.is_some(),
        },
        "data_dir": args.data_dir,
    })
}

/// What the banner says besides what the server itself knows.
struct Banner<'a> {
    timing: Timing,
    timing_source: &'a str,
    control: &'a str,
    data_dir: &'a str,
}

fn print_banner(server: &MockServer, banner: &Banner<'_>, out: &mut dyn Write) {
    // Whoever started us may stop reading after the first line; a closed stdout must not take
    // the server down, so write errors are ignored rather than panicking as println! would.
    let Banner {
        timing,
        timing_source,
        control,
        data_dir,
    } = *banner;
    let public_url = if server.public_url_is_auto() {
        format!("auto: each request's Host (else {})", server.public_url())
    } else {
        server.public_url().to_owned()
    };
    // The public URL is where forms send uploads: with S3 on its own endpoint, the API and
    // the dashboard are at the listen address instead.
    let api_url = match server.s3_uri() {
        Some(_) => server.uri(),
        None => server.public_url().to_owned(),
    };
    let curl = format!(
        "curl -s -X POST {api_url}/v1/imports/pre-signed-url/create -H 'content-type: application/json' -H 'u21-key: {}' --data '{{\"stream_name\": \"stream_name\", \"file_name\": \"file_you_want_to_upload.csv\"}}'",
        server.api_key()
    );
    // The first line is stable: scripts and tests read the address from it.
    let _ = writeln!(out, "{}{}", u21_mock::ready::BANNER_PREFIX, server.uri())
        .and_then(|()| writeln!(out, "  public URL:  {public_url}"))
        .and_then(|()| writeln!(out, "  API key:     {}", server.api_key()))
        .and_then(|()| writeln!(out, "  timing:      {} ({timing_source})", timing.as_str()))
        .and_then(|()| writeln!(out, "  streams:     {} configured", server.streams().len()))
        .and_then(|()| writeln!(out, "  S3 bucket:   {}", server.bucket()))
        .and_then(|()| match server.s3_uri() {
            Some(s3) => writeln!(
                out,
                "  S3 endpoint: {s3} (S3 only; the API answers at the address above)"
            ),
            None => Ok(()),
        })
        .and_then(|()| writeln!(out, "  data dir:    {data_dir}"))
        .and_then(|()| writeln!(out, "  control:     {control}"))
        .and_then(|()| {
            if control.starts_with("off") {
                Ok(())
            } else {
                writeln!(out, "  dashboard:   {api_url}/")
            }
        })
        .and_then(|()| writeln!(out, "Try it:\n  {curl}"))
        .and_then(|()| writeln!(out, "Stop with Ctrl-C. Requests are logged below."))
        .and_then(|()| out.flush());
}

/// Ctrl-C or SIGTERM, listened for from before the server starts: a signal that arrives while
/// it starts (just after the banner, say) is then a clean stop, with the temporary directory
/// removed, not the default action that ends the process on the spot. With
/// `--exit-with-stdin`, the end of standard input is a stop too.
struct StopSignal {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    stdin_closed: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl StopSignal {
    fn listen(exit_with_stdin: bool) -> anyhow::Result<Self> {
        let stdin_closed = if exit_with_stdin {
            Some(watch_stdin()?)
        } else {
            None
        };
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignal {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
                stdin_closed,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignal { stdin_closed })
    }

    /// Waits for a stop; says which.
    async fn received(self) -> &'static str {
        let stdin_closed = async {
            match self.stdin_closed {
                Some(closed) => {
                    let _ = closed.await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(unix)]
        if let (Some(mut term), Some(mut int)) = (self.term, self.int) {
            return tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "interrupted",
                () = stdin_closed => "standard input closed",
            };
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "interrupted",
            () = stdin_closed => "standard input closed",
        }
    }
}

/// A thread that reads standard input to its end (what it reads is dropped) and then says so.
/// A wrapper holds the other end of the pipe: when the wrapper dies, however it dies, the
/// kernel closes it and the fake stops, on every platform, with no orphan left running.
fn watch_stdin() -> anyhow::Result<tokio::sync::oneshot::Receiver<()>> {
    use std::io::Read;
    let (closed, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("u21-mock-stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut sink = [0u8; 1024];
            loop {
                match stdin.read(&mut sink) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = closed.send(());
        })
        .context("cannot watch standard input")?;
    Ok(receiver)
}

/// A bare HTTP/1.1 GET: enough for a health check, with no client library in the binary.
fn health_check(url: &str) -> Result<(), String> {
    use std::io::Read;
    use std::net::ToSocketAddrs;
    use std::time::Duration;

    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let address = authority
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("the host has no address")?;
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(3))
        .map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| e.to_string())?;
    match &head[9..12] {
        b"200" => Ok(()),
        status => Err(format!("status {}", String::from_utf8_lossy(status))),
    }
}
