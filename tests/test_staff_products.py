"""The back office's products: price and stock edited in place (with and without htmx, and as JSON),
two staff saving one option, the audit, and product photos from upload to the shopper's pages."""

from __future__ import annotations

import io
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from PIL import Image

from tests.conftest import Shopper, sql, variant_id
from tests.factories import set_stock
from tests.test_staff import STAFF_EMAIL, logged_in
from tests.test_static_and_compression import fingerprinted
from web import media
from web.__main__ import main
from web.settings import Settings
from web.staff import products, service

PHOTO_SRC = re.compile(r'src="/media/([0-9a-f]{32})-(\d+)\.webp" srcset="/media/\1-(\d+)\.webp 2x"')
ROW_VERSION = re.compile(r'name="version" value="(\d+)"')


def photo_bytes(
    image_format: str = "JPEG", size: tuple[int, int] = (1200, 900), mode: str = "RGB", exif: bytes = b""
) -> bytes:
    """A generated picture: red on the left half, blue on the right."""
    image = Image.new(mode, size, (200, 0, 0, 255) if mode == "RGBA" else (200, 0, 0))
    image.paste((0, 0, 200), (size[0] // 2, 0, size[0], size[1]))
    out = io.BytesIO()
    image.save(out, image_format, **({"exif": exif} if exif else {}))
    return out.getvalue()


def camera_exif() -> bytes:
    """EXIF as a phone writes it: maker, model, GPS position, and "rotate 90° clockwise to show"."""
    exif = Image.Exif()
    exif[0x010F] = "ACME Phones"  # Make
    exif[0x0110] = "Snapper 9"  # Model
    exif[0x0112] = 6  # Orientation: the camera was held upright
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}  # GPS
    return exif.tobytes()


@pytest.fixture
def staff(app: Litestar) -> Iterator[Shopper]:
    yield from logged_in(app, STAFF_EMAIL, staff=True)


@pytest.fixture
def second_staff(app: Litestar) -> Iterator[Shopper]:
    yield from logged_in(app, "second@example.com", staff=True)


def stored(app: Litestar, sku: str) -> tuple[int, int, int]:
    """(price in cents, stock, version) of a variant as the database holds it."""
    row = sql(app, "SELECT price_cents, stock, version FROM variants WHERE sku = :sku", sku=sku)[0]
    return int(row[0]), int(row[1]), int(row[2])


def audit_rows(app: Litestar) -> list[tuple[str, str, str, dict[str, Any], dict[str, Any]]]:
    rows = sql(app, "SELECT actor_email, action, subject, before, after FROM audit ORDER BY id")
    return [(r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4])) for r in rows]


def save(member: Shopper, sku_id: int, htmx: bool = False, next_path: str = "/staff/products", **fields: str) -> Any:
    """A row's form as the page sends it: price, stock, the stock and version it was opened at."""
    form = {"next": next_path, **fields}
    return member.post(
        f"/staff/variants/{sku_id}", form, htmx=htmx, page=next_path, target=f"staff-variant-row-{sku_id}"
    )


def opened(price: str = "14.00", stock: str = "60", version: str = "1", seen: str = "60") -> dict[str, str]:
    """The tea tin's row as typed into: opened at `version` showing `seen` in stock (60, as the demo has)."""
    return {"price": price, "stock": stock, "stock_seen": seen, "version": version}


def photo_of(app: Litestar, slug: str = "tea-tin") -> str | None:
    return sql(app, "SELECT photo FROM products WHERE slug = :slug", slug=slug)[0][0]  # type: ignore[no-any-return]


def media_files(app: Litestar) -> list[Path]:
    """Every file in the media folder, smallest photo size first."""
    folder: Path = app.state.shop.settings.media_dir
    return sorted(folder.iterdir(), key=lambda path: (len(path.name), path.name)) if folder.exists() else []


def upload(member: Shopper, data: bytes, name: str = "photo.jpg", kind: str = "image/jpeg", **kwargs: Any) -> Any:
    kwargs.setdefault("page", "/staff/products/tea-tin")
    return member.post("/staff/products/tea-tin/photo", files={"photo": (name, data, kind)}, **kwargs)


# Listing and searching


def test_staff_see_every_product_with_its_options_20_a_page_and_search_by_name_or_sku(staff: Shopper) -> None:
    first = staff.visit("/staff/products").text
    assert "24 products" in first and "Linen shirt" in first and "linen-shirt-xl" in first
    assert 'href="/staff/products?q=&amp;page=2"' in first or 'href="/staff/products?q=&page=2"' in first
    assert "Page 1 of 2" in first and "Desk tray" not in first
    assert "Desk tray" in staff.visit("/staff/products?page=2").text
    by_name = staff.visit("/staff/products?q=LINEN").text
    assert "Linen shirt" in by_name and "Linen cushion" in by_name and "Tea tin" not in by_name
    by_sku = staff.visit("/staff/products?q=cast-iron-pan-28").text
    assert "1 product " in by_sku and "Cast iron pan" in by_sku
    assert "No products match." in staff.visit("/staff/products?q=100%25").text
    assert staff.client.get("/staff/products?page=0").status_code == 400
    assert "Products</a>" in staff.visit("/staff/orders").text  # the staff pages link to each other


def test_a_product_page_shows_its_options_its_photo_form_and_links_to_its_audit(staff: Shopper) -> None:
    page = staff.visit("/staff/products/Linen-Shirt").text
    assert page.count('class="variant-row"') == 4
    assert 'enctype="multipart/form-data"' in page and 'accept="image/jpeg,image/png,image/webp"' in page
    assert 'href="/staff/audit?product=linen-shirt"' in page
    assert f'src="{fingerprinted("img/products/linen-shirt.svg")}"' in page
    assert staff.client.get("/staff/products/no-such-thing").status_code == 404


# Editing price and stock


def test_without_javascript_a_save_redirects_back_with_a_flash_and_is_audited(staff: Shopper, app: Litestar) -> None:
    tea = variant_id(app, "tea-tin")
    answer = save(staff, tea, **opened(price="15,5", stock="42"))
    assert answer.status_code == 303 and answer.headers["location"] == "/staff/products"
    assert stored(app, "tea-tin") == (1550, 42, 2)
    assert "Saved Tea tin: €15.50, 42 in stock." in staff.visit("/staff/products").text
    assert audit_rows(app) == [
        (STAFF_EMAIL, "variant.edit", f"variant:{tea}", {"price": 1400, "stock": 60}, {"price": 1550, "stock": 42})
    ]
    assert "€15.50" in staff.client.get("/products/tea-tin").text


def test_with_htmx_a_save_answers_its_row_alone_with_the_new_version(staff: Shopper, app: Litestar) -> None:
    tea = variant_id(app, "tea-tin")
    answer = save(staff, tea, htmx=True, **opened(price="16", stock="60"))
    assert answer.status_code == 200
    assert answer.text.lstrip().startswith(f'<li id="staff-variant-row-{tea}"')
    assert answer.text.count("<li") == 1
    assert 'value="16.00"' in answer.text and ROW_VERSION.findall(answer.text) == ["2"]
    assert "Saved Tea tin: €16.00, 60 in stock." in answer.text
    assert stored(app, "tea-tin") == (1600, 60, 2)
    assert audit_rows(app)[0][3:] == ({"price": 1400}, {"price": 1600})


def test_a_script_patches_price_and_stock_as_json(staff: Shopper, app: Litestar) -> None:
    tea = variant_id(app, "tea-tin")
    assert staff.client.get(f"/api/staff/variants/{tea}").json()["variant"] == {
        "id": tea,
        "productId": "tea-tin",
        "sku": "tea-tin",
        "label": "",
        "price": 1400,
        "stock": 60,
        "version": 1,
    }
    answer = staff.client.patch(f"/api/staff/variants/{tea}", json={"stock": 5, "version": 1})
    assert answer.status_code == 200 and answer.json()["variant"]["stock"] == 5
    assert answer.json()["variant"]["version"] == 2 and answer.json()["variant"]["price"] == 1400
    again = staff.client.patch(f"/api/staff/variants/{tea}", json={"price": 990, "version": 2})
    assert again.json()["variant"] == {**answer.json()["variant"], "price": 990, "version": 3}
    assert stored(app, "tea-tin") == (990, 5, 3)
    assert [row[3:] for row in audit_rows(app)] == [({"stock": 60}, {"stock": 5}), ({"price": 1400}, {"price": 990})]


def test_the_second_of_two_staff_saving_one_option_is_refused_with_its_current_values(
    staff: Shopper, second_staff: Shopper, app: Litestar
) -> None:
    """Both opened the row at version 1; the first save wins, the second (htmx, plain form or JSON)
    is refused with what the option holds now, and overwrites nothing."""
    tea = variant_id(app, "tea-tin")
    assert save(staff, tea, htmx=True, **opened(price="20.00")).status_code == 200

    refused = save(second_staff, tea, htmx=True, **opened(price="9.00", stock="3"))
    assert refused.status_code == 409
    assert refused.text.lstrip().startswith(f'<li id="staff-variant-row-{tea}"')
    assert "changed by someone else since you opened it" in refused.text
    assert "it is now €20.00 with 60 in stock" in refused.text
    assert 'value="20.00"' in refused.text and ROW_VERSION.findall(refused.text) == ["2"]

    plain = save(second_staff, tea, **opened(price="9.00", stock="3"))
    assert plain.status_code == 409 and "changed by someone else since you opened it" in plain.text
    assert 'id="staff-product"' in plain.text and 'value="20.00"' in plain.text

    api = second_staff.client.patch(f"/api/staff/variants/{tea}", json={"price": 900, "stock": 3, "version": 1})
    assert api.status_code == 409
    assert api.json()["error"] == "EDIT_CONFLICT" and "changed by someone else" in api.json()["message"]
    assert api.json()["current"] == {
        "id": tea,
        "productId": "tea-tin",
        "sku": "tea-tin",
        "label": "",
        "price": 2000,
        "stock": 60,
        "version": 2,
    }
    assert stored(app, "tea-tin") == (2000, 60, 2)
    assert len(audit_rows(app)) == 1

    retried = save(second_staff, tea, htmx=True, **opened(price="9.00", stock="60", version="2"))
    assert retried.status_code == 200 and stored(app, "tea-tin") == (900, 60, 3)


def test_a_price_edit_keeps_the_sales_made_since_the_row_was_opened(staff: Shopper, app: Litestar) -> None:
    """The row was opened with 60 in stock; 2 sold meanwhile. Saving a new price with the stock left
    as shown must not put those 2 back; a stock typed in by staff is set as typed."""
    tea = variant_id(app, "tea-tin")
    set_stock(app, "tea-tin", 58)
    assert save(staff, tea, **opened(price="15.00", stock="60")).status_code == 303
    assert stored(app, "tea-tin") == (1500, 58, 2)
    assert save(staff, tea, **opened(price="15.00", stock="70", version="2", seen="58")).status_code == 303
    assert stored(app, "tea-tin") == (1500, 70, 3)


def test_a_stock_typed_over_sales_made_since_the_row_was_opened_is_refused(
    staff: Shopper, shopper: Shopper, app: Litestar
) -> None:
    """Opened at 60, 5 sold, staff type 70: refused with what the option holds now (htmx, plain form,
    JSON with stockSeen), the sales kept. JSON without stockSeen sets the count as given."""
    tea = variant_id(app, "tea-tin")
    shopper.add("tea-tin", 5)
    shopper.checkout()
    assert stored(app, "tea-tin") == (1400, 55, 1)

    refused = save(staff, tea, htmx=True, **opened(stock="70"))
    assert refused.status_code == 409
    assert refused.text.lstrip().startswith(f'<li id="staff-variant-row-{tea}"')
    assert "changed by someone else since you opened it" in refused.text
    assert "it is now €14.00 with 55 in stock" in refused.text
    assert 'name="stock_seen" value="55"' in refused.text and 'max="1000000" step="1" value="55"' in refused.text
    plain = save(staff, tea, **opened(price="15.00", stock="70"))
    assert plain.status_code == 409 and "it is now €14.00 with 55 in stock" in plain.text
    assert 'id="staff-product"' in plain.text
    api = staff.client.patch(f"/api/staff/variants/{tea}", json={"stock": 70, "stockSeen": 60, "version": 1})
    assert api.status_code == 409 and api.json()["error"] == "EDIT_CONFLICT"
    assert api.json()["current"]["stock"] == 55 and api.json()["current"]["version"] == 1
    assert stored(app, "tea-tin") == (1400, 55, 1) and audit_rows(app) == []

    assert save(staff, tea, htmx=True, **opened(stock="70", seen="55")).status_code == 200
    again = staff.client.patch(f"/api/staff/variants/{tea}", json={"stock": 65, "stockSeen": 70, "version": 2})
    assert again.status_code == 200 and stored(app, "tea-tin") == (1400, 65, 3)
    counted = staff.client.patch(f"/api/staff/variants/{tea}", json={"stock": 12, "version": 3})
    assert counted.status_code == 200 and stored(app, "tea-tin") == (1400, 12, 4)


@pytest.mark.parametrize("htmx", [False, True])
def test_stock_can_never_be_set_below_zero(staff: Shopper, app: Litestar, htmx: bool) -> None:
    tea = variant_id(app, "tea-tin")
    refused = save(staff, tea, htmx=htmx, **opened(stock="-1"))
    assert refused.status_code == 400 and "Stock cannot be below zero." in refused.text
    assert 'value="-1"' in refused.text and 'aria-invalid="true"' in refused.text
    api = staff.client.patch(f"/api/staff/variants/{tea}", json={"stock": -5, "version": 1})
    assert api.status_code == 400 and api.json()["field"] == "stock" and "below zero" in api.json()["message"]
    assert stored(app, "tea-tin") == (1400, 60, 1) and audit_rows(app) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"price": "12.345"}, "no more than two decimals"),
        ({"price": "abc"}, "an amount such as 59.90"),
        ({"price": "1e3"}, "an amount such as 59.90"),
        ({"price": "-3.00"}, "an amount such as 59.90"),
        ({"price": "100000.01"}, "at most 100,000.00"),
        ({"price": ""}, "Please give the price."),
        ({"stock": "1.5"}, "whole number from 0 to 1,000,000"),
        ({"stock": "1000001"}, "whole number from 0 to 1,000,000"),
        ({"version": "x"}, "missing the version it was opened at"),
    ],
)
def test_bad_input_in_a_row_is_refused_with_a_clear_message(
    staff: Shopper, app: Litestar, fields: dict[str, str], message: str
) -> None:
    tea = variant_id(app, "tea-tin")
    for htmx in (False, True):
        refused = save(staff, tea, htmx=htmx, **{**opened(), **fields})
        assert refused.status_code == 400, refused.text
        assert message in refused.text
        if htmx:
            assert refused.text.lstrip().startswith(f'<li id="staff-variant-row-{tea}"')
        else:
            assert 'id="staff-product"' in refused.text
            assert 'name="next" value="/staff/products"' in refused.text  # a fixed save still goes back there
    assert stored(app, "tea-tin") == (1400, 60, 1) and audit_rows(app) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"price": "12.50", "version": 1}, "price"),
        ({"price": 12.5, "version": 1}, "price"),
        ({"price": True, "version": 1}, "price"),
        ({"price": 10_000_001, "version": 1}, "price"),
        ({"stock": 1_000_001, "version": 1}, "stock"),
        ({"stock": 5}, "version"),
        ({"version": 1}, "price"),
        ({"stok": 5, "version": 1}, "stok"),
        ({"stockSeen": 60, "version": 1}, "stockSeen"),
        ({"stock": 5, "stockSeen": -1, "version": 1}, "stockSeen"),
        ({"stock": 5, "stockSeen": "60", "version": 1}, "stockSeen"),
    ],
)
def test_bad_json_is_refused_with_400_and_changes_nothing(
    staff: Shopper, app: Litestar, body: dict[str, Any], field: str
) -> None:
    tea = variant_id(app, "tea-tin")
    refused = staff.client.patch(f"/api/staff/variants/{tea}", json=body)
    assert refused.status_code == 400 and refused.json()["field"] == field, refused.text
    assert stored(app, "tea-tin") == (1400, 60, 1) and audit_rows(app) == []


def test_json_edits_of_what_is_not_there_or_not_json_are_refused(staff: Shopper, app: Litestar) -> None:
    tea = variant_id(app, "tea-tin")
    assert staff.client.patch("/api/staff/variants/999999", json={"stock": 1, "version": 1}).status_code == 404
    assert staff.client.patch(f"/api/staff/variants/{tea}", content=b"stock=1").status_code == 415
    not_json = staff.client.patch(
        f"/api/staff/variants/{tea}", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400 and not_json.json()["error"] == "INVALID_BODY"
    assert staff.client.get("/api/staff/variants/0").status_code == 400
    assert save(staff, 999999, **opened()).status_code == 404
    assert stored(app, "tea-tin") == (1400, 60, 1) and audit_rows(app) == []


def test_stock_lowered_below_what_a_cart_holds_is_allowed_and_the_cart_clamps_on_read(
    staff: Shopper, shopper: Shopper, app: Litestar
) -> None:
    shopper.add("tea-tin", 5)
    assert shopper.quantities() == {f"tea-tin:{variant_id(app, 'tea-tin')}": 5}
    tea = variant_id(app, "tea-tin")
    assert save(staff, tea, **opened(stock="2")).status_code == 303
    assert stored(app, "tea-tin")[1] == 2
    cart = shopper.cart()
    assert [item["qty"] for item in cart["items"]] == [2]
    assert cart["notices"] == ["Only 2 left of Tea tin: quantity reduced to 2."]


def test_a_change_and_its_audit_row_are_one_transaction(
    staff: Shopper, app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audit row that cannot be written takes the change with it."""
    tea = variant_id(app, "tea-tin")

    def audit_fails(*_args: Any) -> None:
        raise RuntimeError("the audit table is full")

    monkeypatch.setattr("web.staff.service.record", audit_fails)
    assert staff.client.patch(f"/api/staff/variants/{tea}", json={"stock": 1, "version": 1}).status_code == 500
    assert save(staff, tea, **opened(stock="1")).status_code == 500
    assert stored(app, "tea-tin") == (1400, 60, 1)


def test_a_failure_after_the_audit_row_is_written_takes_the_row_and_the_change_with_it(
    staff: Shopper, app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real audit row is written, then the unit fails: neither the row nor the change stays,
    as they would if the audit were committed on its own."""
    tea = variant_id(app, "tea-tin")
    record = service.record

    def fails_after_recording(*args: Any) -> None:
        record(*args)
        raise RuntimeError("the disk filled after the audit row")

    monkeypatch.setattr("web.staff.service.record", fails_after_recording)
    assert staff.client.patch(f"/api/staff/variants/{tea}", json={"stock": 1, "version": 1}).status_code == 500
    assert save(staff, tea, **opened(price="1.00")).status_code == 500
    assert upload(staff, photo_bytes()).status_code == 500
    assert audit_rows(app) == [] and stored(app, "tea-tin") == (1400, 60, 1) and photo_of(app) is None


def test_the_audit_lists_a_products_changes_its_options_and_photo(staff: Shopper, app: Litestar) -> None:
    tea = variant_id(app, "tea-tin")
    pan = variant_id(app, "cast-iron-pan", "28 cm")
    assert save(staff, tea, **opened(stock="59")).status_code == 303
    assert upload(staff, photo_bytes()).status_code == 303
    pan_save = save(staff, pan, **{"price": "60.00", "stock": "4", "stock_seen": "4", "version": "1"})
    assert pan_save.status_code == 303
    page = staff.visit("/staff/audit?product=tea-tin").text
    assert f"variant:{tea}" in page and "product:tea-tin" in page and f"variant:{pan}" not in page
    assert "product.photo" in page and "variant.edit" in page
    assert f"variant:{pan}" in staff.visit("/staff/audit?product=cast-iron-pan").text
    assert "Nothing recorded" in staff.visit("/staff/audit?product=no-such-product").text


# Photos


def test_a_jpeg_is_stored_upright_without_its_metadata_in_each_size_and_served_for_a_year(
    staff: Shopper, app: Litestar
) -> None:
    original = photo_bytes("JPEG", (1200, 900), exif=camera_exif())
    assert b"ACME Phones" in original
    answer = upload(staff, original)
    assert answer.status_code == 303 and answer.headers["location"] == "/staff/products/tea-tin"
    assert "The new photo is shown in the shop." in staff.visit("/staff/products/tea-tin").text
    photo = photo_of(app)
    assert photo is not None and media.PHOTO.fullmatch(photo)
    assert [path.name for path in media_files(app)] == [f"{photo}-{width}.webp" for width in media.WIDTHS]
    for path in media_files(app):
        content = path.read_bytes()
        assert b"ACME" not in content and b"Snapper" not in content and b"Exif" not in content
        image = Image.open(io.BytesIO(content))
        width = int(path.stem.rsplit("-", 1)[1])
        assert image.format == "WEBP" and image.size == (width, width)
        assert not image.getexif() and "icc_profile" not in image.info
    largest = Image.open(media_files(app)[-1]).convert("RGB")
    # Turned upright (orientation 6), the red left half is on top and the blue one below.
    top, bottom = largest.getpixel((480, 100)), largest.getpixel((480, 860))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0]

    served = staff.client.get(f"/media/{photo}-480.webp")
    assert served.status_code == 200 and served.content == media_files(app)[3].read_bytes()
    assert served.headers["content-type"] == "image/webp"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert served.headers["x-content-type-options"] == "nosniff" and "set-cookie" not in served.headers
    assert audit_rows(app) == [(STAFF_EMAIL, "product.photo", "product:tea-tin", {"photo": None}, {"photo": photo})]


@pytest.mark.parametrize(
    ("image_format", "mode", "kind"), [("PNG", "RGBA", "image/png"), ("WEBP", "RGB", "image/webp")]
)
def test_png_and_webp_photos_are_accepted(
    staff: Shopper, app: Litestar, image_format: str, mode: str, kind: str
) -> None:
    answer = upload(staff, photo_bytes(image_format, (800, 800), mode), f"photo.{image_format.lower()}", kind)
    assert answer.status_code == 303
    assert photo_of(app) is not None and len(media_files(app)) == len(media.WIDTHS)


def test_with_htmx_an_upload_answers_the_photo_section(staff: Shopper, app: Litestar) -> None:
    answer = upload(staff, photo_bytes(), htmx=True, target="staff-product-photo")
    assert answer.status_code == 200
    assert answer.text.lstrip().startswith('<section id="staff-product-photo"')
    assert "The new photo is shown in the shop." in answer.text and f"/media/{photo_of(app)}-240.webp" in answer.text
    assert "Remove the photo" in answer.text


def truncated_jpeg() -> bytes:
    data = photo_bytes("JPEG", (1200, 900))
    return data[: len(data) // 2]


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (600, 600)).save(out, "GIF")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (gif(), "photo.gif", "GIF images are not accepted"),
        (bytes(range(256)) * 64, "photo.jpg", "not a JPEG, PNG or WebP image, or it is damaged"),
        (truncated_jpeg(), "photo.jpg", "not a JPEG, PNG or WebP image, or it is damaged"),
        (b"Dear shop, this is not a photo.\n" * 40, "photo.jpg", "not a JPEG, PNG or WebP image, or it is damaged"),
        (photo_bytes("JPEG", (640, 400)), "photo.jpg", "at least 480 on its shorter side"),
        (b"", "photo.jpg", "Choose a photo to upload."),
    ],
)
def test_what_is_not_a_usable_photo_is_refused_with_a_clear_message_and_changes_nothing(
    staff: Shopper, app: Litestar, data: bytes, name: str, message: str
) -> None:
    refused = upload(staff, data, name)
    assert refused.status_code == 400 and message in refused.text
    assert 'id="staff-product"' in refused.text
    with_htmx = upload(staff, data, name, htmx=True, target="staff-product-photo")
    assert with_htmx.status_code == 400 and message in with_htmx.text
    assert with_htmx.text.lstrip().startswith('<section id="staff-product-photo"')
    assert photo_of(app) is None and media_files(app) == [] and audit_rows(app) == []


def test_an_upload_for_a_product_that_does_not_exist_is_404_and_is_never_decoded(
    staff: Shopper, app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[int] = []
    real_prepare = media.prepare

    def counted(data: bytes) -> media.Photo:
        decoded.append(len(data))
        return real_prepare(data)

    monkeypatch.setattr(media, "prepare", counted)
    files = {"photo": ("photo.jpg", photo_bytes(), "image/jpeg")}
    for htmx in (False, True):
        missing = staff.post("/staff/products/no-such/photo", files=files, htmx=htmx, page="/staff/products/no-such")
        assert missing.status_code == 404
    assert decoded == [] and media_files(app) == [] and audit_rows(app) == []


def test_photos_are_decoded_one_at_a_time(app: Litestar, monkeypatch: pytest.MonkeyPatch) -> None:
    """Uploads arriving together queue for the decoder rather than each holding a decoded image."""
    decoding, most = 0, 0
    counting = threading.Lock()

    def slow_prepare(data: bytes) -> media.Photo:
        nonlocal decoding, most
        with counting:
            decoding += 1
            most = max(most, decoding)
        time.sleep(0.05)
        with counting:
            decoding -= 1
        return media.Photo("0" * 32, {})

    monkeypatch.setattr(media, "prepare", slow_prepare)

    async def three_uploads_at_once() -> None:
        async with anyio.create_task_group() as uploads:
            for _ in range(3):
                uploads.start_soon(products.prepared, b"a photo", app.state.shop)

    anyio.run(three_uploads_at_once)
    assert most == 1


def test_a_photo_over_5_mb_is_refused_with_413_and_a_clear_message(staff: Shopper, app: Litestar) -> None:
    just_over = b"\xff\xd8\xff\xe0" + bytes(media.MAX_UPLOAD_BYTES)
    refused = upload(staff, just_over)
    assert refused.status_code == 413 and "it can be at most 5 MB" in refused.text
    far_over = upload(staff, bytes(6 * 1024 * 1024))
    assert far_over.status_code == 413 and "larger than 5 MB" in far_over.text
    as_htmx = upload(staff, bytes(6 * 1024 * 1024), htmx=True, target="staff-product-photo")
    assert as_htmx.status_code == 413 and "larger than 5 MB" in as_htmx.text
    assert photo_of(app) is None and media_files(app) == [] and audit_rows(app) == []


def test_the_shop_shows_the_photo_after_upload_and_the_illustration_after_removal(
    staff: Shopper, shopper: Shopper, app: Litestar
) -> None:
    assert upload(staff, photo_bytes()).status_code == 303
    photo = photo_of(app)
    page = shopper.visit("/products/tea-tin").text
    assert (
        f'<img class="product-image" src="/media/{photo}-480.webp" srcset="/media/{photo}-960.webp 2x" '
        'alt="Tea tin" width="480" height="480">'
    ) in page
    assert ("240", "480") in [m[1:] for m in PHOTO_SRC.findall(shopper.visit("/?page=2").text)]
    shopper.add("tea-tin")
    assert (photo, "64", "128") in PHOTO_SRC.findall(shopper.visit("/cart").text)
    for width in (64, 128, 240, 480, 960):
        assert shopper.client.get(f"/media/{photo}-{width}.webp").status_code == 200

    removed = staff.post("/staff/products/tea-tin/photo/remove")
    assert removed.status_code == 303 and photo_of(app) is None
    assert "The shop shows the illustration again." in staff.visit("/staff/products/tea-tin").text
    page = shopper.visit("/products/tea-tin").text
    assert f'<img class="product-image" src="{fingerprinted("img/products/tea-tin.svg")}" alt="Tea tin"' in page
    assert "/media/" not in page and "/media/" not in shopper.visit("/cart").text
    assert audit_rows(app)[-1][3:] == ({"photo": photo}, {"photo": None})


def test_media_serves_only_stored_photo_names(staff: Shopper, client: TestClient[Litestar], app: Litestar) -> None:
    assert upload(staff, photo_bytes()).status_code == 303
    photo = photo_of(app)
    folder: Path = app.state.shop.settings.media_dir
    (folder / "notes.txt").write_text("private")
    (folder.parent / "secret.webp").write_bytes(b"private")
    for path in (
        "/media/notes.txt",
        "/media/..%2Fsecret.webp",
        "/media/%2e%2e%2fsecret.webp",
        "/media/..%5Csecret.webp",
        f"/media/{photo}-999.webp",
        f"/media/{photo}-64.png",
        f"/media/{photo.upper()}-64.webp",
        f"/media/{'0' * 32}-64.webp",
        "/media/",
    ):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert b"private" not in answer.content
    assert client.get("/media/../shop.db").status_code == 404


def set_age(paths: list[Path], seconds: int) -> None:
    for path in paths:
        then = time.time() - seconds
        os.utime(path, (then, then))


def test_housekeeping_removes_the_files_of_photos_no_product_has_shown_for_a_day(
    staff: Shopper,
    app: Litestar,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Kept: the photo shown, one replaced in the last day (a page may still show it), one stored in
    the last day (an upload not yet shown) and what is not a photo file. Removed: an old photo no
    product shows, and the replaced one once its replacement is a day old."""
    folder: Path = settings.media_dir
    assert upload(staff, photo_bytes(size=(900, 900))).status_code == 303
    replaced = photo_of(app)
    assert upload(staff, photo_bytes()).status_code == 303
    shown = photo_of(app)
    never_shown, recent = "a" * 32, "b" * 32
    for photo in (never_shown, recent):
        for width in media.WIDTHS:
            (folder / media.file_name(photo, width)).write_bytes(b"webp")
    (folder / "notes.txt").write_text("not a photo")
    two_days = 2 * 24 * 3600
    set_age([path for path in media_files(app) if not path.name.startswith(recent)], two_days)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SESSION_STORE_URL", settings.session_store_url)
    monkeypatch.setenv("MEDIA_DIR", str(folder))

    assert main(["housekeeping"]) == 0
    assert "photo files unused for a day removed: 5" in capsys.readouterr().out
    left = {path.name.split("-")[0] for path in media_files(app)}
    assert left == {shown, replaced, recent, "notes.txt"}
    assert staff.client.get(f"/media/{shown}-480.webp").status_code == 200

    sql(app, "UPDATE audit SET at = at - :two_days", two_days=two_days)
    assert main(["housekeeping"]) == 0
    assert "photo files unused for a day removed: 5" in capsys.readouterr().out
    assert {path.name.split("-")[0] for path in media_files(app)} == {shown, recent, "notes.txt"}


def test_uploading_a_photo_again_restarts_its_day_of_grace(staff: Shopper, app: Litestar) -> None:
    assert upload(staff, photo_bytes()).status_code == 303
    set_age(media_files(app), 2 * 24 * 3600)
    assert staff.post("/staff/products/tea-tin/photo/remove").status_code == 303
    assert upload(staff, photo_bytes()).status_code == 303
    assert all(path.stat().st_mtime > time.time() - 60 for path in media_files(app))


# Cross-site requests


def variant_save(app: Litestar) -> tuple[str, dict[str, Any]]:
    return f"/staff/variants/{variant_id(app, 'tea-tin')}", {"data": {"next": "/staff/products", **opened(stock="5")}}


def photo_upload(app: Litestar) -> tuple[str, dict[str, Any]]:
    return "/staff/products/tea-tin/photo", {"files": {"photo": ("photo.jpg", photo_bytes(), "image/jpeg")}}


def photo_removal(app: Litestar) -> tuple[str, dict[str, Any]]:
    return "/staff/products/tea-tin/photo/remove", {}


@pytest.mark.parametrize("request_of", [variant_save, photo_upload, photo_removal])
@pytest.mark.parametrize(
    ("token", "headers"),
    [
        (None, {}),
        ("wrong-token", {}),
        (None, {"X-CSRF-Token": "forged", "HX-Request": "true"}),
        ("valid", {"Origin": "https://evil.example"}),
    ],
)
def test_product_edits_without_our_token_or_from_another_site_are_403_and_change_nothing(
    staff: Shopper, app: Litestar, request_of: Any, token: str | None, headers: dict[str, str]
) -> None:
    assert upload(staff, photo_bytes(size=(900, 900))).status_code == 303  # a photo the removal could remove
    before = (stored(app, "tea-tin"), photo_of(app), media_files(app), audit_rows(app))
    path, body = request_of(app)
    data = dict(body.pop("data", {}))
    if token is not None:
        data["csrf_token"] = staff.csrf if token == "valid" else token
    refused = staff.client.post(path, data=data, headers=headers, follow_redirects=False, **body)
    assert refused.status_code == 403, refused.text
    assert (stored(app, "tea-tin"), photo_of(app), media_files(app), audit_rows(app)) == before


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}],
)
def test_a_json_variant_edit_from_another_site_is_refused_and_changes_nothing(
    staff: Shopper, app: Litestar, headers: dict[str, str]
) -> None:
    tea = variant_id(app, "tea-tin")
    refused = staff.client.patch(f"/api/staff/variants/{tea}", json={"stock": 5, "version": 1}, headers=headers)
    assert refused.status_code == 403 and refused.json()["error"] == "CSRF_FAILED"
    assert stored(app, "tea-tin") == (1400, 60, 1) and audit_rows(app) == []
