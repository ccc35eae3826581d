//! The server's executor. The main thread runs every task of the HTTPS listeners, the signaling
//! connections and the hub, and drives the I/O reactor itself while it has nothing to run, so a
//! socket that becomes ready wakes its task on the same thread. (With smol's global executor a
//! second thread ran the tasks while the main thread sat in the reactor: every readiness event
//! was a futex wake and two context switches.) The relay has its own thread (`net::turn`) and the
//! store has its own (`store::worker`).

use std::future::Future;

use smol::{Executor, Task};

static EXECUTOR: Executor<'static> = Executor::new();

/// Spawns a task on the server's executor. It runs once [`block_on`] is running on some thread.
pub fn spawn<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> Task<T> {
    EXECUTOR.spawn(future)
}

/// Runs `future` to completion on this thread, running the executor's tasks meanwhile.
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    smol::block_on(EXECUTOR.run(future))
}
