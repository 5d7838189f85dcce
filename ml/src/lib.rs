//! Pure algorithms for Trellis: no I/O, no async, deterministic given a seed.
//!
//! Later areas (dataset statistics, trainers, explanations, drift) live here; the first building
//! block is a mergeable one-pass summary of a numeric series, which dataset profiling splits
//! across workers and merges.

pub mod drift;
pub mod moments;
pub mod profile;
pub mod split;
pub mod validate;

pub use moments::Moments;
