//! KubeSage benchmarks: criterion benches of the operators (`benches/`), the load harness
//! (`src/bin/load.rs`) that drives the real collector against a real broker, and the
//! quality harnesses (`src/bin/quality.rs`) over public labelled data sets.

pub mod loghub;
pub mod nab;
pub mod petshop;
pub mod rcaeval;
pub mod rcasim;
pub mod rng;
pub mod storm;
