//! Builds the [`Dataset`] from a seed. The order of generation is part of
//! the contract: changing it changes every record after it.

use std::collections::{HashMap, HashSet};

use super::clock::{DATA_NOW, DAY, HOUR, date, rfc3339};
use super::rng::SeededRng;
use super::words::{
    CARRIERS, CATEGORIES, HUBS, PEOPLE, REVIEWERS, WAREHOUSES, review_sentences, review_title,
    warehouse_for,
};
use super::{
    Category, Dataset, InventoryRecord, Notifications, Order, OrderItem, OrderStatus, Preferences,
    Product, Recommendation, Review, StockLevel, Tracking, TrackingEvent, User,
};

/// How many recommendations are kept per user and per product.
const RECOMMENDATIONS_KEPT: usize = 12;

pub(super) fn generate(seed: u64) -> Dataset {
    let mut rng = SeededRng::new(seed);
    let (categories, mut products) = catalog(&mut rng);
    let (users, preferences) = people(&mut rng);
    let reviews = reviews(&mut rng, &mut products, &users);
    let orders = orders(&mut rng, &users, &preferences, &products);
    let recommendations_by_user = user_recommendations(
        &mut rng,
        &users,
        &preferences,
        &products,
        &orders,
        &categories,
    );
    let recommendations_by_product = product_recommendations(&products, &orders);
    let inventory = inventory(&mut rng, &products);
    let mut data = Dataset {
        users,
        preferences,
        categories,
        products,
        orders,
        reviews,
        recommendations_by_user,
        recommendations_by_product,
        inventory,
        index: Default::default(),
    };
    data.build_index();
    data
}

fn catalog(rng: &mut SeededRng) -> (Vec<Category>, Vec<Product>) {
    let mut categories = Vec::new();
    let mut products = Vec::new();
    for def in CATEGORIES {
        for &(item, euros) in def.items {
            let id = format!("p-{}", 2001 + products.len());
            let brand = *rng.pick(def.brands);
            // Brands price the same item differently: -10% .. +15%.
            let factor = 0.9 + rng.unit() * 0.25;
            let whole_euros = ((euros as f64 * factor).round() as u64).max(2);
            products.push(Product {
                name: format!("{brand} {item}"),
                brand: brand.to_owned(),
                category: def.id.to_owned(),
                description: format!("The {brand} {item}. {}", def.blurb),
                price_cents: whole_euros * 100 - 1,
                currency: "EUR".to_owned(),
                image_url: format!("https://img.demo-shop.example/products/{id}.jpg"),
                rating: None,
                review_count: 0,
                id,
            });
        }
        categories.push(Category {
            id: def.id.to_owned(),
            name: def.name.to_owned(),
            product_count: def.items.len(),
        });
    }
    (categories, products)
}

fn people(rng: &mut SeededRng) -> (Vec<User>, Vec<Preferences>) {
    let mut users = Vec::new();
    let mut preferences = Vec::new();
    for (i, &(first, last, email, city, country, locale)) in PEOPLE.iter().enumerate() {
        let id = format!("u-{}", 1001 + i);
        let member_since = DATA_NOW - rng.range(40, 7 * 365) * DAY;
        let tier = if rng.chance(0.3) { "plus" } else { "member" };
        let wanted = rng.range(1, 3) as usize;
        let mut favorite_categories: Vec<String> = Vec::new();
        while favorite_categories.len() < wanted {
            let category = rng.pick(CATEGORIES).id;
            if !favorite_categories.iter().any(|c| c == category) {
                favorite_categories.push(category.to_owned());
            }
        }
        preferences.push(Preferences {
            user_id: id.clone(),
            language: locale.split('-').next().unwrap_or(locale).to_owned(),
            currency: "EUR".to_owned(),
            favorite_categories,
            notifications: Notifications {
                email: rng.chance(0.8),
                push: rng.chance(0.6),
                sms: rng.chance(0.15),
            },
            newsletter: rng.chance(0.5),
        });
        users.push(User {
            name: format!("{first} {last}"),
            first_name: first.to_owned(),
            last_name: last.to_owned(),
            email: format!("{email}@example.com"),
            locale: locale.to_owned(),
            city: city.to_owned(),
            country: country.to_owned(),
            tier: tier.to_owned(),
            member_since: date(member_since),
            avatar_url: format!("https://img.demo-shop.example/avatars/{id}.png"),
            id,
        });
    }
    (users, preferences)
}

/// Reviews for every product; also fills in each product's rating.
fn reviews(rng: &mut SeededRng, products: &mut [Product], users: &[User]) -> Vec<Review> {
    let mut all = Vec::new();
    for product in products.iter_mut() {
        let quality = 3.0 + rng.unit() * 1.9;
        let count = if rng.chance(0.08) {
            0
        } else {
            rng.range(2, 14) as usize
        };
        let item = product.name[product.brand.len()..].trim().to_lowercase();
        let mut mine = Vec::with_capacity(count);
        for _ in 0..count {
            let noise = *rng.pick(&[-2.0, -1.0, -0.5, 0.0, 0.0, 0.5, 1.0]);
            let rating = (quality + noise).round().clamp(1.0, 5.0) as u8;
            let author = if rng.chance(0.5) {
                let user = rng.pick(users);
                let initial = user
                    .last_name
                    .split_whitespace()
                    .last()
                    .and_then(|w| w.chars().next())
                    .unwrap_or('X');
                format!("{} {initial}.", user.first_name)
            } else {
                (*rng.pick(REVIEWERS)).to_owned()
            };
            let created = DATA_NOW - rng.range(6 * HOUR, 420 * DAY);
            let sentences = review_sentences(rating);
            let first = rng.below(sentences.len() as u64) as usize;
            let second =
                (first + 1 + rng.below(sentences.len() as u64 - 1) as usize) % sentences.len();
            let weeks = rng.range(1, 30);
            mine.push(Review {
                id: format!("r-{}", 7001 + all.len() + mine.len()),
                product_id: product.id.clone(),
                author,
                rating,
                title: review_title(rating, rng.below(8) as usize).to_owned(),
                body: format!(
                    "I have been using the {item} for {weeks} weeks. {} {}",
                    sentences[first], sentences[second]
                ),
                created_at: rfc3339(created),
                verified_purchase: rng.chance(0.7),
            });
        }
        mine.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        if count > 0 {
            let sum: u32 = mine.iter().map(|r| u32::from(r.rating)).sum();
            product.rating = Some((f64::from(sum) / count as f64 * 10.0).round() / 10.0);
        }
        product.review_count = count;
        all.extend(mine);
    }
    all
}

fn orders(
    rng: &mut SeededRng,
    users: &[User],
    preferences: &[Preferences],
    products: &[Product],
) -> Vec<Order> {
    let mut orders = Vec::new();
    for (position, (user, prefs)) in users.iter().zip(preferences).enumerate() {
        // The last user signed up recently and has not ordered yet.
        let count = if position + 1 == users.len() {
            0
        } else {
            rng.range(1, 6)
        };
        let favorites: Vec<&Product> = products
            .iter()
            .filter(|p| prefs.favorite_categories.contains(&p.category))
            .collect();
        for n in 0..count {
            // Most customers' latest order is recent, so every stage of
            // delivery shows up: just placed, packed, on its way.
            let age = if n == 0 && rng.chance(0.6) {
                match rng.below(4) {
                    0 => rng.range(HOUR, 3 * HOUR),
                    1 => rng.range(6 * HOUR, 12 * HOUR),
                    _ => rng.range(DAY, 3 * DAY),
                }
            } else {
                rng.range(3 * DAY, 150 * DAY)
            };
            let created = DATA_NOW - age;
            let lines = *rng.pick(&[1, 1, 1, 2, 2, 3, 4]);
            let mut items: Vec<OrderItem> = Vec::new();
            while items.len() < lines {
                let product = if rng.chance(0.6) {
                    *rng.pick(&favorites)
                } else {
                    rng.pick(products)
                };
                if items.iter().any(|i| i.product_id == product.id) {
                    continue;
                }
                items.push(OrderItem {
                    product_id: product.id.clone(),
                    quantity: *rng.pick(&[1, 1, 1, 1, 2, 2, 3]),
                    unit_price_cents: product.price_cents,
                });
            }
            let warehouse = warehouse_for(&user.country);
            let (status, tracking) = tracking(rng, created, user, warehouse);
            orders.push((
                created,
                Order {
                    id: String::new(),
                    customer_id: user.id.clone(),
                    status,
                    total_cents: items
                        .iter()
                        .map(|i| i.unit_price_cents * u64::from(i.quantity))
                        .sum(),
                    items,
                    currency: "EUR".to_owned(),
                    created_at: rfc3339(created),
                    warehouse: WAREHOUSES[warehouse].0.to_owned(),
                    tracking,
                },
            ));
        }
    }
    orders.sort_by_key(|(created, _)| *created);
    orders
        .into_iter()
        .enumerate()
        .map(|(i, (_, mut order))| {
            order.id = format!("o-{}", 50001 + i);
            order
        })
        .collect()
}

/// The parcel's planned journey; the events up to [`DATA_NOW`] have happened.
fn tracking(
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

fn user_recommendations(
    rng: &mut SeededRng,
    users: &[User],
    preferences: &[Preferences],
    products: &[Product],
    orders: &[Order],
    categories: &[Category],
) -> HashMap<String, Vec<Recommendation>> {
    let category_name = |id: &str| {
        categories
            .iter()
            .find(|c| c.id == id)
            .map_or(id.to_owned(), |c| c.name.clone())
    };
    let mut by_user = HashMap::new();
    for (user, prefs) in users.iter().zip(preferences) {
        let mut bought = HashSet::new();
        // Newest purchase per category, to suggest companions for it.
        let mut latest_in_category: HashMap<&str, &str> = HashMap::new();
        for order in orders.iter().filter(|o| o.customer_id == user.id) {
            for item in &order.items {
                bought.insert(item.product_id.as_str());
                if let Some(p) = products.iter().find(|p| p.id == item.product_id) {
                    latest_in_category.insert(p.category.as_str(), p.name.as_str());
                }
            }
        }
        let mut scored: Vec<Recommendation> = Vec::new();
        for product in products.iter().filter(|p| !bought.contains(p.id.as_str())) {
            let mut score = 0.25 + product.rating.unwrap_or(3.5) / 5.0 * 0.25 + rng.unit() * 0.2;
            let reason = match latest_in_category.get(product.category.as_str()) {
                Some(name) if rng.chance(0.5) => {
                    score += 0.25;
                    format!("Goes well with your {name}")
                }
                _ if prefs.favorite_categories.contains(&product.category) => {
                    score += 0.2;
                    format!("Because you like {}", category_name(&product.category))
                }
                _ => format!("Popular in {}", category_name(&product.category)),
            };
            scored.push(Recommendation {
                product_id: product.id.clone(),
                reason,
                score: (score.min(0.99) * 1000.0).round() / 1000.0,
            });
        }
        by_user.insert(user.id.clone(), best(scored));
    }
    by_user
}

/// "Frequently bought together" from order history, topped up with
/// well-rated products of the same category.
fn product_recommendations(
    products: &[Product],
    orders: &[Order],
) -> HashMap<String, Vec<Recommendation>> {
    let mut together: HashMap<(&str, &str), u32> = HashMap::new();
    for order in orders {
        for a in &order.items {
            for b in order.items.iter().filter(|b| b.product_id != a.product_id) {
                *together
                    .entry((a.product_id.as_str(), b.product_id.as_str()))
                    .or_default() += 1;
            }
        }
    }
    let mut by_product = HashMap::new();
    for product in products {
        let mut scored: Vec<Recommendation> = Vec::new();
        for other in products.iter().filter(|o| o.id != product.id) {
            let bought_with = together
                .get(&(product.id.as_str(), other.id.as_str()))
                .copied()
                .unwrap_or(0);
            let candidate = if bought_with > 0 {
                Recommendation {
                    product_id: other.id.clone(),
                    reason: "Frequently bought together".to_owned(),
                    score: (0.6 + 0.1 * f64::from(bought_with)).min(0.95),
                }
            } else if other.category == product.category {
                Recommendation {
                    product_id: other.id.clone(),
                    reason: format!("Similar to {}", product.name),
                    score: 0.3 + other.rating.unwrap_or(3.0) / 5.0 * 0.3,
                }
            } else {
                continue;
            };
            scored.push(Recommendation {
                score: (candidate.score * 1000.0).round() / 1000.0,
                ..candidate
            });
        }
        by_product.insert(product.id.clone(), best(scored));
    }
    by_product
}

/// Highest score first (ties by id, for determinism), at most a dozen.
fn best(mut scored: Vec<Recommendation>) -> Vec<Recommendation> {
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.product_id.cmp(&b.product_id))
    });
    scored.truncate(RECOMMENDATIONS_KEPT);
    scored
}

fn inventory(rng: &mut SeededRng, products: &[Product]) -> Vec<InventoryRecord> {
    products
        .iter()
        .enumerate()
        .map(|(i, product)| {
            // Every eleventh product (from the eighth) is sold out everywhere.
            let sold_out = i % 11 == 7;
            let warehouses: Vec<StockLevel> = WAREHOUSES
                .iter()
                .map(|(id, _)| {
                    let available = if sold_out || rng.chance(0.15) {
                        0
                    } else {
                        rng.range(1, 80) as u32
                    };
                    let reserved = if available == 0 {
                        0
                    } else {
                        rng.range(0, i64::from(available.min(8))) as u32
                    };
                    StockLevel {
                        warehouse: (*id).to_owned(),
                        available,
                        reserved,
                    }
                })
                .collect();
            let available: u32 = warehouses.iter().map(|w| w.available).sum();
            InventoryRecord {
                sku: product.id.clone(),
                available,
                reserved: warehouses.iter().map(|w| w.reserved).sum(),
                in_stock: available > 0,
                restock_date: (available == 0).then(|| date(DATA_NOW + rng.range(3, 21) * DAY)),
                warehouses,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic() {
        let a = generate(42);
        let b = generate(42);
        let json = |d: &Dataset| {
            serde_json::to_string(&(&d.users, &d.products, &d.orders, &d.reviews, &d.inventory))
                .unwrap()
        };
        assert_eq!(json(&a), json(&b));
    }

    #[test]
    fn records_are_linked() {
        let data = Dataset::generate();
        assert_eq!(data.users.len(), 20);
        assert_eq!(data.products.len(), 60);
        assert_eq!(data.users[0].id, "u-1001");
        assert_eq!(data.products[0].id, "p-2001");
        for order in &data.orders {
            assert!(data.user(&order.customer_id).is_some());
            assert!(!order.items.is_empty());
            for item in &order.items {
                assert_eq!(
                    data.product(&item.product_id).unwrap().price_cents,
                    item.unit_price_cents
                );
            }
            assert!(!order.tracking.events.is_empty());
        }
        let statuses: HashSet<_> = data.orders.iter().map(|o| o.status).collect();
        assert_eq!(statuses.len(), 4, "every status occurs: {statuses:?}");
        for product in &data.products {
            let reviews = data.reviews_of(&product.id);
            assert_eq!(reviews.len(), product.review_count);
            assert!(data.stock(&product.id).is_some());
        }
        assert!(data.inventory.iter().any(|r| !r.in_stock));
        assert!(data.orders.iter().all(|o| o.customer_id != "u-1020"));
        for recs in data.recommendations_by_user.values() {
            assert!(recs.windows(2).all(|w| w[0].score >= w[1].score));
        }
    }
}
