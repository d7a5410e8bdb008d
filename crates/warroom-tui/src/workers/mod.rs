//! Workers: tokio tasks that poll backends and send owned snapshots (`Event`s) to the App.

mod event;
pub mod kafka;
pub mod kube;
pub mod pg;
pub mod poller;
pub mod statements;

pub use event::{Event, Update};

/// A one-shot read (a plan, a pod's events, a lookup) off the UI task: its event is sent
/// when it is done, and dropped if the App is gone.
pub(crate) fn spawn_answer<F>(
    tx: tokio::sync::mpsc::Sender<Event>,
    work: F,
) -> tokio::task::JoinHandle<()>
where
    F: std::future::Future<Output = Event> + Send + 'static,
{
    tokio::spawn(async move {
        let _ = tx.send(work.await).await;
    })
}
