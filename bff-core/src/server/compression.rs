//! Compression of answers: tower-http's, which requests that send no
//! `Accept-Encoding` pass around, since their answers are never
//! compressed and its body type is kilobytes large.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::header;
use tower::{Layer, Service};
use tower_http::compression::{CompressionLayer, Predicate};

use crate::config::CompressionConfig;

/// Compression for clients that accept it, above a size; images, gRPC,
/// event streams and answers already encoded are left alone.
pub(super) fn layer(
    config: &CompressionConfig,
) -> Option<Compress<impl Predicate + Unpin + Send + Sync + 'static + use<>>> {
    use tower_http::compression::predicate::{NotForContentType, SizeAbove};
    let when = SizeAbove::new(config.min_bytes)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
        .and(NotForContentType::const_new("application/x-protobuf"))
        .and(NotForContentType::const_new("application/zip"));
    config.enabled.then(|| Compress::new(when))
}

/// tower-http's compression, passed around by requests that send no
/// `Accept-Encoding`: their answers are never compressed, only marked
/// `Vary: Accept-Encoding` where another client's would be, and that is done
/// here alike (a test holds both ways to the same answers). tower-http's
/// body type holds every encoder's state inline, kilobytes moved and boxed
/// with every answer, compressed or not.
pub(super) struct Compress<P>(Arc<(CompressionLayer<P>, P)>);

impl<P> Clone for Compress<P> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<P: Predicate> Compress<P> {
    fn new(when: P) -> Self {
        let layer = CompressionLayer::new().compress_when(when.clone());
        Self(Arc::new((layer, when)))
    }
}

impl<S, P> Layer<S> for Compress<P> {
    type Service = CompressService<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        CompressService {
            inner,
            compress: self.clone(),
        }
    }
}

/// The service of [`Compress`].
#[derive(Clone)]
pub(super) struct CompressService<S, P> {
    inner: S,
    compress: Compress<P>,
}

impl<S, P> Service<Request> for CompressService<S, P>
where
    S: Service<Request, Response = Response> + Clone,
    S::Future: Unpin,
    P: Predicate + Unpin,
{
    type Response = Response;
    type Error = S::Error;
    type Future = CompressFuture<S::Future, P>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if !req.headers().contains_key(header::ACCEPT_ENCODING) {
            return CompressFuture::AsItIs(self.inner.call(req), self.compress.clone());
        }
        // tower-http's service takes the inner service that is ready and
        // leaves a clone in its place.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        CompressFuture::Negotiated(self.compress.0.0.layer(ready).call(req))
    }
}

/// The answer of [`CompressService`].
pub(super) enum CompressFuture<F, P> {
    Negotiated(tower_http::compression::ResponseFuture<F, P>),
    AsItIs(F, Compress<P>),
}

impl<F, P, E> Future for CompressFuture<F, P>
where
    F: Future<Output = Result<Response, E>> + Unpin,
    P: Predicate + Unpin,
{
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (answer, compress) = match &mut *self {
            Self::Negotiated(f) => return Pin::new(f).poll(cx).map_ok(|r| r.map(Body::new)),
            Self::AsItIs(f, compress) => (std::task::ready!(Pin::new(f).poll(cx)), compress),
        };
        let mut response = answer?;
        // What tower-http adds to an answer for a client that sends no
        // `Accept-Encoding`.
        let headers = response.headers();
        let compressible = !headers.contains_key(header::CONTENT_ENCODING)
            && !headers.contains_key(header::CONTENT_RANGE)
            && compress.0.1.should_compress(&response);
        let varies = headers.get_all(header::VARY).iter().any(|v| {
            v.as_bytes()
                .windows(header::ACCEPT_ENCODING.as_str().len())
                .any(|w| w.eq_ignore_ascii_case(header::ACCEPT_ENCODING.as_str().as_bytes()))
        });
        if compressible && !varies {
            response
                .headers_mut()
                .append(header::VARY, header::ACCEPT_ENCODING.into());
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::HeaderValue;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    /// An answer of the kind `kind`, as the service behind compression gives it.
    fn answer(kind: &str) -> Response {
        let big = "{\"a\": 1}".repeat(512);
        let (content_type, body, extra): (&str, Body, &[(&str, &str)]) = match kind {
            "small" => ("application/json", Body::from("{\"a\": 1}"), &[]),
            "big" => ("application/json", Body::from(big), &[]),
            "streamed" => {
                let chunks = [Ok::<_, Infallible>(big.clone()), Ok(big)];
                (
                    "application/json",
                    Body::from_stream(futures::stream::iter(chunks)),
                    &[],
                )
            }
            "varies by origin" => ("application/json", Body::from(big), &[("vary", "origin")]),
            "varies already" => (
                "application/json",
                Body::from(big),
                &[("vary", "Origin, Accept-Encoding")],
            ),
            "encoded" => (
                "application/json",
                Body::from(big),
                &[("content-encoding", "gzip")],
            ),
            "range" => (
                "application/json",
                Body::from(big),
                &[("content-range", "bytes 0-4095/8192")],
            ),
            "image" => ("image/png", Body::from(big), &[]),
            "events" => ("text/event-stream", Body::from(big), &[]),
            "grpc" => ("application/grpc", Body::from(big), &[]),
            other => unreachable!("{other}"),
        };
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        for (name, value) in extra {
            headers.append(*name, HeaderValue::from_static(value));
        }
        response
    }

    /// Status, headers, exact size and bytes of an answer.
    async fn seen<B>(response: http::Response<B>) -> (String, Option<u64>, Vec<u8>)
    where
        B: axum::body::HttpBody,
        B::Error: std::fmt::Debug,
    {
        let head = format!("{:?} {:?}", response.status(), response.headers());
        let size = response.body().size_hint().exact();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (head, size, bytes.to_vec())
    }

    #[tokio::test]
    async fn compression_answers_as_tower_http_does_with_or_without_accept_encoding() {
        let compress = layer(&CompressionConfig::default()).unwrap();
        let kinds = [
            "small",
            "big",
            "streamed",
            "varies by origin",
            "varies already",
            "encoded",
            "range",
            "image",
            "events",
            "grpc",
        ];
        for kind in kinds {
            let service = tower::service_fn(move |_: Request| {
                std::future::ready(Ok::<_, Infallible>(answer(kind)))
            });
            for accept in [
                None,
                Some("gzip"),
                Some("br;q=1, gzip;q=0.5"),
                Some("identity;q=0"),
            ] {
                let request = || {
                    let mut r = Request::new(Body::empty());
                    if let Some(a) = accept {
                        r.headers_mut()
                            .insert(header::ACCEPT_ENCODING, HeaderValue::from_static(a));
                    }
                    r
                };
                let ours = compress.layer(service).oneshot(request());
                let ours = seen(ours.await.unwrap()).await;
                let theirs = compress.0.0.layer(service).oneshot(request());
                let theirs = seen(theirs.await.unwrap()).await;
                let case = format!("{kind}, accepting {accept:?}");
                assert_eq!((&ours.0, ours.1), (&theirs.0, theirs.1), "{case}");
                assert!(ours.2 == theirs.2, "{case}: the bodies differ");
            }
        }
    }
}
