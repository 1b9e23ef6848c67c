#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod db;
pub mod domain;
pub mod generate;
pub mod http;
pub mod sample;
pub mod spatial;

pub use http::{AppState, app};
