//! NAB harness (being built for the metrics-anomaly issue).

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Corpus in NAB's layout (`data/`, `labels/combined_windows.json`).
    #[arg(long, default_value = "../shared/datasets/nab")]
    pub data: std::path::PathBuf,
    /// Write NAB-format results under this directory.
    #[arg(long)]
    pub results_dir: Option<std::path::PathBuf>,
}

pub fn run(_args: Args) -> Result<(), String> {
    Err("the NAB harness is not built yet".into())
}
