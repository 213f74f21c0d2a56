//! Recommendations: per user (what they have not bought, leaning to their
//! favourite categories and companions of past purchases) and per product
//! (bought together, then similar).

use std::collections::{HashMap, HashSet};

use super::rng::SeededRng;
use super::{Category, Order, Preferences, Product, Recommendation, User};

/// How many recommendations are kept per user and per product.
const RECOMMENDATIONS_KEPT: usize = 12;

pub(super) fn user_recommendations(
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
pub(super) fn product_recommendations(
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
