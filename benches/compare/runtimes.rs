//! The runtime trait the workloads are written against, and one impl per runtime.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::ops::DerefMut;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

// ------------------------------------------------------------------------------------------
// The runtime trait
// ------------------------------------------------------------------------------------------

/// Everything the workloads need: a loop, tasks, yielding, a bounded channel, timers and TCP.
pub(crate) trait Runtime: 'static {
    const NAME: &'static str;

    /// The handle `spawn` returns; awaiting it gives the task's output.
    type Join<T: 'static>: Future<Output = T> + 'static;
    type Tx<T: 'static>: 'static;
    type Rx<T: 'static>: 'static;
    type Listener: 'static;
    type Stream: 'static;
    /// The runtime's own async mutex, around a `u64`.
    type Mutex: 'static;
    type MutexGuard<'a>: DerefMut<Target = u64>;
    type Semaphore: 'static;
    type Permit<'a>;
    /// The runtime's one-value channel (smol has none: async-channel with capacity 1).
    type OneTx<T: 'static>: 'static;
    type OneRx<T: 'static>: 'static;
    /// A notification with a stored permit: tokio's `Notify` semantics.
    type Notify: 'static;
    /// A set of tasks joined in completion order: looplet's `TaskGroup`, tokio's `JoinSet`,
    /// smol's tasks in a `FuturesUnordered` (smol has no task set of its own).
    type Group<T: 'static>: 'static;

    /// Builds a fresh runtime, runs `f` on it to completion, and drops the runtime (and any
    /// task still in it).
    fn block_on<F: Future>(f: F) -> F::Output;

    /// Spawns onto the runtime running on this thread, without a handle passed around.
    fn spawn<F>(f: F) -> Self::Join<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static;

    /// Spawns a task that nobody awaits; it keeps running until the runtime is dropped.
    fn spawn_detached<F: Future<Output = ()> + 'static>(f: F);

    fn yield_now() -> impl Future<Output = ()> + 'static;

    /// The runtime's own bounded channel.
    fn channel<T: 'static>(capacity: usize) -> (Self::Tx<T>, Self::Rx<T>);
    /// `false` if the receiver is gone.
    fn send<T: 'static>(tx: &Self::Tx<T>, value: T) -> impl Future<Output = bool>;
    /// `None` once every sender is gone.
    fn recv<T: 'static>(rx: &mut Self::Rx<T>) -> impl Future<Output = Option<T>>;

    /// The runtime's own timer.
    fn sleep(d: Duration) -> impl Future<Output = ()> + 'static;
    /// `None` if `d` elapsed first.
    fn timeout<F: Future>(d: Duration, f: F) -> impl Future<Output = Option<F::Output>>;

    /// The runtime's own TCP listener and stream.
    fn bind(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>>;
    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr>;
    fn accept(listener: &Self::Listener) -> impl Future<Output = io::Result<Self::Stream>>;
    fn read<'a>(
        stream: &'a mut Self::Stream,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + 'a;
    fn write_all<'a>(
        stream: &'a mut Self::Stream,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + 'a;

    fn mutex(value: u64) -> Self::Mutex;
    fn lock(mutex: &Self::Mutex) -> impl Future<Output = Self::MutexGuard<'_>>;
    fn semaphore(permits: usize) -> Self::Semaphore;
    fn acquire(semaphore: &Self::Semaphore) -> impl Future<Output = Self::Permit<'_>>;
    fn oneshot<T: 'static>() -> (Self::OneTx<T>, Self::OneRx<T>);
    /// `false` if the receiver is gone.
    fn oneshot_send<T: 'static>(tx: Self::OneTx<T>, value: T) -> bool;
    /// `None` if the sender is gone without sending.
    fn oneshot_recv<T: 'static>(rx: Self::OneRx<T>) -> impl Future<Output = Option<T>>;
    fn notify() -> Self::Notify;
    fn notify_one(notify: &Self::Notify);
    fn notified(notify: &Self::Notify) -> impl Future<Output = ()>;

    fn group<T: 'static>() -> Self::Group<T>;
    /// Spawns a member onto the runtime running on this thread.
    fn group_spawn<T: 'static, F: Future<Output = T> + 'static>(group: &mut Self::Group<T>, f: F);
    /// The next member's output in completion order; `None` once the group is empty.
    fn group_next<T: 'static>(group: &mut Self::Group<T>) -> impl Future<Output = Option<T>>;
}

// ------------------------------------------------------------------------------------------
// looplet
// ------------------------------------------------------------------------------------------

pub(crate) struct Looplet;

impl Runtime for Looplet {
    const NAME: &'static str = "looplet";
    type Join<T: 'static> = looplet::Task<T>;
    type Tx<T: 'static> = looplet::channel::Sender<T>;
    type Rx<T: 'static> = looplet::channel::Receiver<T>;
    type Listener = looplet::net::TcpListener;
    type Stream = looplet::net::TcpStream;
    type Mutex = looplet::sync::Mutex<u64>;
    type MutexGuard<'a> = looplet::sync::MutexGuard<'a, u64>;
    type Semaphore = looplet::sync::Semaphore;
    type Permit<'a> = looplet::sync::SemaphorePermit<'a>;
    type OneTx<T: 'static> = looplet::sync::oneshot::Sender<T>;
    type OneRx<T: 'static> = looplet::sync::oneshot::Receiver<T>;
    type Notify = looplet::sync::Notify;
    type Group<T: 'static> = looplet::TaskGroup<T>;

    fn block_on<F: Future>(f: F) -> F::Output {
        looplet::block_on(f)
    }

    fn spawn<F>(f: F) -> looplet::Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        looplet::spawn(f)
    }

    fn spawn_detached<F: Future<Output = ()> + 'static>(f: F) {
        looplet::spawn(f).detach();
    }

    fn yield_now() -> impl Future<Output = ()> + 'static {
        looplet::yield_now()
    }

    fn channel<T: 'static>(capacity: usize) -> (Self::Tx<T>, Self::Rx<T>) {
        looplet::channel::bounded(capacity)
    }

    async fn send<T: 'static>(tx: &Self::Tx<T>, value: T) -> bool {
        tx.send(value).await.is_ok()
    }

    fn recv<T: 'static>(rx: &mut Self::Rx<T>) -> impl Future<Output = Option<T>> {
        rx.recv()
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + 'static {
        looplet::sleep(d)
    }

    async fn timeout<F: Future>(d: Duration, f: F) -> Option<F::Output> {
        let out: Result<F::Output, looplet::time::Elapsed> = looplet::timeout(d, f).await;
        out.ok()
    }

    async fn bind(addr: SocketAddr) -> io::Result<Self::Listener> {
        looplet::net::TcpListener::bind(addr).await
    }

    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &Self::Listener) -> io::Result<Self::Stream> {
        Ok(listener.accept().await?.0)
    }

    fn read<'a>(
        stream: &'a mut Self::Stream,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + 'a {
        futures_util::AsyncReadExt::read(stream, buf)
    }

    fn write_all<'a>(
        stream: &'a mut Self::Stream,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + 'a {
        futures_util::AsyncWriteExt::write_all(stream, buf)
    }

    fn mutex(value: u64) -> Self::Mutex {
        looplet::sync::Mutex::new(value)
    }

    fn lock(mutex: &Self::Mutex) -> impl Future<Output = Self::MutexGuard<'_>> {
        mutex.lock()
    }

    fn semaphore(permits: usize) -> Self::Semaphore {
        looplet::sync::Semaphore::new(permits)
    }

    async fn acquire(semaphore: &Self::Semaphore) -> Self::Permit<'_> {
        semaphore.acquire().await.expect("never closed")
    }

    fn oneshot<T: 'static>() -> (Self::OneTx<T>, Self::OneRx<T>) {
        looplet::sync::oneshot::channel()
    }

    fn oneshot_send<T: 'static>(tx: Self::OneTx<T>, value: T) -> bool {
        tx.send(value).is_ok()
    }

    async fn oneshot_recv<T: 'static>(rx: Self::OneRx<T>) -> Option<T> {
        rx.await.ok()
    }

    fn notify() -> Self::Notify {
        looplet::sync::Notify::new()
    }

    fn notify_one(notify: &Self::Notify) {
        notify.notify_one();
    }

    fn notified(notify: &Self::Notify) -> impl Future<Output = ()> {
        notify.notified()
    }

    fn group<T: 'static>() -> Self::Group<T> {
        looplet::TaskGroup::new()
    }

    fn group_spawn<T: 'static, F: Future<Output = T> + 'static>(group: &mut Self::Group<T>, f: F) {
        group.spawn(f);
    }

    fn group_next<T: 'static>(group: &mut Self::Group<T>) -> impl Future<Output = Option<T>> {
        group.next()
    }
}

// ------------------------------------------------------------------------------------------
// tokio: current-thread runtime + LocalSet
// ------------------------------------------------------------------------------------------

pub(crate) struct Tokio;

/// `JoinHandle<T>` resolves to `Result<T, JoinError>`; the workloads want `T`.
pub(crate) struct TokioJoin<T>(tokio::task::JoinHandle<T>);

impl<T> Future for TokioJoin<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.expect("tokio task failed"))
    }
}

impl Runtime for Tokio {
    const NAME: &'static str = "tokio";
    type Join<T: 'static> = TokioJoin<T>;
    type Tx<T: 'static> = tokio::sync::mpsc::Sender<T>;
    type Rx<T: 'static> = tokio::sync::mpsc::Receiver<T>;
    type Listener = tokio::net::TcpListener;
    type Stream = tokio::net::TcpStream;
    type Mutex = tokio::sync::Mutex<u64>;
    type MutexGuard<'a> = tokio::sync::MutexGuard<'a, u64>;
    type Semaphore = tokio::sync::Semaphore;
    type Permit<'a> = tokio::sync::SemaphorePermit<'a>;
    type OneTx<T: 'static> = tokio::sync::oneshot::Sender<T>;
    type OneRx<T: 'static> = tokio::sync::oneshot::Receiver<T>;
    type Notify = tokio::sync::Notify;
    type Group<T: 'static> = tokio::task::JoinSet<T>;

    fn block_on<F: Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let local = tokio::task::LocalSet::new();
        let out = local.block_on(&rt, f);
        // Drop leftover tasks while the runtime's drivers are still alive.
        drop(local);
        drop(rt);
        out
    }

    fn spawn<F>(f: F) -> TokioJoin<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        TokioJoin(tokio::task::spawn_local(f))
    }

    fn spawn_detached<F: Future<Output = ()> + 'static>(f: F) {
        drop(tokio::task::spawn_local(f));
    }

    fn yield_now() -> impl Future<Output = ()> + 'static {
        tokio::task::yield_now()
    }

    fn channel<T: 'static>(capacity: usize) -> (Self::Tx<T>, Self::Rx<T>) {
        tokio::sync::mpsc::channel(capacity)
    }

    async fn send<T: 'static>(tx: &Self::Tx<T>, value: T) -> bool {
        tx.send(value).await.is_ok()
    }

    fn recv<T: 'static>(rx: &mut Self::Rx<T>) -> impl Future<Output = Option<T>> {
        rx.recv()
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + 'static {
        tokio::time::sleep(d)
    }

    async fn timeout<F: Future>(d: Duration, f: F) -> Option<F::Output> {
        tokio::time::timeout(d, f).await.ok()
    }

    fn bind(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> {
        tokio::net::TcpListener::bind(addr)
    }

    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &Self::Listener) -> io::Result<Self::Stream> {
        Ok(listener.accept().await?.0)
    }

    fn read<'a>(
        stream: &'a mut Self::Stream,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + 'a {
        tokio::io::AsyncReadExt::read(stream, buf)
    }

    fn write_all<'a>(
        stream: &'a mut Self::Stream,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + 'a {
        tokio::io::AsyncWriteExt::write_all(stream, buf)
    }

    fn mutex(value: u64) -> Self::Mutex {
        tokio::sync::Mutex::new(value)
    }

    fn lock(mutex: &Self::Mutex) -> impl Future<Output = Self::MutexGuard<'_>> {
        mutex.lock()
    }

    fn semaphore(permits: usize) -> Self::Semaphore {
        tokio::sync::Semaphore::new(permits)
    }

    async fn acquire(semaphore: &Self::Semaphore) -> Self::Permit<'_> {
        semaphore.acquire().await.expect("never closed")
    }

    fn oneshot<T: 'static>() -> (Self::OneTx<T>, Self::OneRx<T>) {
        tokio::sync::oneshot::channel()
    }

    fn oneshot_send<T: 'static>(tx: Self::OneTx<T>, value: T) -> bool {
        tx.send(value).is_ok()
    }

    async fn oneshot_recv<T: 'static>(rx: Self::OneRx<T>) -> Option<T> {
        rx.await.ok()
    }

    fn notify() -> Self::Notify {
        tokio::sync::Notify::new()
    }

    fn notify_one(notify: &Self::Notify) {
        notify.notify_one();
    }

    fn notified(notify: &Self::Notify) -> impl Future<Output = ()> {
        notify.notified()
    }

    fn group<T: 'static>() -> Self::Group<T> {
        tokio::task::JoinSet::new()
    }

    fn group_spawn<T: 'static, F: Future<Output = T> + 'static>(group: &mut Self::Group<T>, f: F) {
        group.spawn_local(f);
    }

    async fn group_next<T: 'static>(group: &mut Self::Group<T>) -> Option<T> {
        group
            .join_next()
            .await
            .map(|r| r.expect("tokio task failed"))
    }
}

// ------------------------------------------------------------------------------------------
// smol: LocalExecutor found through a thread-local
// ------------------------------------------------------------------------------------------

pub(crate) struct Smol;

thread_local! {
    /// The `LocalExecutor` that `Smol::block_on` is running on this thread.
    static SMOL_EX: RefCell<Option<Rc<smol::LocalExecutor<'static>>>> = const { RefCell::new(None) };
}

fn with_smol_ex<R>(f: impl FnOnce(&smol::LocalExecutor<'static>) -> R) -> R {
    SMOL_EX.with_borrow(|ex| f(ex.as_ref().expect("no smol executor on this thread")))
}

/// Clears `SMOL_EX` even if the workload panics.
struct SmolExGuard;

impl Drop for SmolExGuard {
    fn drop(&mut self) {
        SMOL_EX.set(None);
    }
}

impl Runtime for Smol {
    const NAME: &'static str = "smol";
    type Join<T: 'static> = smol::Task<T>;
    type Tx<T: 'static> = smol::channel::Sender<T>;
    type Rx<T: 'static> = smol::channel::Receiver<T>;
    type Listener = smol::Async<std::net::TcpListener>;
    type Stream = smol::Async<std::net::TcpStream>;
    type Mutex = async_lock::Mutex<u64>;
    type MutexGuard<'a> = async_lock::MutexGuard<'a, u64>;
    type Semaphore = async_lock::Semaphore;
    type Permit<'a> = async_lock::SemaphoreGuard<'a>;
    type OneTx<T: 'static> = smol::channel::Sender<T>;
    type OneRx<T: 'static> = smol::channel::Receiver<T>;
    type Notify = SmolNotify;
    type Group<T: 'static> = futures_util::stream::FuturesUnordered<smol::Task<T>>;

    fn block_on<F: Future>(f: F) -> F::Output {
        let ex = Rc::new(smol::LocalExecutor::new());
        SMOL_EX.set(Some(ex.clone()));
        let guard = SmolExGuard;
        let out = smol::block_on(ex.run(f));
        drop(guard);
        // The last Rc: drops leftover tasks.
        drop(ex);
        out
    }

    fn spawn<F>(f: F) -> smol::Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        with_smol_ex(|ex| ex.spawn(f))
    }

    fn spawn_detached<F: Future<Output = ()> + 'static>(f: F) {
        with_smol_ex(|ex| ex.spawn(f).detach());
    }

    fn yield_now() -> impl Future<Output = ()> + 'static {
        smol::future::yield_now()
    }

    fn channel<T: 'static>(capacity: usize) -> (Self::Tx<T>, Self::Rx<T>) {
        smol::channel::bounded(capacity)
    }

    async fn send<T: 'static>(tx: &Self::Tx<T>, value: T) -> bool {
        tx.send(value).await.is_ok()
    }

    async fn recv<T: 'static>(rx: &mut Self::Rx<T>) -> Option<T> {
        rx.recv().await.ok()
    }

    async fn sleep(d: Duration) {
        smol::Timer::after(d).await;
    }

    fn timeout<F: Future>(d: Duration, f: F) -> impl Future<Output = Option<F::Output>> {
        // `or` polls the first future first, so `f` runs before the timer is armed, as in
        // tokio's `timeout`.
        smol::future::or(async move { Some(f.await) }, async move {
            smol::Timer::after(d).await;
            None
        })
    }

    async fn bind(addr: SocketAddr) -> io::Result<Self::Listener> {
        smol::Async::<std::net::TcpListener>::bind(addr)
    }

    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.get_ref().local_addr()
    }

    async fn accept(listener: &Self::Listener) -> io::Result<Self::Stream> {
        Ok(listener.accept().await?.0)
    }

    fn read<'a>(
        stream: &'a mut Self::Stream,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + 'a {
        smol::io::AsyncReadExt::read(stream, buf)
    }

    fn write_all<'a>(
        stream: &'a mut Self::Stream,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + 'a {
        smol::io::AsyncWriteExt::write_all(stream, buf)
    }

    fn mutex(value: u64) -> Self::Mutex {
        async_lock::Mutex::new(value)
    }

    fn lock(mutex: &Self::Mutex) -> impl Future<Output = Self::MutexGuard<'_>> {
        mutex.lock()
    }

    fn semaphore(permits: usize) -> Self::Semaphore {
        async_lock::Semaphore::new(permits)
    }

    fn acquire(semaphore: &Self::Semaphore) -> impl Future<Output = Self::Permit<'_>> {
        semaphore.acquire()
    }

    fn oneshot<T: 'static>() -> (Self::OneTx<T>, Self::OneRx<T>) {
        smol::channel::bounded(1)
    }

    fn oneshot_send<T: 'static>(tx: Self::OneTx<T>, value: T) -> bool {
        tx.try_send(value).is_ok()
    }

    async fn oneshot_recv<T: 'static>(rx: Self::OneRx<T>) -> Option<T> {
        rx.recv().await.ok()
    }

    fn notify() -> Self::Notify {
        SmolNotify::default()
    }

    fn notify_one(notify: &Self::Notify) {
        notify.permit.set(true);
        notify.event.notify(1);
    }

    async fn notified(notify: &Self::Notify) {
        // event-listener stores no permit; the flag is the permit, checked around `listen`
        // as event-listener's docs prescribe.
        loop {
            if notify.permit.replace(false) {
                return;
            }
            let listener = notify.event.listen();
            if notify.permit.replace(false) {
                return;
            }
            listener.await;
        }
    }

    fn group<T: 'static>() -> Self::Group<T> {
        futures_util::stream::FuturesUnordered::new()
    }

    fn group_spawn<T: 'static, F: Future<Output = T> + 'static>(group: &mut Self::Group<T>, f: F) {
        group.push(with_smol_ex(|ex| ex.spawn(f)));
    }

    fn group_next<T: 'static>(group: &mut Self::Group<T>) -> impl Future<Output = Option<T>> {
        futures_util::StreamExt::next(group)
    }
}

/// tokio's `Notify` semantics (a stored permit) from event-listener, smol's building block.
#[derive(Default)]
pub(crate) struct SmolNotify {
    permit: std::cell::Cell<bool>,
    event: event_listener::Event,
}
