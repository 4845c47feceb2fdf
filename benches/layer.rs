//! What the layer costs.
//!
//! - `pass_through/bare` and `pass_through/layered`: the same inner service
//!   and the same ordinary request (`GET /api/users/42` on a tunnel host),
//!   without and with `WellKnownLayer` in front. Their ratio is the price of
//!   the layer on every request that is not a well-known one.
//! - `pass_through/identity_*`: the same request behind a layer that
//!   resolves the caller for handlers under `/account` only (`elsewhere`,
//!   with a token), and everywhere (`anonymous`, `token`, `cookie`).
//! - `session_endpoint/*`: `GET /.well-known/rstream/session` unauthenticated,
//!   with a valid bearer token (`StaticTokenVerifier`), and with a valid
//!   session cookie (`MemoryStore`).
//!
//! The inner service and the built-in verifier and store are ready at once, so
//! futures are polled once with `now_or_never`: no runtime is measured. Each
//! request is built outside the timed routine (`iter_batched`), the same way
//! for every case, so only the service call (and dropping the request inside
//! it) is timed. Before timing, each case is run once and its answer checked,
//! so a broken configuration cannot produce a fast but meaningless figure.
//!
//! Run: `cargo bench --bench layer -- --warm-up-time 1 --measurement-time 3`.

use std::fmt::Debug;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::header::{AUTHORIZATION, COOKIE};
use http::{Response, StatusCode};
use http_body::Body;
mod common;
use common::*;
use tower::{Layer, service_fn};

/// The response's status and body.
fn status_and_body_of<B>(response: Response<B>) -> (StatusCode, Bytes)
where
    B: Body,
    B::Error: Debug,
{
    let (status, _, body) = collect(response);
    (status, body)
}

fn pass_through(c: &mut Criterion) {
    let mut bare = service_fn(inner_service);
    let mut layered = layer().layer(service_fn(inner_service));

    let path = "/api/users/42";
    assert_eq!(
        status_and_body_of(call_now(&mut bare, request(path, None))),
        (StatusCode::OK, Bytes::from_static(b"{\"id\":42}"))
    );
    assert_eq!(
        status_and_body_of(call_now(&mut layered, request(path, None))),
        (StatusCode::OK, Bytes::from_static(b"{\"id\":42}")),
        "the layer forwards an ordinary request untouched"
    );

    let mut group = c.benchmark_group("pass_through");
    group.bench_function("bare", |b| {
        b.iter_batched(
            || request(path, None),
            |request| call_now(&mut bare, black_box(request)),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("layered", |b| {
        b.iter_batched(
            || request(path, None),
            |request| call_now(&mut layered, black_box(request)),
            BatchSize::SmallInput,
        );
    });

    // Identity for handlers: not for this path, then for every path with
    // no credential, a token and a cookie.
    let bearer = format!("Bearer {TOKEN}");
    let all = layer_with_identity(Identity::All);
    let cookie = signed_in_cookie(&all);
    let cases: [(&str, Identity, Credential<'_>); 4] = [
        (
            "identity_elsewhere",
            Identity::Elsewhere,
            Some((AUTHORIZATION, &bearer)),
        ),
        ("identity_anonymous", Identity::All, None),
        (
            "identity_token",
            Identity::All,
            Some((AUTHORIZATION, &bearer)),
        ),
        ("identity_cookie", Identity::All, Some((COOKIE, &cookie))),
    ];
    for (name, identity, credential) in cases {
        let layer = if identity == Identity::All {
            all.clone()
        } else {
            layer_with_identity(identity)
        };
        let mut service = layer.layer(service_fn(inner_service));
        assert_eq!(
            status_and_body_of(call_now(&mut service, request(path, credential.clone()))),
            (StatusCode::OK, Bytes::from_static(b"{\"id\":42}")),
            "{name}"
        );
        group.bench_function(name, |b| {
            b.iter_batched(
                || request(path, credential.clone()),
                |request| call_now(&mut service, black_box(request)),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn session_endpoint(c: &mut Criterion) {
    let layer = layer();
    let cookie = signed_in_cookie(&layer);
    let bearer = format!("Bearer {TOKEN}");
    let mut service = layer.layer(service_fn(inner_service));

    // (name, credential, a piece of the expected answer)
    let cases: [(&str, Credential<'_>, &str); 3] = [
        (
            "unauthenticated",
            None,
            r#"{"auth":{"authenticated":false}}"#,
        ),
        (
            "bearer_token",
            Some((AUTHORIZATION, &bearer)),
            r#""method":"token-auth""#,
        ),
        (
            "session_cookie",
            Some((COOKIE, &cookie)),
            r#""method":"rstream-auth""#,
        ),
    ];

    let mut group = c.benchmark_group("session_endpoint");
    for (name, credential, expected) in cases {
        let (status, body) = status_and_body_of(call_now(
            &mut service,
            request(SESSION_PATH, credential.clone()),
        ));
        let body = String::from_utf8(body.to_vec()).expect("a JSON body");
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(body.contains(expected), "{name}: {body}");

        group.bench_function(name, |b| {
            b.iter_batched(
                || request(SESSION_PATH, credential.clone()),
                |request| call_now(&mut service, black_box(request)),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, pass_through, session_endpoint);
criterion_main!(benches);
