"""The demo catalogue: 22 products in four categories, and two smoke-test products in an unlisted
"Test" category (out of the menu, "All products" and search; /?category=test lists them). Loading
it twice adds nothing."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from web.models import (
    categories,
    delivery_methods,
    product_zones,
    products,
    shipping_zones,
    variants,
    zone_countries,
)

# (slug, name, listed)
CATEGORIES = [
    ("apparel", "Apparel", True),
    ("home", "Home", True),
    ("kitchen", "Kitchen", True),
    ("stationery", "Stationery", True),
    ("test", "Test", False),
]


@dataclass(frozen=True)
class DemoProduct:
    slug: str
    name: str
    category: str
    description: str
    price: int
    variants: tuple[tuple[str, int], ...]  # (label, stock); one ("", n) for a product without options


SIZES = ("S", "M", "L", "XL")
PRODUCTS = [
    DemoProduct("test-1", "Test product 1", "test", "A plain product for smoke tests.", 500, (("", 50),)),
    DemoProduct("test-2", "Test product 2", "test", "Another plain product for smoke tests.", 750, (("", 50),)),
    DemoProduct(
        "linen-shirt",
        "Linen shirt",
        "apparel",
        "Breathable washed linen, relaxed fit.",
        5900,
        tuple(zip(SIZES, (4, 2, 7, 0), strict=True)),
    ),
    DemoProduct(
        "merino-sweater",
        "Merino sweater",
        "apparel",
        "Fine merino wool, crew neck.",
        8900,
        tuple(zip(SIZES, (3, 5, 5, 1), strict=True)),
    ),
    DemoProduct(
        "canvas-tote",
        "Canvas tote",
        "apparel",
        "Heavy cotton canvas with inner pocket.",
        2400,
        (("Natural", 25), ("Black", 12)),
    ),
    DemoProduct(
        "wool-socks",
        "Wool socks",
        "apparel",
        "Warm ribbed socks, pack of two.",
        1500,
        (("36-40", 30), ("41-46", 30)),
    ),
    DemoProduct(
        "rain-jacket",
        "Rain jacket",
        "apparel",
        "Waterproof shell with taped seams.",
        12900,
        tuple(zip(SIZES, (2, 3, 3, 2), strict=True)),
    ),
    DemoProduct("cotton-cap", "Cotton cap", "apparel", "Six-panel cap, adjustable strap.", 1900, (("", 1),)),
    DemoProduct("silk-scarf", "Silk scarf", "apparel", "Hand-rolled edges, printed silk twill.", 6500, (("", 0),)),
    DemoProduct(
        "ceramic-vase",
        "Ceramic vase",
        "home",
        "Stoneware vase with a matte glaze.",
        3900,
        (("Small", 6), ("Large", 3)),
    ),
    DemoProduct(
        "wool-throw",
        "Wool throw",
        "home",
        "A soft throw for the sofa, 130 × 170 cm.",
        9900,
        (("Grey", 4), ("Ochre", 2)),
    ),
    DemoProduct("scented-candle", "Scented candle", "home", "Soy wax, cedar and fig, 40 hours.", 2200, (("", 40),)),
    DemoProduct(
        "linen-cushion",
        "Linen cushion",
        "home",
        "Linen cover with a feather insert.",
        3500,
        (("Sand", 9), ("Sage", 0), ("Rust", 5)),
    ),
    DemoProduct("wall-clock", "Wall clock", "home", "Silent sweep movement, oak frame.", 4900, (("", 8),)),
    DemoProduct("table-lamp", "Table lamp", "home", "Brass lamp with a linen shade.", 11900, (("", 3),)),
    DemoProduct("chef-knife", "Chef's knife", "kitchen", "20 cm blade, forged steel.", 8900, (("", 10),)),
    DemoProduct("espresso-cups", "Espresso cups", "kitchen", "Set of four porcelain cups.", 2900, (("", 20),)),
    DemoProduct(
        "cast-iron-pan", "Cast iron pan", "kitchen", "Pre-seasoned, 26 cm.", 5400, (("24 cm", 5), ("28 cm", 4))
    ),
    DemoProduct(
        "olive-board", "Olive wood board", "kitchen", "A board cut from one piece of olive wood.", 3900, (("", 7),)
    ),
    DemoProduct("tea-tin", "Tea tin", "kitchen", "Airtight tin for loose tea.", 1400, (("", 60),)),
    DemoProduct(
        "linen-apron",
        "Linen apron",
        "kitchen",
        "Cross-back apron with two pockets.",
        3200,
        (("Blue", 10), ("Natural", 10)),
    ),
    DemoProduct(
        "dot-notebook",
        "Dot grid notebook",
        "stationery",
        "A5, 192 pages, lay-flat binding.",
        1800,
        (("A5", 40), ("A6", 25)),
    ),
    DemoProduct(
        "fountain-pen",
        "Fountain pen",
        "stationery",
        "Steel nib, converter included.",
        4500,
        (("Fine", 6), ("Medium", 6)),
    ),
    DemoProduct("desk-tray", "Desk tray", "stationery", "Powder-coated steel tray.", 2600, (("", 12),)),
]


def image_path(slug: str) -> str:
    return f"img/products/{slug}.svg"


@dataclass(frozen=True)
class DemoMethod:
    code: str
    name: str
    price: int
    days: tuple[int, int]  # working days, fewest and most
    pickup: bool = False


@dataclass(frozen=True)
class DemoZone:
    code: str
    name: str
    free_over: int | None
    countries: tuple[tuple[str, str], ...]  # (ISO 3166 code, name)
    methods: tuple[DemoMethod, ...]


# Where the shop delivers. Antarctica (AQ), among others, is in no zone: not served.
ZONES = [
    DemoZone(
        "home",
        "Germany",
        5000,
        (("DE", "Germany"),),
        (
            DemoMethod("standard", "Standard delivery", 490, (1, 2)),
            DemoMethod("express", "Express delivery", 990, (1, 1)),
            DemoMethod("pickup", "Pick up at our Berlin shop", 0, (0, 1), pickup=True),
        ),
    ),
    DemoZone(
        "eu",
        "European Union",
        10000,
        (
            ("AT", "Austria"),
            ("BE", "Belgium"),
            ("ES", "Spain"),
            ("FR", "France"),
            ("IT", "Italy"),
            ("NL", "Netherlands"),
        ),
        (
            DemoMethod("standard", "Standard delivery", 990, (3, 5)),
            DemoMethod("express", "Express delivery", 1990, (1, 2)),
        ),
    ),
    DemoZone(
        "world",
        "Rest of the world",
        None,
        (("CA", "Canada"), ("CH", "Switzerland"), ("GB", "United Kingdom"), ("JP", "Japan"), ("US", "United States")),
        (
            DemoMethod("standard", "Standard delivery", 2490, (5, 10)),
            DemoMethod("express", "Express delivery", 4490, (2, 4)),
        ),
    ),
]
# Products that may go to some zones only: (product slug, zone codes).
RESTRICTED = [("chef-knife", ("home",))]


def load_zones(conn: Connection) -> None:
    """Insert the delivery zones, their countries and methods, and the products' zone limits, where missing."""
    zone_ids = dict(conn.execute(select(shipping_zones.c.code, shipping_zones.c.id)).all())
    for zone in ZONES:
        if zone.code in zone_ids:
            continue
        zone_id = zone_ids[zone.code] = conn.execute(
            shipping_zones.insert()
            .values(code=zone.code, name=zone.name, free_over_cents=zone.free_over)
            .returning(shipping_zones.c.id)
        ).scalar_one()
        for country, name in zone.countries:
            conn.execute(zone_countries.insert().values(country=country, zone_id=zone_id, name=name))
        for position, method in enumerate(zone.methods):
            conn.execute(
                delivery_methods.insert().values(
                    zone_id=zone_id,
                    code=method.code,
                    name=method.name,
                    price_cents=method.price,
                    days_min=method.days[0],
                    days_max=method.days[1],
                    pickup=method.pickup,
                    position=position,
                )
            )
    limited = set(conn.execute(select(product_zones.c.product_id)).scalars())
    for slug, zones in RESTRICTED:
        product_id = conn.execute(select(products.c.id).where(products.c.slug == slug)).scalar()
        if product_id is not None and product_id not in limited:
            for code in zones:
                conn.execute(product_zones.insert().values(product_id=product_id, zone_id=zone_ids[code]))


def load(conn: Connection) -> int:
    """Insert what is missing of the demo catalogue; returns how many products were added."""
    category_ids = dict(conn.execute(select(categories.c.slug, categories.c.id)).all())
    for position, (slug, name, listed) in enumerate(CATEGORIES):
        if slug not in category_ids:
            category_ids[slug] = conn.execute(
                categories.insert()
                .values(slug=slug, name=name, position=position, listed=listed)
                .returning(categories.c.id)
            ).scalar_one()
    existing = set(conn.execute(select(products.c.slug)).scalars())
    added = 0
    for position, product in enumerate(PRODUCTS):
        if product.slug in existing:
            continue
        product_id = conn.execute(
            products.insert()
            .values(
                slug=product.slug,
                name=product.name,
                description=product.description,
                category_id=category_ids[product.category],
                image=image_path(product.slug),
                active=True,
                position=position,
            )
            .returning(products.c.id)
        ).scalar_one()
        for index, (label, stock) in enumerate(product.variants):
            sku = f"{product.slug}-{label.lower().replace(' ', '')}" if label else product.slug
            conn.execute(
                variants.insert().values(
                    product_id=product_id, sku=sku, label=label, price_cents=product.price, stock=stock, position=index
                )
            )
        added += 1
    load_zones(conn)
    return added
