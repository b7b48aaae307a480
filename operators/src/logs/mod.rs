//! Log template mining: an online parser in the Drain family (He et al., ICWS 2017) with
//! what later parsers added.
//!
//! * Tokens are the whitespace-separated words of the message, each put in a canonical form
//!   first: numbers, hex, UUIDs, paths, identifiers with digits, host names, quantities and
//!   timestamp parts become `<*>`, written exactly as Loghub-2.0 writes its corrected
//!   templates (`10.0.0.1:50010` is `<*>:<*>`, `uid=0` is `uid=<*>`), so templates compare
//!   with that ground truth string for string ([`canon`]).
//! * A fixed-depth tree routes a line by its token count and leading tokens (tokens with
//!   digits or dotted names go through a wildcard branch); in the leaf the line joins the
//!   template with the highest share of agreeing positions, if at least `similarity`.
//!   Where they differ the template keeps the common start and end of the word and puts
//!   `<*>` in between (`rhost=<*>`, not `<*>`).
//! * Templates whose constant parts agree and that differ only in variables (how many
//!   variable tokens, and units after them) are merged; the merged template keeps the id of
//!   its oldest member.
//! * Ids are deterministic hashes; the whole state is a versioned [`crate::Snapshot`].
//!
//! Pure code: no IO, no clock, no allocation per line in the common case.

pub mod canon;
pub mod config;
mod hash;
mod line_memo;
pub mod miner;
mod shape;
mod token;
mod word_cache;
#[cfg(test)]
mod tests;

pub use canon::{loghub_correct, WILDCARD};
pub use config::{MaskConfig, MinerConfig};
pub use miner::{Change, Mined, Template, TemplateId, TemplateMiner};
