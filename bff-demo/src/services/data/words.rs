//! The vocabulary the generator combines into believable records.

/// A catalog category and the things sold in it.
pub(super) struct CategoryDef {
    pub(super) id: &'static str,
    pub(super) name: &'static str,
    pub(super) brands: &'static [&'static str],
    /// (item, list price in whole euros)
    pub(super) items: &'static [(&'static str, u64)],
    pub(super) blurb: &'static str,
}

pub(super) const CATEGORIES: &[CategoryDef] = &[
    CategoryDef {
        id: "audio",
        name: "Audio",
        brands: &["Sonora", "Auralis", "Bassline"],
        items: &[
            ("Wireless Headphones", 149),
            ("Noise-Cancelling Earbuds", 129),
            ("Bluetooth Speaker", 79),
            ("Soundbar", 249),
            ("Turntable", 299),
            ("Studio Monitor", 189),
            ("Portable Radio", 59),
            ("Over-Ear Headphones", 99),
            ("Smart Speaker", 119),
            ("DAC Amplifier", 169),
        ],
        blurb: "Clear, balanced sound with long battery life and simple pairing.",
    },
    CategoryDef {
        id: "computing",
        name: "Computing",
        brands: &["Lumen", "Vertex", "Keystone"],
        items: &[
            ("14\" Ultrabook", 1_099),
            ("Mechanical Keyboard", 119),
            ("Wireless Mouse", 49),
            ("27\" 4K Monitor", 399),
            ("USB-C Dock", 149),
            ("1080p Webcam", 69),
            ("External SSD 1TB", 109),
            ("Laptop Stand", 45),
            ("Graphics Tablet", 89),
            ("Mesh Wi-Fi Router", 199),
        ],
        blurb: "Built for long working days: quiet, fast and made to last.",
    },
    CategoryDef {
        id: "phones",
        name: "Phones & Wearables",
        brands: &["Orbit", "Pulse"],
        items: &[
            ("Smartphone 6.1\"", 699),
            ("Smartphone Pro 6.7\"", 1_049),
            ("Smartwatch", 279),
            ("Fitness Band", 59),
            ("Wireless Charger", 35),
            ("Phone Case", 25),
            ("Power Bank 20000mAh", 49),
            ("USB-C Cable 2m", 15),
            ("Screen Protector", 19),
            ("Tracker Tag", 29),
        ],
        blurb: "Everyday tech that keeps up with you, with two years of warranty.",
    },
    CategoryDef {
        id: "kitchen",
        name: "Kitchen",
        brands: &["Ferro", "Casa Verde", "Brava"],
        items: &[
            ("Espresso Machine", 449),
            ("Burr Coffee Grinder", 139),
            ("Chef's Knife 20cm", 89),
            ("Cast Iron Skillet 28cm", 59),
            ("Electric Kettle", 49),
            ("Stand Mixer", 379),
            ("High-Speed Blender", 159),
            ("Oak Cutting Board", 39),
            ("Air Fryer", 129),
            ("Two-Slice Toaster", 45),
        ],
        blurb: "Sturdy, easy to clean and designed by people who cook every day.",
    },
    CategoryDef {
        id: "outdoor",
        name: "Outdoor",
        brands: &["Fjellpeak", "Trailhead"],
        items: &[
            ("Hiking Backpack 30L", 119),
            ("Two-Person Tent", 229),
            ("Down Sleeping Bag", 189),
            ("Trail Running Shoes", 139),
            ("Rechargeable Headlamp", 39),
            ("Insulated Bottle 750ml", 29),
            ("Waterproof Rain Jacket", 169),
            ("Camping Stove", 59),
            ("Carbon Trekking Poles", 89),
            ("Travel Hammock", 49),
        ],
        blurb: "Light, weatherproof gear that is happy on a long trail.",
    },
    CategoryDef {
        id: "home",
        name: "Home",
        brands: &["Nook", "Linnea"],
        items: &[
            ("LED Desk Lamp", 69),
            ("Linen Duvet Cover", 119),
            ("Wool Throw", 79),
            ("Ceramic Vase", 35),
            ("Scented Candle", 22),
            ("Wall Clock", 49),
            ("Bath Towel Set", 59),
            ("Indoor Plant Pot", 29),
            ("Robot Vacuum", 349),
            ("Air Purifier", 199),
        ],
        blurb: "Calm, natural materials that make a flat feel like home.",
    },
];

/// (first name, last name, e-mail local part, city, country code, locale)
pub(super) const PEOPLE: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("Anna", "Keller", "anna.keller", "Berlin", "DE", "de-DE"),
    (
        "Liam",
        "de Vries",
        "liam.devries",
        "Amsterdam",
        "NL",
        "nl-NL",
    ),
    ("Sofia", "Rossi", "sofia.rossi", "Milan", "IT", "it-IT"),
    ("Noah", "Müller", "noah.mueller", "Munich", "DE", "de-DE"),
    ("Emma", "Janssen", "emma.janssen", "Utrecht", "NL", "nl-NL"),
    ("Lucas", "Martin", "lucas.martin", "Lyon", "FR", "fr-FR"),
    ("Mia", "Schmidt", "mia.schmidt", "Hamburg", "DE", "de-DE"),
    ("Oliver", "Byrne", "oliver.byrne", "Dublin", "IE", "en-IE"),
    ("Chloé", "Laurent", "chloe.laurent", "Paris", "FR", "fr-FR"),
    ("Finn", "Peeters", "finn.peeters", "Antwerp", "BE", "nl-BE"),
    ("Lena", "Huber", "lena.huber", "Vienna", "AT", "de-AT"),
    ("Mateo", "García", "mateo.garcia", "Madrid", "ES", "es-ES"),
    ("Hannah", "Weber", "hannah.weber", "Cologne", "DE", "de-DE"),
    (
        "Jonas",
        "Bakker",
        "jonas.bakker",
        "Rotterdam",
        "NL",
        "nl-NL",
    ),
    ("Inês", "Costa", "ines.costa", "Lisbon", "PT", "pt-PT"),
    ("Aarav", "Shah", "aarav.shah", "Amsterdam", "NL", "en-GB"),
    ("Zoe", "Fischer", "zoe.fischer", "Frankfurt", "DE", "de-DE"),
    (
        "Samuel",
        "Okafor",
        "samuel.okafor",
        "Brussels",
        "BE",
        "fr-BE",
    ),
    (
        "Giulia",
        "Bianchi",
        "giulia.bianchi",
        "Turin",
        "IT",
        "it-IT",
    ),
    (
        "Daniel",
        "Virtanen",
        "daniel.virtanen",
        "Helsinki",
        "FI",
        "fi-FI",
    ),
];

/// Reviewers who are not (or not known to be) demo users.
pub(super) const REVIEWERS: &[&str] = &[
    "Marco P.",
    "Sarah L.",
    "Tom H.",
    "Yuki T.",
    "Priya N.",
    "Lars E.",
    "Eva S.",
    "Ben W.",
    "Nina R.",
    "Omar A.",
    "Julia M.",
    "Pieter V.",
];

/// (id, city shown in tracking events)
pub(super) const WAREHOUSES: &[(&str, &str)] = &[
    ("ams-1", "Amsterdam, NL"),
    ("fra-1", "Frankfurt am Main, DE"),
    ("mad-1", "Madrid, ES"),
];

/// The warehouse that ships to a country.
pub(super) fn warehouse_for(country: &str) -> usize {
    match country {
        "NL" | "BE" | "IE" => 0,
        "DE" | "AT" | "FI" => 1,
        _ => 2,
    }
}

/// Sorting hubs orders pass through, by shipping warehouse.
pub(super) const HUBS: &[&[&str]] = &[
    &["Utrecht, NL", "Eindhoven, NL", "Brussels, BE"],
    &["Cologne, DE", "Leipzig, DE", "Hanover, DE"],
    &["Zaragoza, ES", "Valencia, ES", "Barcelona, ES"],
];

pub(super) const CARRIERS: &[&str] = &["DHL", "PostNL", "DPD", "UPS"];

pub(super) fn review_title(rating: u8, pick: usize) -> &'static str {
    let titles: &[&str] = match rating {
        5 => &[
            "Absolutely love it",
            "Exceeded my expectations",
            "Best purchase this year",
            "Five stars, no regrets",
        ],
        4 => &[
            "Very good, minor quibbles",
            "Solid choice",
            "Great value for money",
            "Does exactly what I wanted",
        ],
        3 => &["Does the job", "Okay, not amazing", "Mixed feelings"],
        2 => &["Disappointing", "Expected more for the price"],
        _ => &["Stopped working after a week", "Would not buy again"],
    };
    titles[pick % titles.len()]
}

pub(super) fn review_sentences(rating: u8) -> &'static [&'static str] {
    match rating {
        4 | 5 => &[
            "Setup took five minutes and it has worked flawlessly since.",
            "Build quality is excellent and it feels like it will last.",
            "Worth every cent, I would buy it again.",
            "Arrived well packed and a day earlier than promised.",
            "Looks even better in person than in the photos.",
        ],
        3 => &[
            "It does what it says, nothing more.",
            "Decent for the price, but the manual is confusing.",
            "Good overall, though it is bulkier than the photos suggest.",
        ],
        _ => &[
            "It stopped working after a couple of weeks.",
            "Quality feels cheap for what it costs.",
            "Customer service was slow to reply about a replacement.",
        ],
    }
}
