//! `meta.json`: what ran, and everything a worker needs to run it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::replay::ReuseRule;

/// The record of a run's inputs, written when it is prepared and never
/// changed after. A worker runs from it alone; the journal carries a copy
/// (`odw journal import` recreates a run directory from that copy).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunMeta {
    pub run_id: String,
    pub workflow: String,
    pub description: String,
    pub meta: Value,
    pub script: PathBuf,
    pub script_hash: String,
    pub args: Value,
    /// The adapter for calls that name none.
    pub adapter: String,
    /// `--adapter` was given: `adapter` serves every call, even those that
    /// name another one.
    #[serde(default)]
    pub adapter_forced: bool,
    pub budget: Option<u64>,
    pub workspace: PathBuf,
    pub config: Option<PathBuf>,
    pub seed: [u32; 2],
    pub clock: f64,
    pub resumed_from: Option<String>,
    pub reuse: ReuseRule,
    pub created_at: String,
    pub odw_version: String,
    /// Recreated from a journal export (`odw journal import`): `script`,
    /// `workspace` and `config` are paths on the exporter's machine, never
    /// to be run or read here without being named again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub imported: bool,
}
