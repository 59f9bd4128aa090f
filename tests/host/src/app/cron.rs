//! Cron: one tick of a component, and the loop that fires it on its schedule.
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{Inner, new_store};
use crate::host::cron_bindings::fermyon::spin_cron::cron_types;

/// Why a cron tick did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickError {
    /// No `[[trigger.cron]]` uses this component.
    NotCron(String),
    /// The guest returned `Err(error::other(..))`.
    Guest(String),
    /// The guest trapped (or could not be instantiated).
    Trap(String),
}

impl std::fmt::Display for TickError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TickError::NotCron(c) => write!(f, "component {c:?} has no cron trigger"),
            TickError::Guest(m) => write!(f, "cron handler returned an error: {m}"),
            TickError::Trap(m) => write!(f, "cron handler trapped: {m}"),
        }
    }
}

impl std::error::Error for TickError {}

pub(super) async fn tick(inner: Arc<Inner>, component: String) -> Result<(), TickError> {
    let rt = inner
        .components
        .get(&component)
        .ok_or_else(|| TickError::NotCron(component.clone()))?;
    let pre = rt
        .cron
        .clone()
        .ok_or_else(|| TickError::NotCron(component.clone()))?;
    let mut store = new_store(&inner, rt);
    let metadata = cron_types::Metadata {
        timestamp: inner.clock.unix_seconds(),
    };
    let result = async {
        let instance = pre.instantiate_async(&mut store).await?;
        instance.call_handle_cron_event(&mut store, metadata).await
    }
    .await;
    let outcome = match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(cron_types::Error::Other(m))) => Err(TickError::Guest(m)),
        Err(e) => Err(TickError::Trap(format!("{e:?}"))),
    };
    if let Err(e) = &outcome {
        inner.logs.error(&component, &e.to_string());
    }
    if let Some(t) = inner.ticks.get(&component) {
        t.send_modify(|n| *n += 1);
    }
    outcome
}

/// Fires `component` at each schedule point the clock reaches. With a frozen test
/// clock it waits for the clock to move; with the real clock it sleeps.
pub(super) async fn schedule_loop(
    inner: Arc<Inner>,
    component: String,
    schedule: crate::cron::Schedule,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut changed = inner.clock.subscribe();
    // None: a `set` made before this task first ran still anchors the schedule.
    let mut seen_anchor = None;
    let mut last = inner.clock.now();
    loop {
        if let Some((n, t)) = inner.clock.anchor()
            && Some(n) != seen_anchor
        {
            seen_anchor = Some(n);
            last = t;
        }
        let now = inner.clock.now();
        // The clock went back: schedule from the new time.
        if now < last {
            last = now;
        }
        let Some(next) = crate::cron::next_after(&schedule, last) else {
            return;
        };
        if now >= next {
            // Errors are logged by `tick`; the schedule goes on.
            let _ = tick(inner.clone(), component.clone()).await;
            last = next;
            continue;
        }
        let wait = if inner.clock.is_frozen() {
            Duration::from_secs(3600)
        } else {
            next.duration_since(now).unwrap_or(Duration::ZERO)
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = changed.changed() => {}
            _ = shutdown.changed() => return,
        }
    }
}
