//! KubeSage benchmarks: criterion benches of the operators (`benches/`), and the load
//! harness (`src/bin/load.rs`) that drives the real collector against a real broker.
