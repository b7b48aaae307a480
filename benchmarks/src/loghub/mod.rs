//! Loghub harness (being built for the log-mining issue).

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory laid out like ../shared/datasets/loghub2k (one folder per system).
    #[arg(long, default_value = "../shared/datasets/loghub2k")]
    pub data: std::path::PathBuf,
}

pub fn run(_args: Args) -> Result<(), String> {
    Err("the Loghub harness is not built yet".into())
}
