//! A component started in the background: where its health endpoints listen and the task to
//! wait on.

use std::net::SocketAddr;

/// A started component (controller manager, scheduler, ...) whose task ends with `E` on failure.
pub struct Running<E> {
    /// Where `/healthz`, `/readyz` and `/metrics` are served (the bound port when asked for 0).
    pub health_addr: Option<SocketAddr>,
    task: tokio::task::JoinHandle<Result<(), E>>,
}

impl<E> Running<E> {
    /// Wraps the component's task.
    pub fn new(
        health_addr: Option<SocketAddr>,
        task: tokio::task::JoinHandle<Result<(), E>>,
    ) -> Self {
        Running { health_addr, task }
    }

    /// Waits until the component stops: `Ok` after shutdown, its error when it failed (for
    /// example when it lost its leader lease); a panic in the task is resumed here.
    pub async fn wait(self) -> Result<(), E> {
        match self.task.await {
            Ok(r) => r,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Ok(()),
        }
    }
}
