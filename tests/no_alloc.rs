//! The pass-through path allocates nothing: a request that is not for a
//! well-known path goes from the layer to the inner service and back without
//! a single heap allocation made by the layer, whatever its path looks like.

use std::convert::Infallible;
use std::future::{Ready, ready};

use bytes::Bytes;
use futures::FutureExt;
use http::{Request, Response};
use http_body_util::Empty;
use rstream_well_known::{MemoryStore, StaticTokenVerifier, Tunnel, User, WellKnownLayer};
use tower::{Layer, Service};

#[derive(Clone)]
struct Bare;

impl Service<Request<Empty<Bytes>>> for Bare {
    type Response = Response<Empty<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: Request<Empty<Bytes>>) -> Self::Future {
        ready(Ok(Response::new(Empty::new())))
    }
}

#[test]
fn pass_through_requests_allocate_nothing() {
    let layer = WellKnownLayer::builder()
        .tunnel(Tunnel::new("app.example.com", "w", "p").unwrap())
        .with_token_verifier(StaticTokenVerifier::new().with_token("t", User::new("u")))
        .with_session_store(MemoryStore::new())
        .build()
        .unwrap();
    // The counter works: a boxed value is one allocation.
    let control = allocation_counter::measure(|| {
        std::hint::black_box(Box::new(42u64));
    });
    assert_eq!(control.count_total, 1);

    let mut service = layer.layer(Bare);
    for path in [
        "/",
        "/api/users/42?x=1",
        "/.well-known/openid-configuration",
        "/static/app.js",
        "/.well-known/rstreamer",
        "/files/my%20report.pdf",
        "//double//slashes",
        "/a/./b/../c",
        "/.well-known%2Fother",
        // Near misses of the spellings the layer answers itself: each is
        // walked (it has a `%`, a `\`, a non-ASCII byte or a `/.`) and
        // forwarded, without allocating either.
        "/files/a;b",
        "/files/a:b",
        "/a\\b",
        "/caf%C3%A9",
        "/café",
        "/ｆｕｌｌｗｉｄｔｈ",
        "/files/100%25",
        "/%252Fetc",
        "/x/.well-known/rstream/session",
        "/x/%2E%2E/y/.well-known/rstream/session",
        "/.well-known;/other",
        "/.well-known/../rstream/session",
        "/a/..;/b",
        "/%u0041pi",
        "/%C0%AE%C0%AE/x",
        "/.well-known./rstreamer",
        "/.WELL-KNOWN/openid-configuration",
        "//cdn.example/x",
        "/search/%E6%97%A5%E6%9C%AC%E8%AA%9E",
    ] {
        let request = Request::get(path)
            .header("host", "app.example.com")
            .header("authorization", "Bearer t")
            .header("cookie", "rstream_session=abc")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let mut response = None;
        let info = allocation_counter::measure(|| {
            response = Some(service.call(request).now_or_never().unwrap().unwrap());
        });
        assert!(response.is_some());
        assert_eq!(
            info.count_total, 0,
            "{path} allocated on the pass-through path"
        );
    }
}

/// The session endpoint's cookie answer allocates as much on a layer with an
/// idle timeout (when no touch is due) as on one without: sliding expiry
/// costs nothing per request but its throttled touch.
#[test]
fn sessions_with_an_idle_deadline_cost_no_extra_allocation() {
    let allocations = |idle: Option<std::time::Duration>| {
        let builder = WellKnownLayer::builder()
            .tunnel(Tunnel::new("app.example.com", "w", "p").unwrap())
            .with_session_store(MemoryStore::new());
        let builder = match idle {
            Some(idle) => builder.idle_timeout(idle),
            None => builder,
        };
        let layer = builder.build().unwrap();
        let signed_in = layer
            .session_manager()
            .sign_in(User::new("ada"))
            .now_or_never()
            .unwrap()
            .unwrap();
        let cookie = signed_in.set_cookie().to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let mut service = layer.layer(Bare);
        let mut counts = Vec::new();
        for _ in 0..3 {
            let request = Request::get("/.well-known/rstream/session")
                .header("host", "app.example.com")
                .header("cookie", &cookie)
                .body(Empty::<Bytes>::new())
                .unwrap();
            let mut response = None;
            let info = allocation_counter::measure(|| {
                response = Some(service.call(request).now_or_never().unwrap().unwrap());
            });
            let body = http_body_util::BodyExt::collect(response.unwrap().into_body())
                .now_or_never()
                .unwrap()
                .unwrap()
                .to_bytes();
            assert!(
                body.windows(14).any(|w| w == b"\"rstream-auth\""),
                "{body:?}"
            );
            counts.push(info.count_total);
        }
        // Every request the same (the first renders the user's JSON once).
        counts.pop().unwrap()
    };
    let plain = allocations(None);
    let idle = allocations(Some(std::time::Duration::from_secs(3600)));
    assert_eq!(idle, plain, "an idle deadline added allocations");
}

/// Identity and enforcement limited to some paths: every other path passes
/// through as cheaply as with both off, without allocating, whatever its
/// spelling (the token parameter is stripped only where there is one).
#[test]
fn paths_outside_identity_and_enforcement_allocate_nothing() {
    let layer = WellKnownLayer::builder()
        .tunnel(Tunnel::new("app.example.com", "w", "p").unwrap())
        .with_token_verifier(StaticTokenVerifier::new().with_token("t", User::new("u")))
        .with_session_store(MemoryStore::new())
        .identity(rstream_well_known::Paths::prefix("/account"))
        .require_authentication(rstream_well_known::Paths::prefix("/admin"))
        .build()
        .unwrap();
    let mut service = layer.layer(Bare);
    for path in [
        "/",
        "/api/users/42?x=1",
        "/static/app.js",
        "/files/my%20report.pdf",
        "/a/./b/../c",
        "/caf%C3%A9",
        "/accounts",
        "/administrator?rstream.tokens=x",
    ] {
        let request = Request::get(path)
            .header("host", "app.example.com")
            .header("authorization", "Bearer t")
            .header("cookie", "rstream_session=abc")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let mut response = None;
        let info = allocation_counter::measure(|| {
            response = Some(service.call(request).now_or_never().unwrap().unwrap());
        });
        assert!(response.is_some());
        assert_eq!(info.count_total, 0, "{path} allocated");
    }
}
