"""What /api accepts and answers, as msgspec Structs: the one description that decoding, its checks
and messages, and the published OpenAPI document (GET /api/openapi.json) all come from.

A body is decoded strictly (a "2" is not a number, 2.0 is not a whole one, true is not 1) and a
refusal names its field; the shop's rules beyond a field's type and bounds (a product that exists,
a method of the zone) stay in the services. Answers are built as plain dicts by the routes: the
structs below describe them, and the schema fuzz test (tests/test_api_schema.py) checks every
answer it provokes against its description, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from web.forms import MAX_ID
from web.orders.service import TRANSITIONS
from web.problems import InvalidInput
from web.staff.catalog import MAX_PRICE_CENTS, MAX_STOCK, MAX_VERSION

Id = Annotated[int, Meta(ge=1, le=MAX_ID)]
Cents = Annotated[int, Meta(ge=0, description="An amount in cents of the shop's currency.")]
UnixSeconds = Annotated[int, Meta(description="A moment, in seconds since 1970 (UTC).")]
ERROR_CODES = (
    "INVALID_BODY",
    "BAD_REQUEST",
    "LOGIN_REQUIRED",
    "INVALID_CREDENTIALS",
    "FORBIDDEN",
    "CSRF_FAILED",
    "STAFF_ONLY",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "CONFLICT",
    "EDIT_CONFLICT",
    "NOT_DELIVERABLE",
    "UNSUPPORTED_MEDIA_TYPE",
    "TOO_MANY_ATTEMPTS",
)


class Shape(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=False):
    """A JSON object of /api, its field names in camelCase."""


# Bodies


class CartAdd(Shape):
    """Put a product in the cart (added to what is there, clamped to the stock and the per-line maximum)."""

    product_id: Annotated[str, Meta(min_length=1, max_length=80, description="The product's id, such as `test-1`.")]
    qty: Annotated[int, Meta(ge=1, description="How many to add: 1 to the shop's per-line maximum (99 unless set).")]
    variant_id: Annotated[Id | None, Meta(description="Which of the product's variants; its first when left out.")] = (
        None
    )


class Login(Shape):
    email: Annotated[str, Meta(description="The account's email address.")]
    password: Annotated[str, Meta(min_length=1, description="The account's password (at most 1,024 characters).")]


class Place(Shape):
    """Where to deliver: the country decides the zone, its methods and what can go there."""

    country: Annotated[str, Meta(description="A two-letter country code the shop delivers to, such as `DE`.")]
    postcode: Annotated[str, Meta(description="The postcode, as that country writes it.")]


class Address(Shape):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postcode: str | None = None
    country: Annotated[str | None, Meta(description="A two-letter country code the shop delivers to.")] = None


class Checkout(Shape):
    """Place the cart as an order. Send an `Idempotency-Key` header (8 to 200 printable characters):
    the same key again answers the same order (200) instead of placing another."""

    address: Annotated[Address, Meta(description="an object with line1, city, postcode and country")]
    delivery_method: Annotated[str, Meta(description="One of the zone's methods, such as `standard`.")]
    email: str | None = None
    name: Annotated[str | None, Meta(description="Who receives the parcel.")] = None


class MessageText(Shape):
    text: Annotated[str, Meta(description="The message, 1 to 2,000 characters once trimmed.")]


class StatusChange(Shape):
    status: Annotated[str, Meta(description="The state to move the order to, such as `packed`.")]


class VariantEdit(Shape, forbid_unknown_fields=True):
    """Set a variant's price and/or stock. `version` is the one last read: a variant changed since
    answers 409 EDIT_CONFLICT with what it holds now. With `stockSeen` (the stock last read) a new
    stock is saved only if the variant still holds that much; without it `stock` is set as given."""

    version: Annotated[int, Meta(ge=1, le=MAX_VERSION)]
    price: Annotated[int, Meta(ge=0, le=MAX_PRICE_CENTS, description="In cents.")] | None = None
    stock: Annotated[int, Meta(ge=0, le=MAX_STOCK, description="Units on hand, never below zero.")] | None = None
    stock_seen: Annotated[int, Meta(ge=0, le=MAX_STOCK, description="The stock last read.")] | None = None


# Answers


class Error(Shape):
    """Every refusal and failure of /api."""

    error: Annotated[str, Meta(description="A stable code: " + ", ".join(ERROR_CODES) + ", UNAVAILABLE…")]
    message: Annotated[str, Meta(description="What went wrong, for a person to read.")]
    field: Annotated[str | None, Meta(description="The body field, header or parameter at fault.")] = None
    error_id: Annotated[str | None, Meta(description="Names the failure in the shop's log (5xx only).")] = None


class Item(Shape):
    product_id: str
    variant_id: int
    title: str
    qty: int
    unit_price: Cents
    line_total: Cents


class CartLine(Item):
    id: Annotated[int, Meta(description="The line's id, for DELETE /api/cart/items/{line_id}.")]


class CartTotals(Shape):
    count: int
    subtotal: Cents
    currency: str


class Cart(Shape):
    items: list[CartLine]
    totals: CartTotals
    notices: Annotated[list[str], Meta(description="What changed since the cart was last read (stock fell, say).")]


class CartChange(Cart):
    message: str


class Payment(Shape):
    method: str
    status: str


class OrderAddress(Shape):
    name: str
    line1: str
    line2: str
    city: str
    postcode: str
    country: str


class Delivery(Shape):
    method: str
    name: str
    expected_by: Annotated[str, Meta(description="The latest expected delivery date, YYYY-MM-DD.")]


class OrderTotals(Shape):
    subtotal: Cents
    delivery: Cents
    total: Cents
    currency: str


class Event(Shape):
    id: int
    from_: str | None = msgspec.field(name="from")
    to: str
    at: UnixSeconds


class Order(Shape):
    number: str
    status: str
    payment: Payment
    placed_at: UnixSeconds
    email: str
    address: OrderAddress
    delivery: Delivery
    items: list[Item]
    totals: OrderTotals
    history: list[Event]


class OneOrder(Shape):
    order: Order


class Orders(Shape):
    orders: list[Order]
    page: int
    pages: int


class StaffOrders(Orders):
    total: int


class Message(Shape):
    id: int
    author: Literal["shopper", "staff"]
    author_name: str | None
    text: str
    at: UnixSeconds


class OneMessage(Shape):
    message: Message


class Messages(Shape):
    messages: list[Message]


class Method(Shape):
    id: str
    name: str
    price: Cents
    days: Annotated[list[int], Meta(min_length=2, max_length=2, description="Fewest and most working days.")]


class Locality(Shape):
    country: str
    postcode: str


class DeliverTo(Shape):
    locality: Locality | None
    zone: str | None
    methods: list[Method]
    undeliverable: Annotated[list[int], Meta(description="Ids of the cart lines that cannot go there.")]


class User(Shape):
    id: int
    email: str


class Merge(Shape):
    added: int
    failed: bool
    message: str | None


class LoggedIn(Shape):
    user: User
    merge: Annotated[Merge, Meta(description="What the login did with the guest cart.")]


class Me(Shape):
    user: User | None


class Variant(Shape):
    id: int
    product_id: str
    sku: str
    label: str
    price: Cents
    stock: int
    version: int


class OneVariant(Shape):
    variant: Variant


# Decoding


def decode(body: dict[str, Any], shape: type[msgspec.Struct]) -> Any:
    """`body` (a JSON object, already checked for depth and storable text) as `shape`, or
    InvalidInput naming the field and what it must be."""
    try:
        return msgspec.convert(body, shape, strict=True)
    except msgspec.ValidationError as error:
        raise refusal(shape, str(error)) from None


UNKNOWN = re.compile(r"Object contains unknown field `(?P<name>[^`]*)`")
MISSING = re.compile(r"Object missing required field `(?P<name>[^`]*)`")
AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def refusal(shape: type[msgspec.Struct], error: str) -> InvalidInput:
    """msgspec's account of a refused body, as the shop words it: the field (by its JSON name, the
    innermost one of a path such as `$.address.city`) and what that field must be."""
    path = AT.search(error)
    names = [part for part in re.split(r"[.\[\]]", path["path"]) if part and not part.isdigit()] if path else []
    if found := UNKNOWN.match(error):
        known = ", ".join(field.encode_name for field in fields(struct_at(shape, names)))
        name = found["name"]
        return InvalidInput(f"Unknown field “{name}”: send {known}.", field=name)
    if found := MISSING.match(error):
        names.append(found["name"])
    if not names:
        return InvalidInput("The body must be a JSON object.")
    field = next(
        (field for field in fields(struct_at(shape, names[:-1])) if field.encode_name == names[-1]),
        None,
    )
    wanted = expected(field.type) if field is not None else "as described in /api/openapi.json"
    return InvalidInput(f"{names[-1]} must be {wanted}.", field=names[-1])


def fields(shape: type[msgspec.Struct] | None) -> tuple[msgspec.inspect.Field, ...]:
    if shape is None:
        return ()
    info = msgspec.inspect.type_info(shape)
    assert isinstance(info, msgspec.inspect.StructType)
    return info.fields


def struct_at(shape: type[msgspec.Struct], names: list[str]) -> type[msgspec.Struct] | None:
    """The struct a path of field names leads to inside `shape` (None past a non-struct)."""
    current: type[msgspec.Struct] | None = shape
    for name in names:
        field = next((field for field in fields(current) if field.encode_name == name), None)
        found = struct_in(field.type) if field is not None else None
        if found is None:
            return None
        current = found
    return current


def struct_in(kind: msgspec.inspect.Type) -> type[msgspec.Struct] | None:
    kind = bare(kind)
    if isinstance(kind, msgspec.inspect.StructType):
        return kind.cls
    return None


def bare(kind: msgspec.inspect.Type) -> msgspec.inspect.Type:
    """A field's type without its documentation wrapper, and without `| None`."""
    while isinstance(kind, msgspec.inspect.Metadata):
        kind = kind.type
    if isinstance(kind, msgspec.inspect.UnionType):
        others = [bare(item) for item in kind.types if not isinstance(item, msgspec.inspect.NoneType)]
        if len(others) == 1:
            return others[0]
    return kind


def expected(kind: msgspec.inspect.Type) -> str:
    """What a value of this type must be, in words: the first half of a field's refusal."""
    optional = isinstance(kind, msgspec.inspect.UnionType) or (
        isinstance(kind, msgspec.inspect.Metadata) and isinstance(kind.type, msgspec.inspect.UnionType)
    )
    described = kind.extra_json_schema or {} if isinstance(kind, msgspec.inspect.Metadata) else {}
    kind = bare(kind)
    if isinstance(kind, msgspec.inspect.IntType):
        low = kind.ge if kind.ge is not None else None
        if low == 0 and kind.le is not None:
            words = f"a whole number, not below zero, of at most {kind.le:,}"
        elif low is not None and kind.le is not None:
            words = f"a whole number from {low:,} to {kind.le:,}"
        elif low is not None:
            words = f"a whole number of at least {low:,}"
        else:
            words = "a whole number"
    elif isinstance(kind, msgspec.inspect.StrType):
        if kind.max_length is not None:
            words = f"a string of {kind.min_length or 0} to {kind.max_length:,} characters"
        elif kind.min_length:
            words = "a non-empty string"
        else:
            words = "a string"
    elif isinstance(kind, msgspec.inspect.StructType):
        words = str(described.get("description") or "an object")
    else:
        words = "as described in /api/openapi.json"
    return f"{words} (or left out)" if optional and not isinstance(kind, msgspec.inspect.StructType) else words


# Query parameters and headers, as the OpenAPI document gives them

PAGE = {"description": "Which page, from 1.", "schema": {"type": "integer", "minimum": 1, "maximum": 10_000}}
ORDER_QUERY = {"page": PAGE}
DAY = {"type": "string", "format": "date", "description": "YYYY-MM-DD"}
STAFF_ORDER_QUERY = {
    "status": {"description": "Only orders in this state.", "schema": {"enum": list(TRANSITIONS)}},
    "since": {"description": "Placed on this day (UTC) or later.", "schema": DAY},
    "until": {"description": "Placed on this day (UTC) or earlier.", "schema": DAY},
    "q": {"description": "Part of the number, email or name.", "schema": {"type": "string", "maxLength": 254}},
    "page": PAGE,
}
IDEMPOTENCY = {
    "Idempotency-Key": {
        "required": True,
        "description": "8 to 200 printable characters, new for each order: sent again, nothing is placed twice.",
        "schema": {"type": "string", "minLength": 8, "maxLength": 200},
    }
}
