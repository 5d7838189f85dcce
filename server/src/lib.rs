#![recursion_limit = "512"]
//! The `trellis` server: configuration, start-up, the REST API, metrics and the command line.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod metrics;
pub mod mlflow;
pub mod oip;
pub mod openapi;
pub mod startup;
pub mod ui_gate;
