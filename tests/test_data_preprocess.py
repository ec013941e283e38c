"""Preprocessing ops give the same results eagerly and inside tf.data (graph mode).

big_vision's lesson: an op can behave differently traced in a tf.data function
(unknown shapes, graph-mode control flow) than eagerly; each op here runs both ways
on inputs whose shapes tf.data does not know statically.
"""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from dcgan_tf.data import image_ops as pp

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def on_the_cpu():
  """The eager calls on the CPU, where tf.data runs the pipeline's: a GPU machine would run
  some of them on the GPU (rgb_to_grayscale's matmul in TF32: ~5e-4 relative, enough to
  move a rounded grey level), and the comparisons below are of the CPU kernels."""
  with tf.device("/CPU:0"):
    yield


def _both_many(fn, cases):
  """[(fn(*args) eagerly, fn(*args) in a tf.data map)] for each args tuple in cases.

  The dataset's element spec leaves every dimension unknown, as for decoded files.
  """
  specs = tuple(tf.TensorSpec([None] * np.ndim(a), tf.as_dtype(np.asarray(a).dtype))
                for a in cases[0])
  ds = tf.data.Dataset.from_generator(lambda: iter(cases), output_signature=specs)
  graph = [np.asarray(out) for out in ds.map(fn)]
  return [(np.asarray(fn(*args)), g) for args, g in zip(cases, graph)]


def _both(fn, *args):
  """(fn(*args) eagerly, fn(*args) inside a tf.data map with unknown input shapes)."""
  return _both_many(fn, [tuple(args)])[0]


def _encode(array, fmt, mode=None):
  image = Image.fromarray(array)
  if mode:
    image = image.convert(mode)
  buf = io.BytesIO()
  image.save(buf, format=fmt)
  return buf.getvalue()


def test_decode_every_format_and_mode_to_rgb():
  rgb = RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)
  cases = [("JPEG", None), ("JPEG", "L"), ("PNG", "P"), ("PNG", "RGBA"), ("PNG", "LA"),
           ("PNG", "L"), ("GIF", None), ("BMP", None), ("BMP", "L"), ("WEBP", None)]
  encoded = [(np.array(_encode(rgb, fmt, mode), dtype=object),) for fmt, mode in cases]
  for (eager, graph), case in zip(_both_many(pp.decode_image_bytes, encoded), cases):
    assert eager.shape == (20, 30, 3) and eager.dtype == np.uint8, case
    np.testing.assert_array_equal(eager, graph)  # one CPU decoder, integer output
  lossless = pp.decode_image_bytes(_encode(rgb, "PNG")).numpy()
  np.testing.assert_array_equal(lossless, rgb)
  with pytest.raises(tf.errors.InvalidArgumentError):
    pp.decode_image_bytes(_encode(rgb, "JPEG")[:200])  # truncated


@pytest.mark.parametrize("channels_in,channels_out", [(1, 3), (3, 1), (4, 3), (4, 1), (2, 1),
                                                      (3, 3), (1, 1)])
def test_to_channels(channels_in, channels_out):
  image = RNG.integers(0, 256, (5, 7, channels_in), dtype=np.uint8)
  eager = pp.to_channels(image, channels_out)  # static channel count
  _, graph = _both(lambda x: pp.to_channels(x, channels_out), image)  # unknown at trace time
  assert eager.shape == (5, 7, channels_out) and eager.dtype == tf.uint8
  np.testing.assert_array_equal(eager.numpy(), graph)  # the same CPU kernels both ways
  if channels_in in (3, 4) and channels_out == 1:  # ITU-R 601 luma of RGB, alpha ignored
    luma = image[..., :3].astype(np.float64) @ [0.2989, 0.5870, 0.1140]
    # Rounding to uint8 moves luma by <= 0.5; its float32 sum of 3 products <= 255 by a
    # few ulps (1.5e-5 each; measured 1.9e-5): 0.51 covers both.
    np.testing.assert_allclose(eager.numpy()[..., 0], luma, atol=0.51)


def test_center_crop_is_the_celeba_convention():
  image = RNG.integers(0, 256, (218, 178, 3), dtype=np.uint8)
  eager, graph = _both(lambda x: pp.center_crop(x, 108), image)
  np.testing.assert_array_equal(eager, image[55:163, 35:143])
  np.testing.assert_array_equal(eager, graph)
  small = pp.center_crop(image[:50, :40], 108).numpy()  # crop larger than the image
  np.testing.assert_array_equal(small, image[:50, :40])
  np.testing.assert_array_equal(pp.center_crop(image, 0).numpy(), image)


def test_resize_center_crop_keeps_the_center_of_the_shorter_side():
  # Wide image: left and right thirds black, middle square white.
  image = np.zeros((60, 180, 1), np.uint8)
  image[:, 60:120] = 255
  eager, graph = _both(lambda x: pp.resize_center_crop(x, 32), image)
  assert eager.shape == (32, 32, 1) and eager.dtype == np.float32
  np.testing.assert_array_equal(eager, graph)  # the same CPU kernel on the same input
  assert eager[:, 2:-2].min() > 250  # only the white middle survives the center crop
  constant = np.full((33, 50, 3), 77, np.uint8)  # any resize keeps a constant image
  # Filter weights normalised to sum 1 in float32, two taps per axis when enlarging: 77
  # within ~12 u (u = 2^-24) x 77 = 5.5e-5 (measured one ulp, 7.6e-6); 1e-3 is 18x that.
  np.testing.assert_allclose(pp.resize_center_crop(constant, 64).numpy(), 77, atol=1e-3)


def test_prepare_and_preprocess_ranges_and_graph_equality():
  images = [(RNG.integers(0, 256, shape, dtype=np.uint8),)
            for shape in [(28, 28, 3), (218, 178, 3), (9, 40, 3), (200, 150, 3)]]
  for channels in (1, 3):
    for eager, graph in _both_many(lambda x: pp.prepare(x, 32, channels, crop=108), images):
      assert eager.shape == (32, 32, channels) and eager.dtype == np.uint8
      np.testing.assert_array_equal(eager, graph)  # the same CPU kernels both ways
  for eager, graph in _both_many(lambda x: pp.preprocess(x, 32, 3), images):
    assert eager.dtype == np.float32 and -1.0 <= eager.min() and eager.max() <= 1.0
    np.testing.assert_array_equal(eager, graph)


def test_scale_to_unit_endpoints():
  eager, graph = _both(pp.scale_to_unit, np.array([0, 127, 255], np.uint8))
  # float32 x / 127.5 rounds by <= u = 6e-8 and the - 1 is exact (Sterbenz): 1e-6 is 17x.
  np.testing.assert_allclose(eager, [-1.0, 127 / 127.5 - 1, 1.0], atol=1e-6)
  np.testing.assert_array_equal(eager, graph)


def test_rotate_shift_geometry():
  image = np.full((1, 9, 9, 1), -1.0, np.float32)
  image[0, 1, 4, 0] = 1.0  # one bright pixel above the center (row 1, column 4)
  # Angle 0 and integer shifts: cos 1, sin 0 and offsets 0 exactly, so every output pixel
  # samples a pixel centre with bilinear weights 1 and 0, bit for bit.
  same = pp.rotate_shift(image, [0.0], [[0, 0]]).numpy()
  np.testing.assert_array_equal(same, image)
  shifted = pp.rotate_shift(image, [0.0], [[2, 0]]).numpy()  # a crop 2 px right of center
  assert shifted[0, 1, 2, 0] == 1.0
  assert shifted[0, :, -2:].max() == -1.0  # uncovered pixels are filled black
  # Positive angles turn counter-clockwise on screen (as keras.layers.RandomRotation).
  quarter = pp.rotate_shift(image, [np.pi / 2], [[0, 0]]).numpy()
  # cos(float32(pi / 2)) = -4.4e-8: sample points up to 8 px from the centre land ~4e-7 px
  # off (plus a few u x 8 from the offsets), on a slope of <= 2 per px: ~1e-6 (measured
  # 1.2e-7); atol 1e-5 is 10x.
  np.testing.assert_allclose(quarter[0, ..., 0], np.rot90(image[0, ..., 0]), atol=1e-5)


def test_augment_is_seeded_per_image_and_graph_equal():
  images = RNG.uniform(-1, 1, (6, 16, 16, 1)).astype(np.float32)
  seed = np.array([3, 4], np.int64)
  fn = lambda x, s: pp.random_geometry(x, s, flip=True, mnist=True)  # noqa: E731
  eager, graph = _both(fn, images, seed)
  assert eager.shape == images.shape and -1.0 <= eager.min() and eager.max() <= 1.0
  np.testing.assert_array_equal(eager, graph)  # the same CPU kernels on the same draws
  again = pp.random_geometry(images, seed, flip=True, mnist=True).numpy()
  np.testing.assert_array_equal(eager, again)
  other = pp.random_geometry(images, np.array([3, 5], np.int64), flip=True, mnist=True).numpy()
  assert not np.allclose(eager, other)
  # Each image draws its own transform: identical inputs give different outputs.
  twins = pp.random_geometry(np.repeat(images[:1], 6, axis=0), seed, mnist=True).numpy()
  assert len({twin.tobytes() for twin in twins}) > 1
  flips = pp.random_geometry(images, seed, flip=True).numpy()  # only flips: each image or its mirror
  for out, src in zip(flips, images):
    assert np.array_equal(out, src) or np.array_equal(out, src[:, ::-1])
  single = pp.random_geometry(images[0], seed, flip=True, mnist=True)
  assert single.shape == images[0].shape


def _pil_reference(photo, size, crop=0):
  """An independent computation with PIL: optional central crop, shorter side resized to
  `size` (PIL's bilinear, which widens its support when shrinking), central square."""
  image = Image.fromarray(photo)
  if crop:
    w, h = image.size
    left, top = (w - crop) // 2, (h - crop) // 2
    image = image.crop((left, top, left + crop, top + crop))
  w, h = image.size
  scale = size / min(w, h)
  nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
  resized = np.asarray(image.resize((nw, nh), Image.BILINEAR))
  top, left = (nh - size) // 2, (nw - size) // 2
  return resized[top:top + size, left:left + size]


@pytest.mark.parametrize("name", ["china.jpg", "flower.jpg"])
@pytest.mark.parametrize("size", [32, 64, 128])
def test_prepare_matches_pil_on_real_photos(name, size):
  """scikit-learn's bundled 427x640 photos: resize + center crop within one level of PIL's,
  RGB and (ITU-R 601 luma) grayscale."""
  from sklearn.datasets import load_sample_image
  photo = load_sample_image(name)
  ours = pp.prepare(photo, size, 3).numpy()
  assert ours.shape == (size, size, 3) and ours.dtype == np.uint8
  # The same triangle filter, PIL's in 22-bit fixed point, ours in float32: values far
  # below a grey level apart, each rounded to uint8, so at most 1 apart.
  assert np.abs(ours.astype(int) - _pil_reference(photo, size)).max() <= 1
  gray = np.asarray(Image.fromarray(photo).convert("L"))
  ours_gray = pp.prepare(photo, size, 1).numpy()[..., 0]
  # Both round luma to uint8 first (PIL's weights 0.299/0.587/0.114, ours 0.2989/...: <=
  # 0.03 apart), which can put single inputs 1 apart; the filter averages those, so 1
  # still bounds it on these photos (not a theorem: a whole support could flip one way).
  assert np.abs(ours_gray.astype(int) - _pil_reference(gray, size)).max() <= 1


def test_celeba_crop_matches_pil():
  """--center_crop=108 of a 178x218 image (the aligned CelebA size), then 64x64."""
  from sklearn.datasets import load_sample_image
  photo = load_sample_image("china.jpg")[100:318, 200:378]  # 218 rows x 178 columns
  ours = pp.prepare(photo, 64, 3, crop=108).numpy()
  # As above: two roundings to uint8 of values far below a grey level apart.
  assert np.abs(ours.astype(int) - _pil_reference(photo, 64, crop=108)).max() <= 1
