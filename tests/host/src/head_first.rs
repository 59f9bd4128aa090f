//! spin-compat: the response head leaves alone when the body is not complete at `set`.
//!
//! Runtime fact R5 (docs/runtime-facts.md): Spin does not set `TCP_NODELAY`, and it sends
//! the response head as soon as the guest sets the response outparam. A guest that writes
//! its body after `set` (spin-sdk's order) may have its head flushed alone; the body
//! segment then waits for the client's delayed ACK (~40 ms on keep-alive connections).
//! Measured on Spin 4.0.2 with the probe guest: a guest that opened a key-value store
//! during the request loses that race every time (p50 44 ms); one that did not wins it
//! (p50 1 ms). Our host, left alone, always won it, which hid the stall from our
//! benchmark. In spin-compat mode the host loses it as Spin does: the body is looked at
//! during `set` itself (the outparam's callback runs in the guest's call), and if the guest
//! opened a store and no frame is ready then, the body yields once to hyper, so the head
//! is flushed alone. A body written and finished before `set` has its first frame ready
//! and leaves with the head, as on Spin.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use wasmtime_wasi_http::Error as BodyError;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The response as Spin's server would write it (see the module docs).
pub(crate) fn like_spin(
    resp: hyper::Response<HyperOutgoingBody>,
    opened_store: bool,
) -> hyper::Response<HyperOutgoingBody> {
    if !opened_store {
        return resp;
    }
    let (parts, mut body) = resp.into_parts();
    let mut cx = Context::from_waker(Waker::noop());
    let state = match Pin::new(&mut body).poll_frame(&mut cx) {
        Poll::Ready(first) => State::Ready(first),
        Poll::Pending => State::YieldOnce,
    };
    hyper::Response::from_parts(parts, HeadFirst { body, state }.boxed_unsync())
}

enum State {
    /// The first poll found this (a frame, an error or the end): hand it over first.
    Ready(Option<Result<Frame<bytes::Bytes>, BodyError>>),
    /// Nothing was ready: answer `Pending` once, so the head is flushed alone.
    YieldOnce,
    Through,
}

struct HeadFirst {
    body: HyperOutgoingBody,
    state: State,
}

impl Body for HeadFirst {
    type Data = bytes::Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match std::mem::replace(&mut self.state, State::Through) {
            State::Ready(first) => Poll::Ready(first),
            State::YieldOnce => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            State::Through => Pin::new(&mut self.body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Through) && self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    /// A body whose data comes later (a guest that writes after `set`).
    struct Later(Option<bytes::Bytes>, bool);

    impl Body for Later {
        type Data = bytes::Bytes;
        type Error = BodyError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
            if !self.1 {
                self.1 = true;
                return Poll::Pending;
            }
            Poll::Ready(self.0.take().map(|b| Ok(Frame::data(b))))
        }
    }

    fn response(
        body: impl Body<Data = bytes::Bytes, Error = BodyError> + Send + 'static,
    ) -> hyper::Response<HyperOutgoingBody> {
        hyper::Response::new(body.boxed_unsync())
    }

    fn complete() -> hyper::Response<HyperOutgoingBody> {
        response(Full::new(bytes::Bytes::from_static(b"ok")).map_err(|never| match never {}))
    }

    /// Polls once, as hyper does right after writing the head into its buffer.
    fn first_poll(resp: hyper::Response<HyperOutgoingBody>) -> Poll<bool> {
        let mut body = resp.into_body();
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(&mut body)
            .poll_frame(&mut cx)
            .map(|f| matches!(f, Some(Ok(_))))
    }

    #[test]
    fn a_body_complete_at_set_leaves_with_the_head() {
        assert_eq!(first_poll(like_spin(complete(), true)), Poll::Ready(true));
    }

    #[test]
    fn a_body_written_after_set_by_a_store_user_lets_the_head_leave_alone() {
        let resp = like_spin(response(Later(Some("late".into()), false)), true);
        let mut body = resp.into_body();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(Pin::new(&mut body).poll_frame(&mut cx).is_pending());
        // Then the data follows, whole.
        assert!(matches!(
            Pin::new(&mut body).poll_frame(&mut cx),
            Poll::Ready(Some(Ok(_)))
        ));
    }

    #[test]
    fn a_guest_that_opened_no_store_wins_the_race_as_on_spin() {
        // Even a body with data ready at once: it is passed through untouched.
        assert_eq!(first_poll(like_spin(complete(), false)), Poll::Ready(true));
        let resp = like_spin(response(Later(Some("late".into()), true)), false);
        assert_eq!(first_poll(resp), Poll::Ready(true));
    }
}
