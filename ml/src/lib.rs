//! Pure algorithms for Trellis: no I/O, no async, deterministic given a seed.
//!
//! Dataset statistics (`profile`, `moments`), validation and drift distances, deterministic
//! splits, built-in trainers (`train`) and their evaluation metrics (`evaluate`); ONNX model signatures (`onnx`).

pub mod drift;
pub mod evaluate;
pub mod explain;
pub mod moments;
pub mod onnx;
pub mod profile;
pub mod split;
pub mod train;
pub mod validate;

pub use moments::Moments;
