//! Builds the [`Dataset`] from a seed. The order of generation is part of
//! the contract: changing it changes every record after it.

use super::clock::{DATA_NOW, DAY, HOUR, date, rfc3339};
use super::rng::SeededRng;
use super::shipping::tracking;
use super::suggest::{product_recommendations, user_recommendations};
use super::words::{
    CATEGORIES, PEOPLE, REVIEWERS, WAREHOUSES, review_sentences, review_title, warehouse_for,
};
use super::{
    Category, Dataset, InventoryRecord, Notifications, Order, OrderItem, Preferences, Product,
    Review, StockLevel, User,
};

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
        let statuses: std::collections::HashSet<_> = data.orders.iter().map(|o| o.status).collect();
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
