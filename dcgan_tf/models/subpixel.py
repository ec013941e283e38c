"""Faster stride-2 k4 convolutions for CPUs: same layers, weights and results.

keras.layers.Conv2DTranspose(k=4, strides=2, padding="same") runs on CPU at
about half the speed of an ordinary convolution with the same FLOPs (XLA and
oneDNN both treat it as a convolution over a zero-dilated input). Each output
pixel parity (row even/odd, column even/odd) only sees a 2x2 subset of the 4x4
kernel, so the forward pass is four stride-1 2x2 convolutions of the (padded)
input, interleaved: the same multiply-adds, none wasted. The gradients are the
transposed convolution's own (a strided convolution and a filter gradient),
which already run at full speed.

Per axis, with the input padded by one on each side (p[j] = x[j - 1]):
  out[2m]     = p[m] w[3] + p[m + 1] w[1]       (taps 3, 1 starting at p[m])
  out[2m + 1] = p[m + 1] w[2] + p[m + 2] w[0]   (taps 2, 0 starting at p[m + 1])
which is TF's conv2d_transpose(padding="SAME") written out.

The same holds in D: the input gradient of a stride-2 k4 "same" Conv2D *is*
that transposed convolution (of dy), and it was D's slowest pass (31-56 GFLOP/s
under XLA against 106-112 for the forward; docs/results.md). Conv2D below keeps
TF's forward and filter gradient and computes dx the fast way.

Which implementation a run uses is the `--conv_impl` flag (devices.resolve_conv_impl):
the models pick these classes or Keras' own; nothing here looks at the device.
"""

import keras
import tensorflow as tf

# (kernel taps, first padded input row) per output parity 0 (even) and 1 (odd).
_PHASES = (((3, 1), 0), ((2, 0), 1))


def _interleaved_convs(x, kernel):
  """x [B, H, W, C_in], kernel [4, 4, C_out, C_in] -> [B, 2H, 2W, C_out]."""
  h, w = x.shape[1], x.shape[2]
  padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
  rows = []
  for row_taps, r0 in _PHASES:
    cols = []
    for col_taps, c0 in _PHASES:
      k = tf.stack([tf.stack([kernel[i, j] for j in col_taps]) for i in row_taps])  # [2,2,out,in]
      cols.append(tf.nn.conv2d(padded[:, r0:r0 + h + 1, c0:c0 + w + 1, :],
                               tf.transpose(k, [0, 1, 3, 2]), 1, "VALID"))
    rows.append(tf.stack(cols, axis=3))  # [B, H, W, 2 (column parity), C_out]
  out = tf.stack(rows, axis=2)  # [B, H, 2 (row parity), W, 2, C_out]
  return tf.reshape(out, [-1, 2 * h, 2 * w, kernel.shape[2]])


@tf.custom_gradient
def conv2d_transpose_s2k4(x, kernel):
  """== tf.nn.conv2d_transpose(x, kernel, [B, 2H, 2W, C_out], 2, "SAME") for a 4x4 kernel."""

  def grad(dy):
    # What TF does for conv2d_transpose: a strided conv of dy, and the filter gradient.
    dx = tf.nn.conv2d(dy, kernel, 2, "SAME")
    dk = tf.raw_ops.Conv2DBackpropFilter(input=dy, filter_sizes=tf.shape(kernel), out_backprop=x,
                                         strides=[1, 2, 2, 1], padding="SAME")
    return dx, dk

  return _interleaved_convs(x, kernel), grad


@tf.custom_gradient
def conv2d_s2k4(x, kernel):
  """== tf.nn.conv2d(x, kernel, 2, "SAME") for a 4x4 kernel and even H, W."""

  def grad(dy):
    dx = _interleaved_convs(dy, kernel)  # conv2d_transpose(dy, kernel, x.shape, 2, "SAME")
    dk = tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=tf.shape(kernel), out_backprop=dy,
                                         strides=[1, 2, 2, 1], padding="SAME")
    return dx, dk

  return tf.nn.conv2d(x, kernel, 2, "SAME"), grad


def _fast_geometry(layer, wide_enough):
  """True where the interleaved form applies and measured faster (see the classes)."""
  return bool(layer.kernel_size == (4, 4) and layer.strides == (2, 2) and layer.padding == "same"
              and layer.data_format == "channels_last" and layer.dilation_rate == (1, 1)
              and getattr(layer, "output_padding", None) is None and wide_enough)


def _finish(layer, outputs):
  if layer.use_bias:
    outputs = outputs + layer.bias
  return layer.activation(outputs) if layer.activation is not None else outputs


def _kernel(layer):
  # A tensor, not the variable (custom_gradient differentiates w.r.t. its inputs), in
  # the compute dtype (reading self.kernel inside call autocasts under mixed precision).
  return tf.identity(keras.ops.convert_to_tensor(layer.kernel))


class Conv2DTranspose(keras.layers.Conv2DTranspose):
  """keras.layers.Conv2DTranspose with the fast path above where it measured faster.

  Fast path: kernel 4, stride 2, "same", channels_last, no dilation, at least
  MIN_FILTERS output channels (with 3 output channels the four tiny convolutions
  are slower than one transposed convolution). Otherwise Keras' own call.
  Variables and checkpoints are identical.
  """

  MIN_FILTERS = 16

  def __init__(self, *args, **kw):
    super().__init__(*args, **kw)
    self.fast = _fast_geometry(self, self.filters >= self.MIN_FILTERS)

  def call(self, inputs):
    if not self.fast:
      return super().call(inputs)
    return _finish(self, conv2d_transpose_s2k4(inputs, _kernel(self)))


class Conv2D(keras.layers.Conv2D):
  """keras.layers.Conv2D whose input gradient takes the fast path above.

  Fast path: kernel 4, stride 2, "same", channels_last, no dilation, and an even input height and width (then TF pads one row/column on each side, as the
  interleaved form assumes); otherwise Keras' own call. Variables and checkpoints
  are identical; the forward pass and the filter gradient are TF's own.
  """

  def __init__(self, *args, **kw):
    super().__init__(*args, **kw)
    self.fast = _fast_geometry(self, True)

  def call(self, inputs):
    h, w = inputs.shape[1], inputs.shape[2]
    if not (self.fast and h and w and h % 2 == 0 and w % 2 == 0):
      return super().call(inputs)
    return _finish(self, conv2d_s2k4(inputs, _kernel(self)))
