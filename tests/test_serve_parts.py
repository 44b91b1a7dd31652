"""The serve parts without a server: the latest-wins slot, the settings' bounds, the prompt fields, image bytes."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from PIL import Image

from sam_edge.runtime.errors import InvalidInputError
from sam_edge.serve.image_store import ImageTooLarge, decode_image_bytes
from sam_edge.serve.prompt_fields import box_field, labels_field, number, points_field, prompt_id
from sam_edge.serve.prompt_slot import LatestSlot
from sam_edge.serve.settings import ServeSettings


def test_latest_slot_keeps_the_newest_and_counts_the_rest():
    async def scenario():
        slot: LatestSlot[int] = LatestSlot()
        assert slot.put(1) is False and slot.put(2) is True and slot.put(3) is True
        assert await slot.take() == (3, 2)
        slot.put(4)
        item, carried = await slot.take()
        slot.drop_one(carried)  # taken, then too old: the next take reports it
        waiter = asyncio.ensure_future(slot.take())
        await asyncio.sleep(0)
        assert not waiter.done()  # nothing pending: take waits
        slot.put(5)
        assert await waiter == (5, 1) and slot.total_dropped == 3 and not slot.pending()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"port": 70000}, "port must be an integer within 0..65535; got 70000"),
        ({"max_sessions": 0}, "max_sessions must be an integer within 1..1048576; got 0"),
        ({"max_body_bytes": 1.5}, "max_body_bytes must be an integer within 1..1099511627776; got 1.5"),
        ({"threads": True}, "threads must be an integer within 1..1024; got True"),
        ({"host": ""}, "host must be an address such as 127.0.0.1; got ''"),
        ({"max_prompt_age_ms": float("inf")}, "max_prompt_age_ms must be a number within 1..1e+06; got inf"),
    ],
)
def test_settings_refuse_values_they_cannot_keep(kwargs, message):
    with pytest.raises(InvalidInputError) as error:
        ServeSettings(**kwargs)
    assert str(error.value) == message


def test_settings_defaults_bind_the_loopback():
    settings = ServeSettings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.transport_frame_bytes == 2 * settings.max_frame_bytes + 4096
    assert set(settings.limits()) >= {"max_body_bytes", "max_sessions", "max_images", "max_points", "gaze_defaults"}


def test_prompt_fields():
    assert points_field([[1, 2.5]], 4) == [[1.0, 2.5]] and labels_field([0], 1) == [0]
    assert box_field([0, 0, 5, 5]) == [0.0, 0.0, 5.0, 5.0] and prompt_id("a") == "a" and prompt_id(None) is None
    for call, message in [
        (lambda: number(10**400, "x"), "x must be a finite number; got 1000000000000000000000000000000000000000"),
        (lambda: number(True, "x"), "x must be a number; got true/false"),
        (lambda: labels_field([True], 1), "labels[0] must be 1 (foreground) or 0 (background); got True"),
        (lambda: points_field([], 4), "points must be a non-empty list of [x, y] pairs; got a list of 0"),
        (lambda: points_field([[1, 2, 3]], 4), "points[0] must be a pair [x, y]; got a list of 3"),
        (lambda: prompt_id("x" * 65), "id must be a string of at most 64 characters or an integer; got 'xxxxxxxxxxx"),
        (lambda: prompt_id(1.5), "id must be a string of at most 64 characters or an integer; got 1.5"),
    ]:
        with pytest.raises(InvalidInputError) as error:
            call()
        assert str(error.value).startswith(message), str(error.value)


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_image_bytes_of_each_format(fmt):
    rgb = np.zeros((6, 9, 3), np.uint8)
    rgb[2:4, 3:7] = 255
    decoded = decode_image_bytes(_encoded(Image.fromarray(rgb), fmt), 1000)
    assert decoded.shape == (6, 9, 3) and decoded.dtype == np.uint8
    if fmt == "PNG":
        np.testing.assert_array_equal(decoded, rgb)


def test_image_bytes_refused():
    with pytest.raises(
        InvalidInputError, match=r"^the frame is not a PNG, JPEG or WebP file \(UnidentifiedImageError\)"
    ):
        decode_image_bytes(_encoded(Image.new("RGB", (4, 4)), "BMP"), 1000, what="frame")  # a format not served
    with pytest.raises(ImageTooLarge, match="^the image is 40x30 = 1,200 pixels, above this server's limit of 1,000 "):
        decode_image_bytes(_encoded(Image.new("RGB", (40, 30)), "PNG"), 1000)
