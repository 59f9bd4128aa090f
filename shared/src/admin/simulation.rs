//! The simulator's settings and failure injection: `/admin/v1/simulation`.

use super::body::{Fields, parse_object};
use super::{AdminError, Answer, Response, to_json};
use crate::keys;
use crate::records::Store;
use crate::routing::Params;
use crate::sim::{FailRule, Simulation};
use serde_json::{Map, Value};

/// `GET /admin/v1/simulation`.
pub(super) fn get(st: &Store<'_>, _: &Params<'_>, _: &[u8], _: &super::Config<'_>) -> Answer {
    Ok(Response::json(200, &to_json(&Simulation::load(st)?)))
}

/// `PUT /admin/v1/simulation`: the whole settings (absent fields take their defaults).
pub(super) fn put(st: &Store<'_>, _: &Params<'_>, body: &[u8], _: &super::Config<'_>) -> Answer {
    let sim = simulation_from(&parse_object(body)?)?;
    st.put_new(&keys::simulation(), &sim)?;
    Ok(Response::json(200, &to_json(&sim)))
}

fn simulation_from(obj: &Map<String, Value>) -> Result<Simulation, AdminError> {
    let f = Fields(obj);
    let seed = match f.get("seed") {
        None => 0,
        Some(v) => v.as_u64().ok_or_else(|| {
            AdminError::invalid("seed", "INVALID_NUMBER", "must be a non-negative integer")
        })?,
    };
    let failure_rate = match f.get("failureRate") {
        None => 0.0,
        Some(v) => match v.as_f64() {
            Some(r) if (0.0..=1.0).contains(&r) => r,
            _ => {
                return Err(AdminError::invalid(
                    "failureRate",
                    "OUT_OF_RANGE",
                    "must be a number from 0 to 1",
                ));
            }
        },
    };
    let failing_steps = match f.get("failingSteps") {
        None => vec![],
        Some(v) => serde_json::from_value::<Vec<FailRule>>(v.clone()).map_err(|e| {
            AdminError::invalid(
                "failingSteps",
                "INVALID_VALUE",
                format!(
                    "must be a list of {{sourceId, step, attempts?, subject?, code?, stall?}}: {e}"
                ),
            )
        })?,
    };
    let max_attempts = match f.positive("maxAttempts")? {
        None => None,
        Some(n) => Some(u32::try_from(n).map_err(|_| {
            AdminError::invalid("maxAttempts", "OUT_OF_RANGE", "must be at most 4294967295")
        })?),
    };
    Ok(Simulation {
        seed,
        failure_rate,
        failing_steps,
        step_ms: f.positive("stepMs")?,
        step_timeout_ms: f.positive("stepTimeoutMs")?,
        max_attempts,
        backoff_ms: f.positive("backoffMs")?,
    })
}
