"""sam_edge.runtime.image_io.load_image: every accepted input, and the errors for the rest."""

import io
import struct
import warnings

import numpy as np
import pytest
from image_files import encoded_images, png_header_only
from PIL import Image

from sam_edge.runtime.errors import InputFileError, InvalidInputError, SamEdgeError
from sam_edge.runtime.image_io import load_image


def gradient_rgb(h=6, w=10):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 20, y * 30, (x + y) * 5], axis=-1).astype(np.uint8)


def check_rgb(out, shape):
    assert out.dtype == np.uint8 and out.shape == shape and out.flags.c_contiguous


# --- numpy arrays ------------------------------------------------------------------------------------


def test_uint8_rgb_array_is_copied_unchanged():
    rgb = gradient_rgb()
    out = load_image(rgb)
    check_rgb(out, (6, 10, 3))
    np.testing.assert_array_equal(out, rgb)
    assert not np.shares_memory(out, rgb)
    np.testing.assert_array_equal(load_image(rgb[:, ::2]), rgb[:, ::2])  # non-contiguous view


@pytest.mark.parametrize("shape", [(6, 10), (6, 10, 1)])
def test_grayscale_array_is_replicated_to_three_channels(shape):
    gray = np.arange(60, dtype=np.uint8).reshape(shape)
    out = load_image(gray)
    check_rgb(out, (6, 10, 3))
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray.reshape(6, 10))


def test_rgba_array_drops_alpha():
    rgba = np.dstack([gradient_rgb(), np.full((6, 10), 7, np.uint8)])
    np.testing.assert_array_equal(load_image(rgba), gradient_rgb())


def test_uint16_bool_float_and_int_arrays():
    np.testing.assert_array_equal(load_image(np.array([[0, 257, 65535, 32896]], np.uint16))[0, :, 0], [0, 1, 255, 128])
    np.testing.assert_array_equal(load_image(np.array([[True, False]]))[0, :, 1], [255, 0])
    floats = np.array([[0.0, 1.0, 0.5, 0.2, 0.998]], np.float32)
    np.testing.assert_array_equal(load_image(floats)[0, :, 2], [0, 255, 128, 51, 254])
    np.testing.assert_array_equal(load_image(np.array([[0, 200, 255]], np.int64))[0, :, 0], [0, 200, 255])


def test_float_array_out_of_range_says_what_is_accepted():
    with pytest.raises(InvalidInputError, match=r"within \[0, 1\].*0\.5\.\.2") as err:
        load_image(np.array([[0.5, 2.0]], np.float64))
    assert "uint8" in str(err.value)


def test_nan_float_array_rejected():
    with pytest.raises(InvalidInputError, match="NaN or inf.*finite and within"):
        load_image(np.array([[0.1, np.nan]], np.float32))


def test_int_array_out_of_range_and_bad_shapes_and_dtypes():
    with pytest.raises(InvalidInputError, match=r"0\.\.255, got -1\.\.300.*accepted dtypes"):
        load_image(np.array([[-1, 300]], np.int32))
    with pytest.raises(InvalidInputError, match="HxW, HxWx1, HxWx3"):
        load_image(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(InvalidInputError, match="HxW, HxWx1, HxWx3"):
        load_image(np.zeros(4, np.uint8))
    with pytest.raises(InvalidInputError, match="accepted dtypes"):
        load_image(np.zeros((2, 2), np.complex64))


@pytest.mark.parametrize("image", [np.zeros((0, 5, 3), np.uint8), Image.new("RGB", (0, 4))])
def test_empty_image_rejected(image):
    with pytest.raises(InvalidInputError, match="empty"):
        load_image(image)


def test_unsupported_type_lists_accepted_types():
    with pytest.raises(InvalidInputError, match="file path.*PIL.Image.*numpy array"):
        load_image([[1, 2], [3, 4]])


# --- PIL images -------------------------------------------------------------------------------------


def test_pil_modes_convert_to_rgb():
    rgb = gradient_rgb()
    pil = Image.fromarray(rgb)
    np.testing.assert_array_equal(load_image(pil.convert("RGBA")), rgb)  # alpha dropped
    gray = np.asarray(pil.convert("L"))
    for mode in ("L", "LA", "P"):
        out = load_image(pil.convert("L").convert(mode))
        np.testing.assert_array_equal(out[..., 0], gray)
    check_rgb(load_image(pil.convert("CMYK")), (6, 10, 3))


def test_pil_16bit_int_and_float_modes_are_scaled_not_clipped():
    i16 = Image.fromarray(np.array([[0, 257, 65535, 30000]], np.uint16))
    assert i16.mode == "I;16"
    np.testing.assert_array_equal(load_image(i16)[0, :, 0], [0, 1, 255, 117])
    as_i = Image.fromarray(np.array([[0, 17, 255]], np.int32))
    assert as_i.mode == "I"
    np.testing.assert_array_equal(load_image(as_i)[0, :, 0], [0, 17, 255])
    as_f = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32))
    assert as_f.mode == "F"
    np.testing.assert_array_equal(load_image(as_f)[0, :, 0], [0, 128, 255])
    with pytest.raises(InvalidInputError, match=r"within \[0, 1\]"):
        load_image(Image.fromarray(np.array([[0.0, 3.0]], np.float32)))


# --- files ------------------------------------------------------------------------------------------


def test_png_files_rgb_rgba_gray_and_16bit(tmp_path):
    rgb = gradient_rgb()
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(np.dstack([rgb, np.full((6, 10), 9, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "gray.png")
    deep = (rgb[..., 1].astype(np.uint16) * 257 + 100).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    np.testing.assert_array_equal(load_image(tmp_path / "rgb.png"), rgb)
    np.testing.assert_array_equal(load_image(str(tmp_path / "rgba.png")), rgb)
    np.testing.assert_array_equal(load_image(tmp_path / "gray.png")[..., 2], rgb[..., 0])
    with Image.open(tmp_path / "deep.png") as deep_png:
        assert deep_png.mode == "I;16"
    np.testing.assert_array_equal(load_image(tmp_path / "deep.png")[..., 0], rgb[..., 1])


def test_exif_orientation_is_applied(tmp_path):
    rgb = np.zeros((20, 40, 3), np.uint8)  # landscape, stored pixels 20 rows x 40 columns
    rgb[:, :10] = (255, 0, 0)  # red on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    Image.fromarray(rgb).save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    out = load_image(tmp_path / "rotated.jpg")
    check_rgb(out, (40, 20, 3))  # displayed upright: portrait
    assert out[:8, :, 0].mean() > 200 and out[-8:, :, 0].mean() < 50  # left edge went to the top
    with Image.open(tmp_path / "rotated.jpg") as pil:
        assert load_image(pil).shape == (40, 20, 3)


def test_missing_file_raises_input_file_error(tmp_path):
    with pytest.raises(InputFileError, match="nope.png.*existing, readable image file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(InputFileError):
        load_image(tmp_path)  # a directory


def test_non_image_file_is_named_and_formats_listed(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image at all")
    with pytest.raises(InvalidInputError, match="notes.png.*not an image.*PNG, JPEG"):
        load_image(path)


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_truncated_file_is_named(tmp_path, fmt):
    rng = np.random.default_rng(0)
    full = tmp_path / f"full.{fmt}"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(full)
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(InvalidInputError, match=rf"cut\.{fmt}.*corrupt or truncated.*complete image"):
        load_image(cut)


def test_tiff_tag_of_the_wrong_type_is_a_corrupt_file(tmp_path):
    """Pillow reads a StripOffsets tag of type UNDEFINED as bytes and fails on it with a TypeError; the
    loader still answers with the one-line corrupt-file error (the image fuzz target found this)."""
    path = tmp_path / "tag.tif"
    Image.fromarray(gradient_rgb(4, 6)).save(path)
    data = bytearray(path.read_bytes())
    assert data[:4] == b"II*\x00"  # little-endian TIFF, first IFD offset next
    (ifd,) = struct.unpack_from("<I", data, 4)
    (entries,) = struct.unpack_from("<H", data, ifd)
    tags = [ifd + 2 + 12 * index for index in range(entries)]
    (strip_offsets,) = [entry for entry in tags if struct.unpack_from("<H", data, entry)[0] == 273]
    struct.pack_into("<H", data, strip_offsets + 2, 7)  # field type LONG -> UNDEFINED
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidInputError, match=r"tag\.tif.*corrupt or truncated \(TypeError: .*complete image"):
        load_image(path)


def test_pixel_limit_checked_from_header_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(gradient_rgb(30, 40)).save(path)
    # Truncate the pixel data: a decoder would fail, so the size error proves the header check came first.
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(InvalidInputError, match=r"40x30 = 1,200 pixels.*limit of 1,000.*max_pixels"):
        load_image(path, max_pixels=1000)
    with pytest.raises(InvalidInputError, match="limit of 100 pixels"):
        load_image(np.zeros((20, 20), np.uint8), max_pixels=100)
    assert load_image(gradient_rgb(30, 40), max_pixels=None).shape == (30, 40, 3)


def test_errors_share_the_family_and_builtin_bases(tmp_path):
    with pytest.raises(SamEdgeError):
        load_image(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(ValueError):
        load_image(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.jpg")


def test_huge_header_rejected_without_decoding(tmp_path):
    path = png_header_only(tmp_path / "huge.png", 8000, 8000)
    with pytest.raises(InvalidInputError, match="8000x8000 = 64,000,000 pixels.*50,000,000"):
        load_image(path)
    bomb = png_header_only(tmp_path / "bomb.png", 20000, 10000)
    with pytest.raises(InvalidInputError, match="bomb.png.*MAX_IMAGE_PIXELS"):
        load_image(bomb, max_pixels=None)


def test_image_above_pillows_warning_limit_is_one_error_and_no_warning(tmp_path):
    path = png_header_only(tmp_path / "12k.png", 12000, 12000)  # 144 MP: Pillow would warn (DecompressionBombWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning would escape as an exception
        with pytest.raises(InvalidInputError) as caught:
            load_image(path)
    assert str(caught.value) == (
        f"{str(path)!r} is 12000x12000 = 144,000,000 pixels, above the limit of 50,000,000 pixels; "
        "to load it pass a larger max_pixels= (or max_pixels=None; CLI: --max-pixels N)"
    )


def test_image_above_pillows_error_limit_gets_the_same_too_large_error(tmp_path):
    path = png_header_only(tmp_path / "200mp.png", 20000, 10000)
    with pytest.raises(
        InvalidInputError, match=r"is 200,000,000 pixels, above the limit of 50,000,000 pixels; .*--max-pixels"
    ):
        load_image(path)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix
def test_big_endian_and_matrix_arrays_load_like_native_ones():
    values = np.array([[0, 257, 65535, 32896]], np.uint16)
    np.testing.assert_array_equal(load_image(values.astype(">u2")), load_image(values))
    np.testing.assert_array_equal(
        load_image(np.matrix([[0, 255], [7, 9]], np.uint8)), load_image(np.array([[0, 255], [7, 9]], np.uint8))
    )


def test_every_seed_image_of_the_fuzzer_loads():
    for name, data in encoded_images().items():
        if name.startswith(("huge", "damaged")):
            continue
        with Image.open(io.BytesIO(data)) as image:
            expected = image.size[::-1] + (3,)
        assert load_image(Image.open(io.BytesIO(data))).shape == expected, name
