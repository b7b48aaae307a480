//! Quality harnesses: the same operator code as the pipeline, run over public labelled
//! data sets and scored the way each benchmark defines. Each prints a table and, as its
//! last line, one JSON object with its figures.
//!
//!   cargo run --release -p kubesage-benchmarks --bin quality -- nab
//!   cargo run --release -p kubesage-benchmarks --bin quality -- loghub
//!   cargo run --release -p kubesage-benchmarks --bin quality -- petshop
//!   cargo run --release -p kubesage-benchmarks --bin quality -- rca-sim
//!   cargo run --release -p kubesage-benchmarks --bin quality -- rcaeval DIR
//!   cargo run --release -p kubesage-benchmarks --bin quality -- storm [--input FILE --truth FILE]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Numenta Anomaly Benchmark: the metrics anomaly operator, scored with NAB's rules.
    Nab(kubesage_benchmarks::nab::Args),
    /// Loghub-2.0 2k: the log template miner, scored with GA, FGA, PA, FTA.
    Loghub(kubesage_benchmarks::loghub::Args),
    /// PetShop: the RCA core, top-1/top-3 recall of the root-cause node and specificity.
    Petshop(kubesage_benchmarks::petshop::Args),
    /// rca-sim: seeded fault-injection cases in the RCAEval RE1 layout, AC@1/AC@3/Avg@5.
    RcaSim(kubesage_benchmarks::rcasim::Args),
    /// Any directory in the RCAEval RE1 layout, scored like rca-sim.
    Rcaeval(kubesage_benchmarks::rcaeval::Args),
    /// Alert storms (generated, or replayed from files): the correlation operator's grouping
    /// scored against the faults behind the alerts, next to Alertmanager's grouping.
    Storm(kubesage_benchmarks::storm::Args),
}

fn main() -> ExitCode {
    let result = match Cli::parse().bench {
        Bench::Nab(args) => kubesage_benchmarks::nab::run(args),
        Bench::Loghub(args) => kubesage_benchmarks::loghub::run(args),
        Bench::Petshop(args) => kubesage_benchmarks::petshop::run(args),
        Bench::RcaSim(args) => kubesage_benchmarks::rcasim::run(args),
        Bench::Rcaeval(args) => kubesage_benchmarks::rcaeval::run(args),
        Bench::Storm(args) => kubesage_benchmarks::storm::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quality: {e}");
            ExitCode::FAILURE
        }
    }
}
