//! The pricing service, the demo's one gRPC API (tonic):
//! `shop.pricing.v1.Pricing/GetPrice` prices a quantity of a product from
//! its list price in the catalog data, less a quantity discount. Its
//! contract is `composition-specs/web/proto/shop/pricing/v1/pricing.proto`.

use std::sync::Arc;

use axum::Router;
use tonic::{Request, Response, Status};

use super::data::Dataset;

// Generated code: its items are public for tonic, not for this crate.
#[allow(unreachable_pub)]
mod proto {
    tonic::include_proto!("shop.pricing.v1");
}

use proto::pricing_server::{Pricing, PricingServer};
use proto::{GetPriceRequest, Price};

/// Largest quantity one request may price.
const MAX_QUANTITY: u32 = 1000;

struct Prices {
    data: Arc<Dataset>,
}

#[tonic::async_trait]
impl Pricing for Prices {
    async fn get_price(
        &self,
        request: Request<GetPriceRequest>,
    ) -> Result<Response<Price>, Status> {
        let GetPriceRequest {
            product_id,
            quantity,
        } = request.into_inner();
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            return Err(Status::invalid_argument(format!(
                "quantity must be 1..={MAX_QUANTITY}, got {quantity}"
            )));
        }
        let product = self
            .data
            .product(&product_id)
            .ok_or_else(|| Status::not_found(format!("product {product_id} not found")))?;
        let unit = u32::try_from(product.price_cents)
            .map_err(|_| Status::internal("list price out of range"))?;
        let percent = discount_percent(quantity);
        let list = unit * quantity;
        let total = list * (100 - percent) / 100;
        Ok(Response::new(Price {
            product_id,
            quantity,
            currency: product.currency.clone(),
            unit_price_cents: unit,
            discount_percent: percent,
            total_cents: total,
            savings_cents: list - total,
        }))
    }
}

/// The quantity discount, in percent.
fn discount_percent(quantity: u32) -> u32 {
    match quantity {
        50.. => 15,
        10.. => 10,
        3.. => 5,
        _ => 0,
    }
}

/// The gRPC routes; unknown methods answer `UNIMPLEMENTED` as gRPC servers do.
pub(crate) fn routes(data: Arc<Dataset>) -> Router {
    tonic::service::Routes::new(PricingServer::new(Prices { data }))
        .prepare()
        .into_axum_router()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discounts_grow_with_the_quantity() {
        let at: Vec<u32> = [1, 2, 3, 9, 10, 49, 50, 1000]
            .into_iter()
            .map(discount_percent)
            .collect();
        assert_eq!(at, [0, 0, 5, 5, 10, 10, 15, 15]);
    }

    #[tokio::test]
    async fn prices_come_from_the_catalog() {
        let data = Arc::new(Dataset::generate());
        let list = data.product("p-2001").unwrap().price_cents as u32;
        let prices = Prices { data };
        let ask = |id: &str, quantity| {
            Request::new(GetPriceRequest {
                product_id: id.into(),
                quantity,
            })
        };
        let p = prices
            .get_price(ask("p-2001", 10))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(p.unit_price_cents, list);
        assert_eq!(p.total_cents, list * 9);
        assert_eq!(p.savings_cents, list);
        let missing = prices.get_price(ask("p-0", 1)).await.unwrap_err();
        assert_eq!(missing.code(), tonic::Code::NotFound);
        let zero = prices.get_price(ask("p-2001", 0)).await.unwrap_err();
        assert_eq!(zero.code(), tonic::Code::InvalidArgument);
    }
}
