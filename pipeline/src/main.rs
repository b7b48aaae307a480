use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kubesage::app::{self, Role};
use kubesage::config::Config;
use kubesage::demo::{self, DemoOptions};

/// KubeSage: streaming AIOps for Kubernetes on Kafka.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run roles of the pipeline until SIGTERM/SIGINT.
    Run {
        #[arg(long, short)]
        config: PathBuf,
        /// Roles to run in this process (repeatable).
        #[arg(long, value_enum, default_value = "all")]
        role: Vec<Role>,
    },
    /// Check a configuration file and report every problem at once.
    Validate {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Manage the topic catalogue on the configured brokers.
    Topics {
        #[command(subcommand)]
        command: TopicsCommand,
    },
    /// Run the whole pipeline on the embedded Kafka with a built-in alert storm.
    Demo {
        /// HTTP listener of the demo process.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Keep running after the summary (so kcat or curl can look around).
        #[arg(long)]
        keep_running: bool,
        /// Give up waiting for the end state after this long.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
}

#[derive(Subcommand)]
enum TopicsCommand {
    /// Create every catalogue topic (partitions, compaction) that does not exist yet.
    Create {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn init_logs(format: &str, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|errors| {
        eprintln!("{}: {} problem(s):", path.display(), errors.len());
        for e in errors {
            eprintln!("  {e}");
        }
        ExitCode::from(2)
    })
}

async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Validate { config } => match load(&config) {
                Ok(_) => {
                    println!("{}: ok", config.display());
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            },
            Command::Run { config, role } => {
                init_logs(&cli.log_format, "info,rdkafka=warn");
                let cfg = match load(&config) {
                    Ok(c) => c,
                    Err(code) => return code,
                };
                let running = match app::start(cfg, &role).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(error = %e, class = e.class().as_str(), "start failed");
                        return ExitCode::FAILURE;
                    }
                };
                let crashed = tokio::select! {
                    _ = terminated() => None,
                    w = running.worker_failure() => Some(w),
                };
                if let Some(w) = &crashed {
                    tracing::error!(worker = %w, "a worker stopped; shutting down");
                } else {
                    tracing::info!("signal received; draining");
                }
                match running.shutdown().await {
                    Ok(()) if crashed.is_none() => ExitCode::SUCCESS,
                    Ok(()) => ExitCode::FAILURE,
                    Err(e) => {
                        tracing::error!(error = %e, "shutdown failed");
                        ExitCode::FAILURE
                    }
                }
            }
            Command::Topics { command: TopicsCommand::Create { config } } => {
                init_logs(&cli.log_format, "warn");
                let cfg = match load(&config) {
                    Ok(c) => c,
                    Err(code) => return code,
                };
                match kubesage::topics_admin::create_all(&cfg).await {
                    Ok(rows) => {
                        for (name, outcome) in rows {
                            println!("{name:<36} {outcome}");
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("topics create failed: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Command::Demo { listen, keep_running, timeout } => {
                init_logs(&cli.log_format, "warn,rdkafka=error");
                match demo::run(DemoOptions { listen, keep_running, timeout }).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("demo failed: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
        }
    })
}
