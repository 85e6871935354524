"""RMIS, the canonical retail-media schema, defined in code and versioned (`rmis.ad_event` v1, v2)."""

from __future__ import annotations

from dataclasses import dataclass, field

# RMIS field type → the DuckDB type a harmonized column is cast to.
DUCKDB_TYPES = {
    "timestamp": "TIMESTAMPTZ",
    "date": "DATE",
    "string": "VARCHAR",
    "enum": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
}

PLACEMENT_TYPES = (
    "sponsored_product",
    "sponsored_brand",
    "sponsored_display",
    "onsite_display",
    "offsite_display",
    "in_store",
)
CHANNELS = ("onsite", "offsite", "in_store")


@dataclass(frozen=True)
class RmisField:
    name: str
    type: str
    required: bool = False
    description: str = ""
    allowed: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.type]

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "description": self.description,
            "allowed": list(self.allowed),
            "minimum": self.minimum,
            "maximum": self.maximum,
        }


@dataclass(frozen=True)
class RmisSchema:
    name: str
    version: int
    description: str
    fields: tuple[RmisField, ...]
    changes: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        return f"{self.name}@v{self.version}"

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def required_fields(self) -> list[str]:
        return [f.name for f in self.fields if f.required]

    def field(self, name: str) -> RmisField | None:
        return next((f for f in self.fields if f.name == name), None)


class UnknownSchema(KeyError):
    """No RMIS schema with that name and version."""


def _count(name: str, description: str, required: bool = False) -> RmisField:
    return RmisField(name, "int", required, description, minimum=0)


def _money(name: str, description: str, required: bool = False) -> RmisField:
    return RmisField(name, "float", required, description, minimum=0)


_V1_FIELDS = (
    RmisField("ts", "timestamp", True, "Event time in UTC.", minimum=None),
    RmisField("date", "date", False, "Event date (UTC)."),
    RmisField("retailer", "string", True, "Retailer or banner id, lower case (e.g. alpha_us)."),
    RmisField("campaign_id", "string", True, "The retailer's campaign id."),
    RmisField("ad_group_id", "string", False, "Ad group / line item id."),
    RmisField("placement_type", "enum", True, "Where the ad ran.", allowed=PLACEMENT_TYPES),
    RmisField("channel", "enum", False, "Onsite, offsite or in store.", allowed=CHANNELS),
    RmisField("sku", "string", False, "The retailer's SKU / item id."),
    RmisField("gtin", "string", False, "GTIN-8/12/13/14 of the advertised product."),
    _count("impressions", "Ad impressions served.", True),
    _count("clicks", "Ad clicks.", True),
    _money("cost", "Spend in currency units (not micros, not cents).", True),
    RmisField("currency", "string", True, "ISO 4217 code of cost and sales (USD, EUR …)."),
    _count("conversions", "Attributed orders/conversions within the attribution window."),
    _money("attributed_sales", "Attributed sales in currency units."),
    _count("attributed_units", "Attributed units sold."),
    RmisField(
        "attribution_window_days",
        "int",
        False,
        "Attribution window of the outcome columns; kept with the numbers, never mixed.",
        minimum=1,
        maximum=90,
    ),
)

_V2_EXTRA = (
    _count("viewable_impressions", "MRC-viewable impressions."),
    RmisField(
        "attribution_type", "enum", False, "Same-SKU or halo attribution.", allowed=("same_sku", "halo")
    ),
    _money("new_to_brand_sales", "Sales to customers new to the brand in the lookback."),
    RmisField("brand", "string", False, "Brand of the advertised product."),
    RmisField("category", "string", False, "Category of the advertised product."),
)

SCHEMAS: dict[tuple[str, int], RmisSchema] = {
    ("rmis.ad_event", 1): RmisSchema(
        "rmis.ad_event",
        1,
        "One ad event or event aggregate: delivery and outcomes for a campaign, placement and SKU.",
        _V1_FIELDS,
        ("First version: dimensions, delivery and outcome fields of the IAB/MRC metric families.",),
    ),
    ("rmis.ad_event", 2): RmisSchema(
        "rmis.ad_event",
        2,
        "v1 plus viewability, attribution type, new-to-brand sales and product attributes.",
        _V1_FIELDS + _V2_EXTRA,
        (
            "Adds viewable_impressions, attribution_type, new_to_brand_sales, brand and category.",
            "All v1 fields keep their names, types and required flags.",
        ),
    ),
}

DEFAULT_SCHEMA = ("rmis.ad_event", 1)

# Plausible medians of ratios between mapped fields. Ratios do not change between one event and a daily aggregate,
# so they catch unit slips a per-field range cannot: cost left in micros (÷1000 instead of ÷1,000,000) makes the
# median CPC 1000× too high. (name, numerator, denominator, multiplier, low, high, unit)
PLAUSIBLE_RATIOS = (
    ("CPC", "cost", "clicks", 1.0, 0.005, 200.0, "currency units per click"),
    ("CPM", "cost", "impressions", 1000.0, 0.01, 500.0, "currency units per 1000 impressions"),
    ("ROAS", "attributed_sales", "cost", 1.0, 0.01, 1000.0, "sales per unit of cost"),
)

# Derived metrics are computed from stored fields and never mapped from raw reports.
DERIVED_METRICS = {
    "ctr": "clicks / impressions",
    "cpc": "cost / clicks",
    "cpm": "1000 × cost / impressions",
    "roas": "attributed_sales / cost",
}


def get_schema(name: str, version: int) -> RmisSchema:
    try:
        return SCHEMAS[(name, int(version))]
    except (KeyError, TypeError, ValueError):
        raise UnknownSchema(f"unknown RMIS schema {name!r} v{version}") from None


def all_schemas() -> list[RmisSchema]:
    return [SCHEMAS[key] for key in sorted(SCHEMAS)]


def schema_choices() -> list[tuple[str, str]]:
    """(value, label) pairs for forms: value is 'name@version'."""
    return [(f"{s.name}@{s.version}", f"{s.name} v{s.version}") for s in all_schemas()]


def parse_schema_key(key: str) -> tuple[str, int]:
    name, _, version = str(key).partition("@")
    try:
        get_schema(name, int(version.lstrip("v")))
    except ValueError:
        raise UnknownSchema(f"unknown RMIS schema {key!r}") from None
    return name, int(version.lstrip("v"))
