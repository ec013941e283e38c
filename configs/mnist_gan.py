"""MNIST with the fully connected GAN: the baseline of the GAN-vs-DCGAN comparison.

Source: Goodfellow et al. (2014), MNIST model of goodfeli/adversarial (mnist.yaml):
G 100 -> 1200 ReLU -> 1200 ReLU -> pixels; D maxout 240 units x 5 pieces, twice,
with dropout (input 0.2, hidden 0.5); batch 100. Compared with mnist_dcgan.py for
100 epochs.
Deviations, so that the comparison changes only the architecture: both networks use
Adam lr 2e-4 beta1 0.5 like the DCGAN run (the original used SGD lr 0.1 with momentum
0.5 -> 0.7, which this trainer does not offer), z ~ N(0, 1) (original: U(-1, 1)),
and images are 32x32 in [-1, 1] (the trainer's smallest size; MNIST is 28x28).
Data: TFDS mnist, or MNIST's IDX .gz files in --data_dir.
"""

from dcgan_tf.config import load_config_file


def get_config():
  # mnist_dcgan.py with the fully connected networks, the original"s batch and epochs.
  # mlp_units=1200 (240 maxout units x 5 pieces) is the base Config"s.
  return load_config_file("mnist_dcgan").replace(variant="gan", batch_size=100, epochs=100)
