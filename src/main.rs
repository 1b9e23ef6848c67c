//! telecom-gis binary: parses the command line and dispatches the
//! subcommand: `serve` to the HTTP adapter ([`telecom_gis::http::serve`]),
//! every other one to the command line ([`telecom_gis::cli`]).

use std::process::ExitCode;

use clap::Parser;
use telecom_gis::config::{Cli, Command, Secret};
use telecom_gis::{cli, http, startup};

/// mimalloc instead of glibc's malloc: snapshots are built on one thread
/// and freed on another, where glibc's arenas spend a fifth of the server's
/// CPU under load (BENCHMARKS.md, issue 15).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Cli::parse();
    startup::init_tracing(args.log_format);
    let failure = cli::failure_code(&args.command);
    let url = args.database_url.as_ref().map(Secret::expose);
    let result = match args.command {
        Command::Serve(serve) => http::serve::run(url, serve).await,
        other => cli::run(url, other).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            failure
        }
    }
}
