//! Parcels: the planned journey of an order from warehouse to door, and
//! carrier tracking codes.

use super::clock::{DATA_NOW, HOUR, date, rfc3339};
use super::rng::SeededRng;
use super::words::{CARRIERS, HUBS, WAREHOUSES};
use super::{OrderStatus, Tracking, TrackingEvent, User};

/// The parcel's planned journey; the events up to [`DATA_NOW`] have happened.
pub(super) fn tracking(
    rng: &mut SeededRng,
    created: i64,
    user: &User,
    warehouse: usize,
) -> (OrderStatus, Tracking) {
    let carrier = *rng.pick(CARRIERS);
    let code = tracking_code(rng, carrier);
    let packed = created + rng.range(2 * HOUR, 10 * HOUR);
    let shipped = packed + rng.range(3 * HOUR, 20 * HOUR);
    let at_hub = shipped + rng.range(6 * HOUR, 18 * HOUR);
    let out_for_delivery = at_hub + rng.range(14 * HOUR, 30 * HOUR);
    let delivered = out_for_delivery + rng.range(2 * HOUR, 7 * HOUR);
    let (warehouse_id, warehouse_city) = WAREHOUSES[warehouse];
    let hub = *rng.pick(HUBS[warehouse]);
    let destination = format!("{}, {}", user.city, user.country);
    let handover = *rng.pick(&[
        "Delivered to the customer",
        "Delivered to a neighbour",
        "Delivered to the mailbox",
    ]);
    let planned = [
        (
            created,
            "placed",
            "Online".to_owned(),
            "Order placed".to_owned(),
        ),
        (
            packed,
            "packed",
            warehouse_city.to_owned(),
            format!(
                "Packed at fulfilment centre {}",
                warehouse_id.to_uppercase()
            ),
        ),
        (
            shipped,
            "shipped",
            warehouse_city.to_owned(),
            format!("Handed over to {carrier}"),
        ),
        (
            at_hub,
            "in_transit",
            hub.to_owned(),
            "Arrived at sorting hub".to_owned(),
        ),
        (
            out_for_delivery,
            "out_for_delivery",
            destination.clone(),
            "Out for delivery".to_owned(),
        ),
        (delivered, "delivered", destination, handover.to_owned()),
    ];
    let events: Vec<TrackingEvent> = planned
        .into_iter()
        .filter(|(at, ..)| *at <= DATA_NOW)
        .map(|(at, status, location, description)| TrackingEvent {
            at: rfc3339(at),
            status: status.to_owned(),
            location,
            description,
        })
        .collect();
    let status = match events.last().map(|e| e.status.as_str()) {
        Some("placed") | None => OrderStatus::Placed,
        Some("packed") => OrderStatus::Packed,
        Some("delivered") => OrderStatus::Delivered,
        Some(_) => OrderStatus::Shipped,
    };
    let labelled = status != OrderStatus::Placed;
    let tracking = Tracking {
        carrier: labelled.then(|| carrier.to_owned()),
        code: labelled.then_some(code),
        eta: date(delivered),
        events,
    };
    (status, tracking)
}

/// A tracking code in the carrier's usual format.
fn tracking_code(rng: &mut SeededRng, carrier: &str) -> String {
    const LETTERS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ";
    let digits = |rng: &mut SeededRng, n: u32| {
        format!("{:0width$}", rng.below(10u64.pow(n)), width = n as usize)
    };
    match carrier {
        "DHL" => format!("JJD{}", digits(rng, 14)),
        "PostNL" => {
            let letters: String = (0..4).map(|_| char::from(*rng.pick(LETTERS))).collect();
            format!("3S{letters}{}", digits(rng, 9))
        }
        "UPS" => format!("1Z{:06X}{}", rng.below(1 << 24), digits(rng, 10)),
        _ => digits(rng, 14),
    }
}
