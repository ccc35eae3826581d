//! The store's own thread. Async code sends it closures and awaits their results, so the
//! executor never blocks on SQLite and the connection has exactly one owner.

use std::thread::JoinHandle;

use super::Store;

type Job = Box<dyn FnOnce(&mut Store) + Send>;

#[derive(Debug, thiserror::Error)]
#[error("the store thread has stopped")]
pub struct StoreGone;

#[derive(Clone)]
pub struct StoreHandle {
    jobs: async_channel::Sender<Job>,
}

impl StoreHandle {
    /// Moves `store` onto a new thread. The thread ends, closing the database cleanly, when every
    /// handle is dropped; join the returned handle to wait for that.
    pub fn spawn(store: Store) -> (StoreHandle, JoinHandle<()>) {
        let (jobs, rx) = async_channel::bounded::<Job>(256);
        let thread = std::thread::Builder::new()
            .name("store".into())
            .spawn(move || {
                let mut store = store;
                while let Ok(job) = rx.recv_blocking() {
                    job(&mut store);
                }
                drop(store);
            })
            .expect("spawning the store thread at startup must succeed");
        (StoreHandle { jobs }, thread)
    }

    /// Runs `f` on the store thread and returns its result.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreGone>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> T + Send + 'static,
    {
        let (tx, rx) = async_channel::bounded(1);
        let job: Job = Box::new(move |store| {
            let _ = tx.send_blocking(f(store));
        });
        self.jobs.send(job).await.map_err(|_| StoreGone)?;
        rx.recv().await.map_err(|_| StoreGone)
    }
}
