//! The demo shop's data: users, products, orders, reviews, recommendations
//! and stock levels, generated in code from a fixed seed so every run (and
//! every test) sees exactly the same records.
//!
//! The records are linked the way a real shop's would be: orders reference
//! existing products at their list price, a product's `rating` is the mean
//! of its reviews, recommendations avoid what the user already bought, and
//! inventory SKUs are product ids.

mod clock;
mod generate;
pub(crate) mod rng;
mod shipping;
mod suggest;
mod words;

use std::collections::HashMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};

pub use clock::DATA_NOW;
pub(crate) use clock::{DAY, date, rfc3339, wall_clock};

/// The id of the warehouse that ships to a country (`NL` -> `ams-1`).
pub(crate) fn shipping_warehouse(country: &str) -> &'static str {
    words::WAREHOUSES[words::warehouse_for(country)].0
}

/// The seed every run starts from.
pub const SEED: u64 = 0x0000_BFF0_DE30;

/// A customer account.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub locale: String,
    pub city: String,
    pub country: String,
    /// `member` or `plus` (free shipping, early access).
    pub tier: String,
    pub member_since: String,
    pub avatar_url: String,
}

/// What a user chose in their settings.
#[derive(Clone, Debug, Serialize)]
pub struct Preferences {
    pub user_id: String,
    pub language: String,
    pub currency: String,
    pub favorite_categories: Vec<String>,
    pub notifications: Notifications,
    pub newsletter: bool,
}

/// Notification channels a user opted into.
#[derive(Clone, Debug, Serialize)]
pub struct Notifications {
    pub email: bool,
    pub push: bool,
    pub sms: bool,
}

/// A catalog category.
#[derive(Clone, Debug, Serialize)]
pub struct Category {
    pub id: String,
    pub name: String,
    pub product_count: usize,
}

/// A product in the catalog.
#[derive(Clone, Debug, Serialize)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub brand: String,
    pub category: String,
    pub description: String,
    pub price_cents: u64,
    pub currency: String,
    pub image_url: String,
    /// Mean review rating to one decimal, `null` without reviews.
    pub rating: Option<f64>,
    pub review_count: usize,
}

/// Where an order is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Placed,
    Packed,
    Shipped,
    Delivered,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Packed => "packed",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
        }
    }
}

/// One line of an order.
#[derive(Clone, Debug, Serialize)]
pub struct OrderItem {
    pub product_id: String,
    pub quantity: u32,
    pub unit_price_cents: u64,
}

/// A customer's order.
#[derive(Clone, Debug, Serialize)]
pub struct Order {
    pub id: String,
    pub customer_id: String,
    pub status: OrderStatus,
    pub items: Vec<OrderItem>,
    pub total_cents: u64,
    pub currency: String,
    pub created_at: String,
    /// The warehouse the order ships from.
    pub warehouse: String,
    pub tracking: Tracking,
}

/// Shipment tracking of an order.
#[derive(Clone, Debug, Serialize)]
pub struct Tracking {
    /// Known once the parcel is packed and labelled.
    pub carrier: Option<String>,
    pub code: Option<String>,
    /// Expected (or actual) delivery date.
    pub eta: String,
    /// Oldest first.
    pub events: Vec<TrackingEvent>,
}

/// One scan of a parcel.
#[derive(Clone, Debug, Serialize)]
pub struct TrackingEvent {
    pub at: String,
    /// placed, packed, shipped, in_transit, out_for_delivery, delivered
    pub status: String,
    pub location: String,
    pub description: String,
}

/// A customer review of a product.
#[derive(Clone, Debug, Serialize)]
pub struct Review {
    pub id: String,
    pub product_id: String,
    pub author: String,
    pub rating: u8,
    pub title: String,
    pub body: String,
    pub created_at: String,
    pub verified_purchase: bool,
}

/// A product suggested to a user (or next to a product).
#[derive(Clone, Debug, Serialize)]
pub struct Recommendation {
    pub product_id: String,
    pub reason: String,
    /// Relevance in `0..1`, highest first.
    pub score: f64,
}

/// Stock of one SKU in one warehouse.
#[derive(Clone, Debug, Serialize)]
pub struct StockLevel {
    pub warehouse: String,
    pub available: u32,
    pub reserved: u32,
}

/// Stock of one SKU (a product id) across warehouses.
#[derive(Clone, Debug, Serialize)]
pub struct InventoryRecord {
    pub sku: String,
    pub available: u32,
    pub reserved: u32,
    pub in_stock: bool,
    /// Set when nothing is available anywhere.
    pub restock_date: Option<String>,
    pub warehouses: Vec<StockLevel>,
}

/// All demo records with lookups by id.
#[derive(Debug)]
pub struct Dataset {
    pub users: Vec<User>,
    /// In the same order as `users`.
    pub preferences: Vec<Preferences>,
    pub categories: Vec<Category>,
    pub products: Vec<Product>,
    /// Oldest first; ids increase with time.
    pub orders: Vec<Order>,
    /// Grouped by product, newest first within a product.
    pub reviews: Vec<Review>,
    pub recommendations_by_user: HashMap<String, Vec<Recommendation>>,
    pub recommendations_by_product: HashMap<String, Vec<Recommendation>>,
    pub inventory: Vec<InventoryRecord>,
    index: Index,
}

#[derive(Debug, Default)]
struct Index {
    users: HashMap<String, usize>,
    products: HashMap<String, usize>,
    orders: HashMap<String, usize>,
    reviews: HashMap<String, Range<usize>>,
    inventory: HashMap<String, usize>,
}

impl Dataset {
    /// Generates the demo data from [`SEED`].
    pub fn generate() -> Self {
        generate::generate(SEED)
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.index.users.get(id).map(|&i| &self.users[i])
    }

    pub fn preferences(&self, user_id: &str) -> Option<&Preferences> {
        self.index.users.get(user_id).map(|&i| &self.preferences[i])
    }

    pub fn product(&self, id: &str) -> Option<&Product> {
        self.index.products.get(id).map(|&i| &self.products[i])
    }

    pub fn order(&self, id: &str) -> Option<&Order> {
        self.index.orders.get(id).map(|&i| &self.orders[i])
    }

    /// Reviews of a product, newest first (empty for unknown products).
    pub fn reviews_of(&self, product_id: &str) -> &[Review] {
        self.index
            .reviews
            .get(product_id)
            .map_or(&[], |range| &self.reviews[range.clone()])
    }

    pub fn stock(&self, sku: &str) -> Option<&InventoryRecord> {
        self.index.inventory.get(sku).map(|&i| &self.inventory[i])
    }

    fn build_index(&mut self) {
        let positions = |ids: &mut dyn Iterator<Item = &String>| {
            ids.enumerate()
                .map(|(i, id)| (id.clone(), i))
                .collect::<HashMap<_, _>>()
        };
        self.index.users = positions(&mut self.users.iter().map(|u| &u.id));
        self.index.products = positions(&mut self.products.iter().map(|p| &p.id));
        self.index.orders = positions(&mut self.orders.iter().map(|o| &o.id));
        self.index.inventory = positions(&mut self.inventory.iter().map(|r| &r.sku));
        let mut reviews: HashMap<String, Range<usize>> = HashMap::new();
        for (i, review) in self.reviews.iter().enumerate() {
            reviews
                .entry(review.product_id.clone())
                .and_modify(|r| r.end = i + 1)
                .or_insert(i..i + 1);
        }
        self.index.reviews = reviews;
    }
}
