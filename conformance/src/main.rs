//! `u21-conformance`: runs the catalogue against a target with a client, prints a summary,
//! writes JSON and JUnit reports, and exits non-zero when a scenario failed.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use u21_conformance::{
    catalogue, run_with, AdapterDriver, Allowance, Deadlines, Driver, Plan, ReferenceDriver,
    RunOptions, Selection, Target,
};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum TargetKind {
    /// A fresh fake inside this process.
    Fake,
    /// A server at --url (a running fake; its control API is used when it answers).
    Url,
    /// The real sandbox, from U21_BASE_URL, U21_API_KEY and U21_STREAM.
    Sandbox,
}

/// Checks a client of Unit21's file imports API, and the server it talks to, against the
/// documented behaviour.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Examples:
  u21-conformance --list
  u21-conformance --target fake
  u21-conformance --target url --url http://localhost:8021 --adapter ./conformance/adapters/curl.sh
  U21_BASE_URL=sandbox1 U21_API_KEY=... U21_STREAM=... u21-conformance --target sandbox --only list
  u21-conformance --target fake --skip slow --junit report.xml --json report.json
  u21-conformance --target url --url http://localhost:8021 --only decided --record fidelity.json
  U21_CA_FILE=ca.pem u21-conformance --target url --url https://localhost:8443

U21_CA_FILE names a PEM file of certificate authorities to trust besides the built-in ones (a
server with a private certificate, such as u21-mock --tls-cert): the kit, the reference client
and the adapters (through SSL_CERT_FILE, REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS and
CURL_CA_BUNDLE, set for them to a bundle that keeps the system's authorities) all trust it."
)]
struct Args {
    /// Where the API under test is.
    #[arg(
        long,
        value_enum,
        default_value = "fake",
        env = "U21_CONFORMANCE_TARGET"
    )]
    target: TargetKind,
    /// Base URL, with --target url.
    #[arg(long, env = "U21_CONFORMANCE_URL")]
    url: Option<String>,
    /// API key, with --target url.
    #[arg(
        long,
        env = "U21_CONFORMANCE_API_KEY",
        default_value = "u21-mock-dev-key",
        hide_env_values = true
    )]
    api_key: String,
    /// Stream to upload to, with --target url.
    #[arg(long, default_value = "conformance")]
    stream: String,
    /// The fake's control token, if it has one.
    #[arg(long, env = "U21_CONFORMANCE_CONTROL_TOKEN", hide_env_values = true)]
    control_token: Option<String>,
    /// A program speaking the adapter protocol (the reference client when absent), and its
    /// arguments after `--`.
    #[arg(long)]
    adapter: Option<String>,
    /// Arguments for the adapter.
    #[arg(last = true)]
    adapter_args: Vec<String>,
    /// Run only scenarios with this name or tag (repeatable).
    #[arg(long)]
    only: Vec<String>,
    /// Never run scenarios with this name or tag (repeatable).
    #[arg(long)]
    skip: Vec<String>,
    /// Write the JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write what the target answered on each decided point here (JSON), with the
    /// `[fidelity]` lines that make `u21-mock` answer the same (also printed).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// List the catalogue and exit.
    #[arg(long)]
    list: bool,
    /// Check the arguments and the selection, print what would run, and exit.
    #[arg(long)]
    dry_run: bool,
    /// Seconds an adapter may take to answer one operation (`wait` gets its own timeout on
    /// top); an adapter that misses it is restarted.
    #[arg(long, value_name = "SECS", default_value_t = 15.0)]
    op_deadline: f64,
    /// Seconds one scenario may take [default: 45 against a fake, 2700 against the sandbox].
    #[arg(long, value_name = "SECS")]
    scenario_deadline: Option<f64>,
    /// Seconds the whole run may take [default: 300 against a fake, 14400 against the
    /// sandbox].
    #[arg(long, value_name = "SECS")]
    budget: Option<f64>,
    /// Upload a file over 300 MiB (s3-oversized-file) to a target without a control API,
    /// such as a real account, where it is otherwise skipped; it is posted once.
    #[arg(long, env = "U21_CONFORMANCE_ALLOW_LARGE_UPLOADS", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    allow_large_uploads: bool,
    /// Go ahead on a target the kit cannot clean (a real account, or a URL without a control
    /// API) once the plan is printed; without it the kit prints the plan and exits 2.
    #[arg(long, env = "U21_CONFORMANCE_YES", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    yes: bool,
    /// The most files a run may create on a target the kit cannot clean [default: 50].
    #[arg(long, value_name = "N")]
    max_files: Option<usize>,
    /// The most bytes a run may upload there [default: 1 MiB; 317 MiB with
    /// --allow-large-uploads].
    #[arg(long, value_name = "BYTES")]
    max_bytes: Option<u64>,
}

impl Args {
    /// What a run may leave on a target the kit cannot clean.
    fn allowance(&self) -> Allowance {
        let bytes = self.max_bytes.unwrap_or(if self.allow_large_uploads {
            u21_conformance::DEFAULT_MAX_BYTES + 316 * 1024 * 1024
        } else {
            u21_conformance::DEFAULT_MAX_BYTES
        });
        Allowance {
            files: Some(self.max_files.unwrap_or(u21_conformance::DEFAULT_MAX_FILES)),
            bytes: Some(bytes),
            upload_gap: Some(std::time::Duration::from_secs(2)),
        }
    }
}

/// The client under test (the reference client, or the adapter), pointed at `target`.
fn client_for(
    args: &Args,
    target: &Target,
    op_deadline: std::time::Duration,
) -> anyhow::Result<Box<dyn Driver>> {
    Ok(match &args.adapter {
        None => Box::new(ReferenceDriver::new(
            &target.base_url,
            &target.api_key,
            target.request_timeout,
        )),
        Some(program) => Box::new(
            AdapterDriver::spawn(
                program,
                &args.adapter_args,
                &target.base_url,
                &target.api_key,
                Deadlines {
                    op: op_deadline,
                    request: target.request_timeout,
                },
            )
            .with_context(|| format!("cannot start the adapter {program}"))?,
        ),
    })
}

/// Rehearses the run against a private fake, prints the plan, and refuses one that passes
/// the allowance.
async fn rehearse(
    args: &Args,
    stream: &str,
    target_name: &str,
    selection: &Selection,
    options: RunOptions,
    op_deadline: std::time::Duration,
) -> anyhow::Result<Plan> {
    let allowance = options.allowance;
    let rehearsal = Target::rehearsal(stream).await;
    let client = client_for(args, &rehearsal, op_deadline)?;
    let plan = Plan::rehearse(&rehearsal, client.as_ref(), selection, options).await;
    client.close().await;
    let _ = write!(std::io::stdout().lock(), "{}", plan.text(target_name));
    let (files, bytes, _) = plan.totals();
    if let Some(max) = allowance.files.filter(|&max| files > max) {
        anyhow::bail!(
            "the plan creates {files} files, more than --max-files {max}: nothing was sent"
        );
    }
    if let Some(max) = allowance.bytes.filter(|&max| bytes > max) {
        anyhow::bail!(
            "the plan uploads {bytes} bytes, more than --max-bytes {max}: nothing was sent"
        );
    }
    Ok(plan)
}

/// Waits for Ctrl-C or SIGTERM; returns the exit code that says which.
async fn stop_signal() -> i32 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => 130,
                _ = term.recv() => 143,
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    130
}

fn seconds(flag: &str, secs: f64) -> anyhow::Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{flag} takes a positive number of seconds, not {secs}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    match main_inner().await {
        Ok(passed) => ExitCode::from(if passed { 0 } else { 1 }),
        Err(err) => {
            eprintln!("u21-conformance: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn main_inner() -> anyhow::Result<bool> {
    let args = Args::parse();
    u21_conformance::extra_authorities()?;
    let selection = Selection {
        only: args.only.clone(),
        skip: args.skip.clone(),
    };
    // A reader that stops early (`| head`) must not turn into a panic: write errors on
    // stdout are ignored.
    if args.list || args.dry_run {
        let mut out = std::io::stdout().lock();
        let listed = catalogue();
        for scenario in listed.iter().filter(|s| args.list || selection.includes(s)) {
            let control = if scenario.needs_control {
                " [needs control]"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "{:<34} {:<36} {}{control}",
                scenario.name,
                scenario.tags.join(","),
                scenario.description
            );
        }
        drop(out);
        // Against the sandbox, the plan too: what the run would leave on the account.
        if args.dry_run && matches!(args.target, TargetKind::Sandbox) {
            let options = RunOptions {
                budget: std::time::Duration::from_secs(4 * 3600),
                scenario_deadline: std::time::Duration::from_secs(45 * 60),
                allow_large_uploads: args.allow_large_uploads,
                allowance: args.allowance(),
                run_id: Some(u21_conformance::new_run_id()),
            };
            let stream = std::env::var("U21_STREAM").unwrap_or_else(|_| args.stream.clone());
            let op_deadline = seconds("--op-deadline", args.op_deadline)?;
            rehearse(
                &args,
                &stream,
                "the sandbox",
                &selection,
                options,
                op_deadline,
            )
            .await?;
        }
        return Ok(true);
    }
    let op_deadline = seconds("--op-deadline", args.op_deadline)?;
    // A report that cannot be written is found out now, not after the whole run.
    for path in args.json.iter().chain(&args.junit).chain(&args.record) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot write the report {}", path.display()))?;
    }
    let target = match args.target {
        TargetKind::Fake => Target::in_process().await,
        TargetKind::Url => {
            let url = args.url.as_deref().context("--target url needs --url")?;
            Target::at_url(url, &args.api_key, &args.stream, args.control_token.clone()).await?
        }
        TargetKind::Sandbox => Target::sandbox_from_env().map_err(anyhow::Error::msg)?,
    };
    target.preflight(op_deadline).await?;
    let mut options = RunOptions::for_target(&target);
    if let Some(secs) = args.scenario_deadline {
        options.scenario_deadline = seconds("--scenario-deadline", secs)?;
    }
    if let Some(secs) = args.budget {
        options.budget = seconds("--budget", secs)?;
    }
    options.allow_large_uploads = args.allow_large_uploads;
    // A real account keeps everything: the user sees the plan, rehearsed on a private fake,
    // before anything is sent, and the real run shares the rehearsal's run id (its names).
    if target.control.is_none() {
        options.run_id = Some(u21_conformance::new_run_id());
        options.allowance = args.allowance();
        rehearse(
            &args,
            &target.stream,
            &target.name,
            &selection,
            options.clone(),
            op_deadline,
        )
        .await?;
        if !args.yes {
            anyhow::bail!(
                "nothing was sent to {}: run again with --yes (or U21_CONFORMANCE_YES=1) to go ahead with this plan",
                target.name
            );
        }
    }
    let driver = client_for(&args, &target, op_deadline)?;
    // Each result is printed as it ends, so a long run shows where it is.
    let _ = writeln!(
        std::io::stdout().lock(),
        "conformance: {} against {}",
        driver.name(),
        target.name
    );
    let mut print = |result: &u21_conformance::ScenarioResult| {
        let _ = write!(std::io::stdout().lock(), "{}", result.line());
    };
    // Ctrl-C, or SIGTERM (`docker stop`, where the kit is PID 1 and nothing else would stop
    // it), ends the run with the fake put back.
    let report = tokio::select! {
        report = run_with(&target, driver.as_ref(), &selection, options, &mut print) => report,
        code = stop_signal() => {
            eprintln!("u21-conformance: stopped; putting the fake back as it was");
            if let Err(err) = target.restore().await {
                eprintln!("u21-conformance: could not put the fake back: {err}");
            }
            std::process::exit(code);
        }
    };
    driver.close().await;
    // The decided points settled: the lines that tune a fake to this target. Shown where they
    // say something (a target the kit cannot reset, a point that differs from the fake's
    // default, or `--record`), and before the footer, whose last line stays the counts.
    let telling = args.record.is_some()
        || target.control.is_none()
        || report.settled.iter().any(|s| s.value != s.default);
    if telling && !report.settled.is_empty() {
        let section = u21_conformance::fidelity::fidelity_section(&target.name, &report.settled);
        let _ = writeln!(std::io::stdout().lock(), "{section}");
    }
    let _ = writeln!(std::io::stdout().lock(), "{}", report.footer());
    if let Some(path) = &args.record {
        let record = u21_conformance::fidelity::record(&target.name, &report.settled);
        std::fs::write(path, serde_json::to_vec_pretty(&record)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report.to_json())?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report.to_junit())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(report.passed())
}
