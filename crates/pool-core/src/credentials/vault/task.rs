//! A background task that ends with its owner.

use tokio::task::JoinHandle;

/// Aborts the task when dropped: a source's refresh loop stops when the source goes.
#[derive(Debug)]
pub(crate) struct OwnedTask(pub(crate) JoinHandle<()>);

impl Drop for OwnedTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
