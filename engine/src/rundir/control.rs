//! `control.json`: what `odw pause|resume|stop` ask of a background run.
//!
//! The command writes the file; the worker polls it. A file, not a signal or
//! a socket, so that the request survives a worker that is just starting and
//! needs no listening endpoint.

use serde::{Deserialize, Serialize};

/// What was asked of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlFile {
    /// Agents not yet started wait.
    #[serde(default)]
    pub paused: bool,
    /// End the run: running agents are killed.
    #[serde(default)]
    pub stop: bool,
}

/// What `odw pause|resume|stop` asked for, as a running worker follows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Control {
    /// Agents not yet started (queued ones included, in odw or in a
    /// cluster's queue) wait.
    pub paused: bool,
}

/// A request `odw pause|resume|stop` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlRequest {
    Pause,
    Resume,
    Stop,
}

impl ControlFile {
    /// The file after `request`.
    pub fn with(mut self, request: ControlRequest) -> ControlFile {
        match request {
            ControlRequest::Pause => self.paused = true,
            ControlRequest::Resume => self.paused = false,
            ControlRequest::Stop => self.stop = true,
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_accumulate() {
        let c = ControlFile::default().with(ControlRequest::Pause);
        assert_eq!(c, ControlFile { paused: true, stop: false });
        let c = c.with(ControlRequest::Stop).with(ControlRequest::Resume);
        assert_eq!(c, ControlFile { paused: false, stop: true });
        assert_eq!(serde_json::from_str::<ControlFile>("{}").unwrap(), ControlFile::default());
    }
}
