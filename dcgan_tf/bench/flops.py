"""FLOPs of one GAN train step, counted from the networks' layer shapes.

Only the dense layers and convolutions are counted (multiply and add = 2 FLOPs);
batch norm, activations, losses and the optimizers' updates are elementwise and
add well under 1% at 64x64 (they are memory-bound, not FLOP-bound, anyway).

Per layer with forward cost F (FLOPs for one image):
  Conv2D           F = 2 * H_out * W_out * k_h * k_w * C_in * C_out
  Conv2DTranspose  F = 2 * H_in * W_in * k_h * k_w * C_in * C_out
  Dense            F = 2 * C_in * C_out (times any inner positions)
The backward pass of a layer costs F for the gradient w.r.t. its input (skipped
when nothing upstream needs it: the network's first layer on data or on a
stop_gradient'ed fake) and F for the gradient w.r.t. its weights (skipped when
those weights are not being differentiated). TF's graph optimiser prunes the
unused halves the same way, so this is the work the step really does.

One train step with d_steps = 1 (gan.GAN.train_step) on one image:
  G forward                                       G
  D update: D forward on real and on fake         2 D
            weight grads for both                 2 D
            input grads, first layer excluded     2 (D - D_first)
  G update: D forward on fake (the updated D)     D
            D input grads all the way to the fake D          (no D weight grads)
            G weight grads and input grads        G + (G - G_first)
  total = 3 G - G_first + 8 D - 2 D_first
Each extra D step (d_steps > 1) adds a G forward and a D update:
G + 6 D - 2 D_first. The common "backward = 2 x forward" rule would give
3 G + 9 D (about 10% more at 64x64): it counts gradients nobody uses.
"""

import dataclasses
from typing import List

import keras


@dataclasses.dataclass
class NetFlops:
  """Forward FLOPs per image of one network and of its first counted layer."""
  forward: int
  first_layer: int
  layers: List[tuple]  # (layer name, forward FLOPs per image), in call order


def layer_flops(layer) -> int:
  """Forward FLOPs per image of one Conv2D / Conv2DTranspose / Dense layer (0 for others).

  Uses the input shape the layer was built with (Keras records it at build).
  """
  shapes = getattr(layer, "_build_shapes_dict", None) or {}
  input_shape = shapes.get("input_shape") or next(iter(shapes.values()), None)
  if input_shape is None or not getattr(layer, "built", False):
    return 0
  input_shape = tuple(input_shape)
  if isinstance(layer, keras.layers.Conv2DTranspose):  # before Conv2D: not a subclass, but be safe
    kh, kw, _, c_in = layer.kernel.shape  # kernel [k_h, k_w, C_out, C_in]
    c_out = layer.filters
    h, w = input_shape[1:3]
    return 2 * h * w * kh * kw * c_in * c_out
  if isinstance(layer, keras.layers.Conv2D):
    kh, kw, c_in, c_out = layer.kernel.shape  # kernel [k_h, k_w, C_in, C_out]
    out = layer.compute_output_shape(input_shape)
    return 2 * out[1] * out[2] * kh * kw * c_in * c_out
  if isinstance(layer, keras.layers.Dense):
    c_in, c_out = layer.kernel.shape
    inner = 1
    for d in input_shape[1:-1]:
      inner *= d
    return 2 * inner * c_in * c_out
  return 0


def network_flops(model) -> NetFlops:
  """Sums layer_flops over a built model's layers (SpectralNormalization's inner layer included)."""
  rows = []
  for layer in model._flatten_layers(include_self=False):
    f = layer_flops(layer)
    if f:
      rows.append((layer.name, f))
  if not rows:
    raise ValueError(f"{model.name}: no built Conv2D/Conv2DTranspose/Dense layer to count")
  return NetFlops(sum(f for _, f in rows), rows[0][1], rows)


def train_step_flops(generator, discriminator, d_steps: int = 1) -> int:
  """FLOPs per image of one gan.GAN train step (see the module docstring for the count)."""
  g, d = network_flops(generator), network_flops(discriminator)
  main = 3 * g.forward - g.first_layer + 8 * d.forward - 2 * d.first_layer
  extra = (d_steps - 1) * (g.forward + 6 * d.forward - 2 * d.first_layer)
  return main + extra
