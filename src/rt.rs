//! The server's executors. The main thread runs the hub and every signaling connection, and
//! drives the I/O reactor itself while it has nothing to run, so a socket that becomes ready
//! wakes its task on the same thread. (With smol's global executor a second thread ran the tasks
//! while the main thread sat in the reactor: every readiness event was a futex wake and two
//! context switches.) The relay has its own thread (`net::turn`) and the store has its own
//! (`store::worker`).
//!
//! The work a client can ask for before it has proved anything runs on the worker threads
//! instead ([`spawn_worker`]), one per core by default: TLS handshakes (about 200 µs of CPU
//! each), HTTP requests and the token checks they make. A review's client replaying one captured
//! ClientHello drew 7,080 handshakes a second, all on the hub's thread, and took a signaling
//! client's ping p99 from 0.9 ms to 24.4 ms.

use std::future::Future;
use std::sync::OnceLock;

use smol::{Executor, Task};

static EXECUTOR: Executor<'static> = Executor::new();
static WORKERS: Executor<'static> = Executor::new();
static WORKER_THREADS: OnceLock<usize> = OnceLock::new();

/// Spawns a task on the server's executor. It runs once [`block_on`] is running on some thread.
pub fn spawn<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> Task<T> {
    EXECUTOR.spawn(future)
}

/// Starts `n` worker threads (0: one per core) unless they run already; returns how many run.
pub fn start_workers(n: usize) -> usize {
    *WORKER_THREADS.get_or_init(|| {
        let n = if n == 0 { std::thread::available_parallelism().map_or(1, usize::from) } else { n };
        for i in 0..n {
            let spawned = std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(|| smol::block_on(WORKERS.run(std::future::pending::<()>())));
            if let Err(e) = spawned {
                // Fewer workers is slower, not wrong; with none, `spawn_worker` runs tasks on
                // the main thread's executor instead.
                log::warn!("cannot start worker thread {i}: {e}");
                return i;
            }
        }
        n
    })
}

/// Spawns a task on the worker threads (started with the default count if not yet).
pub fn spawn_worker<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> Task<T> {
    if start_workers(0) == 0 {
        return spawn(future);
    }
    WORKERS.spawn(future)
}

/// Runs `future` to completion on this thread, running the executor's tasks meanwhile.
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    smol::block_on(EXECUTOR.run(future))
}
