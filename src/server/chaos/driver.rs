//! What every chaos driver gives the runner: one action carried out, with a line for the
//! timeline, and for an effect that lasts (a `chaos` process, network faults) a handle to end it.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::config::ChaosConfig;
use crate::model::chaos::RunId;

/// What a driver needs besides its action's own fields.
#[derive(Clone)]
pub struct DriverCx {
    pub run: RunId,
    /// The directory of the scenario's file: paths in actions are relative to it.
    pub base_dir: PathBuf,
    /// A directory of this run's own (journals, outputs), under the server's data dir.
    pub work_dir: PathBuf,
    pub http: reqwest::Client,
    pub config: Arc<ChaosConfig>,
}

/// An action carried out.
pub struct Injected {
    /// One line (or a few) for the timeline: what was done and what the target said.
    pub output: String,
    /// Present when the effect lasts until it is stopped or ends by itself.
    pub ongoing: Option<Box<dyn Ongoing>>,
}

impl Injected {
    pub fn done(output: impl Into<String>) -> Injected {
        Injected { output: output.into(), ongoing: None }
    }
}

/// An effect that lasts: the runner ends it at rollback (before the scenario's own rollback
/// actions), or hears that it ended by itself.
pub trait Ongoing: Send {
    /// Ends it now, running its own rollback (interrupt the process, remove the faults), and
    /// says what it reported. Bounded in time: a driver that cannot stop says so as an error.
    fn stop(self: Box<Self>) -> BoxFuture<'static, Result<String, String>>;
    /// Resolves when it ended by itself, with what it reported (a journal's summary). Never
    /// resolves for an effect that only ends when stopped.
    fn finished(&mut self) -> BoxFuture<'_, Result<String, String>>;
}
