"""Image ops of the input pipeline, each usable eagerly and inside tf.data.

Value ranges: decoded and prepared images are uint8 [0, 255]; `resize_center_crop`
works in float32 with the same range; model inputs (`scale_to_unit`, `augment`) are
float32 in [-1, 1]. Shapes are [H, W, C] (one image, no batch dimension).
"""

import math

import tensorflow as tf

from dcgan_tf.images import quantize, scale_to_unit


def decode_image_bytes(contents):
  """Encoded JPEG/PNG/BMP/GIF/WebP bytes -> uint8 [H, W, 3].

  Decoding to RGB handles every mode uniformly (gray and palette are expanded,
  alpha is dropped, 16-bit PNGs are scaled to 8 bits, a GIF gives its first frame);
  `to_channels` then makes the requested channel count. Raises
  InvalidArgumentError on empty, truncated or non-image data (the pipeline skips
  and counts those).
  """
  image = tf.io.decode_image(contents, channels=3, expand_animations=False)
  return tf.ensure_shape(image, [None, None, 3])


def to_channels(image, channels: int):
  """Image [H, W, 1|2|3|4] (uint8 or float) -> [H, W, channels], same dtype and range.

  Alpha (channel 2 of 2 or 4 of 4) is dropped; RGB -> gray uses ITU-R 601 luma.
  The channel count may be unknown statically (some TFDS datasets).
  """
  image = tf.convert_to_tensor(image)
  c = image.shape[-1]
  if c is None:  # known only at run time: bring it to 3 first
    rank3 = tf.shape(image)[-1] >= 3
    image = tf.cond(rank3, lambda: image[..., :3],
                    lambda: tf.image.grayscale_to_rgb(image[..., :1]))
    image = tf.ensure_shape(image, [None, None, 3])
    c = 3
  if c in (2, 4):
    image = image[..., :c - 1]
    c -= 1
  if c == channels:
    return image
  if channels == 1:
    gray = tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))
    return tf.cast(tf.round(gray), image.dtype) if image.dtype.is_integer else gray
  return tf.image.grayscale_to_rgb(image)


def center_crop(image, crop: int):
  """Keeps the central min(crop, H) x min(crop, W) pixels of [H, W, C]; crop <= 0: unchanged.

  The DCGAN CelebA convention: crop=108 of the 178x218 aligned faces keeps rows
  55..162 and columns 35..142 (offsets (218-108)/2 and (178-108)/2).
  """
  image = tf.convert_to_tensor(image)
  if not crop or crop <= 0:
    return image
  shape = tf.shape(image)
  h, w = shape[0], shape[1]
  ch, cw = tf.minimum(crop, h), tf.minimum(crop, w)
  top, left = (h - ch) // 2, (w - cw) // 2
  return image[top:top + ch, left:left + cw, :]


def resize_center_crop(image, size: int):
  """[H, W, C] any dtype -> float32 [size, size, C], same value range.

  Resizes so the shorter side is `size` (antialiased bilinear, i.e. area-like
  averaging when shrinking, bilinear when growing), then crops the center square.
  """
  image = tf.cast(image, tf.float32)
  shape = tf.shape(image)
  h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
  scale = tf.cast(size, tf.float32) / tf.minimum(h, w)
  new_h = tf.maximum(size, tf.cast(tf.round(h * scale), tf.int32))
  new_w = tf.maximum(size, tf.cast(tf.round(w * scale), tf.int32))
  image = tf.image.resize(image, [new_h, new_w], method="bilinear", antialias=True)
  top = (new_h - size) // 2
  left = (new_w - size) // 2
  image = image[top:top + size, left:left + size, :]
  return tf.ensure_shape(image, [size, size, None])


def prepare(image, image_size: int, channels: int, crop: int = 0):
  """Decoded image [H, W, 1..4] in [0, 255] -> uint8 [image_size, image_size, channels].

  The deterministic part of preprocessing: convert channels, optional central
  crop, resize the shorter side, center-crop the square. Its uint8 output is what
  the pipeline caches (4x smaller than float32).
  """
  image = to_channels(image, channels)
  image = center_crop(image, crop)
  image = resize_center_crop(image, image_size)
  return tf.ensure_shape(quantize(image), [image_size, image_size, channels])


def preprocess(image, image_size: int, channels: int, crop: int = 0):
  """Decoded image [H, W, 1..4] in [0, 255] -> float32 [S, S, channels] in [-1, 1]."""
  return scale_to_unit(prepare(image, image_size, channels, crop))


def _rotate_shift_transforms(angles, shifts, height, width):
  """Projective transforms [B, 8] rotating by angles [B] (radians) about the image
  center, then shifting by integer pixels shifts [B, 2] (dx, dy).

  A transform maps each output pixel (x, y) to the input point it samples; the
  shift is that of a crop at offset (4 + dx, 4 + dy) of the image padded by 4.
  """
  cos, sin = tf.cos(angles), tf.sin(angles)
  w, h = tf.cast(width, tf.float32) - 1.0, tf.cast(height, tf.float32) - 1.0
  x_offset = (w - (cos * w - sin * h)) / 2.0
  y_offset = (h - (sin * w + cos * h)) / 2.0
  dx, dy = shifts[:, 0], shifts[:, 1]
  zeros = tf.zeros_like(angles)
  return tf.stack([cos, -sin, x_offset + cos * dx - sin * dy,
                   sin, cos, y_offset + sin * dx + cos * dy, zeros, zeros], axis=1)


def rotate_shift(images, angles, shifts, fill_value=-1.0):
  """Rotates float [B, H, W, C] by angles [B] (radians) about the center and shifts
  by shifts [B, 2] pixels (bilinear); uncovered pixels get fill_value (-1 = black)."""
  shape = tf.shape(images)
  transforms = _rotate_shift_transforms(tf.cast(angles, tf.float32), tf.cast(shifts, tf.float32),
                                        shape[1], shape[2])
  out = tf.raw_ops.ImageProjectiveTransformV3(
      images=images, transforms=transforms, output_shape=shape[1:3],
      fill_value=tf.cast(fill_value, tf.float32), interpolation="BILINEAR", fill_mode="CONSTANT")
  return tf.ensure_shape(out, images.shape)


def random_geometry(images, seed, flip: bool = False, mnist: bool = False):
  """The pipeline's random flips and MNIST rotation-and-shift (DiffAugment is augment.py's)
  of float32 [B, S, S, C] (or one [S, S, C]) in [-1, 1].

  Stateless: the same seed (int32/int64 [2]) gives the same output; each image
  of a batch draws its own values. flip: horizontal flip with p = 0.5. mnist: the
  conditional-GAN MNIST study's augmentation, a rotation uniform in [-30, 30]
  degrees, then a random S x S crop of the image padded by 4 black pixels
  (an integer shift in [-4, 4]^2, applied in the same resampling).
  """
  images = tf.convert_to_tensor(images, tf.float32)
  single = images.shape.rank == 3
  if single:
    images = images[None]
  batch = tf.shape(images)[0]
  flip_seed, angle_seed, shift_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
  if flip:
    images = tf.image.stateless_random_flip_left_right(images, flip_seed)
  if mnist:
    limit = math.radians(30.0)
    angles = tf.random.stateless_uniform([batch], angle_seed, -limit, limit)
    shifts = tf.random.stateless_uniform([batch, 2], shift_seed, -4, 5, dtype=tf.int32)
    images = rotate_shift(images, angles, shifts)
  return images[0] if single else images
