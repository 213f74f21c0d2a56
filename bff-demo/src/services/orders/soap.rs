//! The shipment-tracking interface of older integrations: SOAP 1.1 at
//! `POST /soap/tracking`, one operation, `TrackParcel`
//! (`SOAPAction: "urn:shop:tracking#TrackParcel"`):
//!
//! ```xml
//! <t:TrackParcel xmlns:t="urn:shop:tracking"><t:OrderId>o-50061</t:OrderId></t:TrackParcel>
//! ```
//!
//! answers `TrackParcelResponse` with `Carrier`, `Code`, `Eta` and one
//! `Event` (`At`, `Status`, `Location`) per scan; an unknown order, a
//! missing `OrderId` or another action is a `soap:Client` fault, sent with
//! HTTP 500 as SOAP 1.1 does.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::reader::Reader;

use super::OrdersState;

/// The one action this interface knows.
const ACTION: &str = "urn:shop:tracking#TrackParcel";

pub(super) async fn track_parcel(
    State(state): State<OrdersState>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let action = headers
        .get("soapaction")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_matches('"'));
    if action != Some(ACTION) {
        return fault(&format!(
            "unknown SOAPAction; this interface knows {ACTION}"
        ));
    }
    let Some(id) = order_id(&body) else {
        return fault("TrackParcel needs an OrderId");
    };
    let Some(order) = state.find(&id) else {
        return fault(&format!("unknown order {id}"));
    };
    let t = &order.tracking;
    let mut events = String::new();
    for e in &t.events {
        events.push_str(&format!(
            "<t:Event><t:At>{}</t:At><t:Status>{}</t:Status><t:Location>{}</t:Location></t:Event>",
            escape(&e.at),
            escape(&e.status),
            escape(&e.location)
        ));
    }
    let body = format!(
        "<t:TrackParcelResponse><t:OrderId>{}</t:OrderId><t:Carrier>{}</t:Carrier><t:Code>{}</t:Code><t:Eta>{}</t:Eta><t:Events>{events}</t:Events></t:TrackParcelResponse>",
        escape(&order.id),
        escape(t.carrier.as_deref().unwrap_or("")),
        escape(t.code.as_deref().unwrap_or("")),
        escape(&t.eta),
    );
    envelope(StatusCode::OK, &body)
}

/// The text of the first `OrderId` element, whatever its prefix.
fn order_id(body: &str) -> Option<String> {
    let mut reader = Reader::from_str(body);
    let mut inside = false;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) if e.local_name().as_ref() == "OrderId" => inside = true,
            Event::Text(t) if inside => return Some(t.into_inner().trim().to_owned()),
            Event::End(_) if inside => return None,
            Event::Eof => return None,
            _ => {}
        }
    }
}

fn fault(message: &str) -> Response {
    envelope(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!(
            "<soap:Fault><faultcode>soap:Client</faultcode><faultstring>{}</faultstring></soap:Fault>",
            escape(message)
        ),
    )
}

fn envelope(status: StatusCode, body: &str) -> Response {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:t=\"urn:shop:tracking\"><soap:Body>{body}</soap:Body></soap:Envelope>"
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        xml,
    )
        .into_response()
}
