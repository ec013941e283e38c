"""Fashion-MNIST at 32x32x1: the DCGAN with the one change that scored best per step here.

Source: configs/fashion_mnist.py (Radford et al. 2015: batch norm in G and D, nonsaturating
loss, Adam betas (0.5, 0.999), batch 128, z 100) with G's learning rate 8e-4, four times D's
2e-4. Chosen by a sweep on real Fashion-MNIST (docs/results.md, "Best settings"): the
batch-norm D wins the early game at equal rates, and a faster G closes the gap; with the EMA
generator (default ramp-up) averaging out the larger steps' flicker, the shipped G scores
0.55x / 0.46x the paper config's FID at 1,500 steps (two seeds), below the paper config's
3,000-step FID, and 4% / 20% below it at 6,000 steps. 4e-4 (twice D's) started slower and
was level with the paper config by 3,000 steps; faster starts (hinge loss with Adam (0, 0.9))
lost to D after 1,500 steps; TTUR (D 4e-4 / G 1e-4) and spectral norm on D were far behind
at this budget.
For MNIST and other 32x32 grayscale sets start here with --dataset=...; papers' settings:
configs/fashion_mnist.py, configs/mnist_dcgan.py.
Data: as configs/fashion_mnist.py.
"""

from dcgan_tf.config import load_config_file


def get_config():
  return load_config_file("fashion_mnist").replace(g_lr=8e-4)
