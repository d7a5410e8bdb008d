//! The one librdkafka admin call that rust-rdkafka 0.38 does not wrap:
//! ListConsumerGroupOffsets (OffsetFetch for a group, via its coordinator).
//!
//! librdkafka takes one group per request, so the requests are sent concurrently on one
//! result queue, at most `window` in flight: librdkafka pipelines them on the coordinator
//! connections, and wall time grows with round trips / window, not with groups.
//! Every unsafe block is here; the function itself is safe to call.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr;
use std::time::{Duration, Instant};

use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// (topic, partition, committed offset; -1 when none).
pub type Committed = Vec<(String, i32, i64)>;

/// The committed offsets of each group, in the order given. Blocking: run it on a blocking
/// thread. `consumer` keeps the librdkafka handle alive for the whole call.
pub fn list_group_offsets(
    consumer: &BaseConsumer,
    groups: &[String],
    window: usize,
    timeout: Duration,
) -> Vec<Result<Committed, String>> {
    let rk = consumer.client().native_ptr();
    let mut results: Vec<Option<Result<Committed, String>>> = vec![None; groups.len()];
    // SAFETY: rk is a live handle (borrowed from `consumer`); the queue is destroyed by Drop.
    let queue = Queue(unsafe { rd::rd_kafka_queue_new(rk) });
    if queue.0.is_null() {
        return groups
            .iter()
            .map(|_| Err("cannot create a result queue".into()))
            .collect();
    }
    let deadline = Instant::now() + timeout;
    let window = window.max(1);
    let (mut next, mut in_flight) = (0usize, 0usize);
    while next < groups.len() || in_flight > 0 {
        while in_flight < window && next < groups.len() {
            match submit(rk, queue.0, &groups[next], next, timeout) {
                Ok(()) => in_flight += 1,
                Err(e) => results[next] = Some(Err(e)),
            }
            next += 1;
        }
        if in_flight == 0 {
            continue;
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        let ms = c_int::try_from(remaining.as_millis())
            .unwrap_or(c_int::MAX)
            .max(1);
        // SAFETY: the queue is live; a non-null event is owned by us and destroyed by Drop.
        let ev = Event(unsafe { rd::rd_kafka_queue_poll(queue.0, ms) });
        if ev.0.is_null() {
            continue;
        }
        // SAFETY: ev is a live event.
        let opaque = unsafe { rd::rd_kafka_event_opaque(ev.0) } as usize;
        let Some(slot) = opaque.checked_sub(1).and_then(|i| results.get_mut(i)) else {
            continue;
        };
        in_flight = in_flight.saturating_sub(1);
        *slot = Some(read_result(ev.0));
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(format!("no answer within {timeout:?}"))))
        .collect()
}

fn submit(
    rk: *mut rd::rd_kafka_t,
    queue: *mut rd::rd_kafka_queue_t,
    group: &str,
    index: usize,
    timeout: Duration,
) -> Result<(), String> {
    let name = CString::new(group).map_err(|_| "group id contains a NUL byte".to_string())?;
    let mut errstr = [0 as c_char; 256];
    let ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
    // SAFETY: all pointers are created here and live until destroyed below; librdkafka
    // copies the request and the options, so both may be destroyed right after the call.
    unsafe {
        let req = rd::rd_kafka_ListConsumerGroupOffsets_new(name.as_ptr(), ptr::null());
        if req.is_null() {
            return Err("cannot build the OffsetFetch request".into());
        }
        let opts = rd::rd_kafka_AdminOptions_new(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
        );
        if opts.is_null() {
            rd::rd_kafka_ListConsumerGroupOffsets_destroy(req);
            return Err("cannot build admin options".into());
        }
        rd::rd_kafka_AdminOptions_set_request_timeout(opts, ms, errstr.as_mut_ptr(), errstr.len());
        rd::rd_kafka_AdminOptions_set_opaque(opts, (index + 1) as *mut c_void);
        let mut reqs = [req];
        rd::rd_kafka_ListConsumerGroupOffsets(rk, reqs.as_mut_ptr(), 1, opts, queue);
        rd::rd_kafka_ListConsumerGroupOffsets_destroy(req);
        rd::rd_kafka_AdminOptions_destroy(opts);
    }
    Ok(())
}

fn read_result(ev: *mut rd::rd_kafka_event_t) -> Result<Committed, String> {
    // SAFETY: ev is a live event owned by the caller; everything read from it is borrowed
    // and copied out before the caller destroys it.
    unsafe {
        let err = rd::rd_kafka_event_error(ev);
        if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(text(rd::rd_kafka_event_error_string(ev)));
        }
        let res = rd::rd_kafka_event_ListConsumerGroupOffsets_result(ev);
        if res.is_null() {
            return Err("unexpected admin result".into());
        }
        let mut cnt = 0usize;
        let groups = rd::rd_kafka_ListConsumerGroupOffsets_result_groups(res, &mut cnt);
        let mut out = Vec::new();
        for i in 0..cnt {
            let g = *groups.add(i);
            let e = rd::rd_kafka_group_result_error(g);
            if !e.is_null() {
                return Err(text(rd::rd_kafka_error_string(e)));
            }
            let parts = rd::rd_kafka_group_result_partitions(g);
            if parts.is_null() {
                continue;
            }
            let list = &*parts;
            for j in 0..usize::try_from(list.cnt).unwrap_or(0) {
                let el = &*list.elems.add(j);
                if el.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                    continue;
                }
                out.push((text(el.topic), el.partition, el.offset));
            }
        }
        Ok(out)
    }
}

/// # Safety
/// `p` is null or a NUL-terminated string that outlives this call.
unsafe fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: guaranteed by the caller.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

struct Queue(*mut rd::rd_kafka_queue_t);

impl Drop for Queue {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: created by rd_kafka_queue_new, destroyed once.
            unsafe { rd::rd_kafka_queue_destroy(self.0) }
        }
    }
}

struct Event(*mut rd::rd_kafka_event_t);

impl Drop for Event {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: returned by rd_kafka_queue_poll, owned by us, destroyed once.
            unsafe { rd::rd_kafka_event_destroy(self.0) }
        }
    }
}
