//! Integration tests: the real binary on port 0 with a temp data dir, spoken to over h2c.

mod admin;
mod auth;
mod batch;
mod catalog;
mod cli;
mod common;
mod durability;
mod email;
mod ops;
mod recommendations;
mod sponsored;
mod tls;
mod tracking;
