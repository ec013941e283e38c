"""MNIST with the fully connected GAN: the baseline of the GAN-vs-DCGAN comparison.

Source: Goodfellow et al. (2014), MNIST model of goodfeli/adversarial (mnist.yaml):
G 100 -> 1200 ReLU -> 1200 ReLU -> pixels; D maxout 240 units x 5 pieces, twice,
with dropout (input 0.2, hidden 0.5); batch 100. Compared with mnist_dcgan.py for
100 epochs (issue 4 table).
Deviations, so that the comparison changes only the architecture: both networks use
Adam lr 2e-4 beta1 0.5 like the DCGAN run (the original used SGD lr 0.1 with momentum
0.5 -> 0.7, which this trainer does not offer), z ~ N(0, 1) (original: U(-1, 1)),
and images are 32x32 in [-1, 1] (the trainer's smallest size; MNIST is 28x28).
Data: TFDS mnist, or MNIST's IDX .gz files in --data_dir.
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="mnist", image_size=32, channels=1, variant="gan", latent_dim=100,
                mlp_units=1200, maxout_pieces=5, batch_size=100, epochs=100,
                g_optimizer="adam", d_optimizer="adam", g_lr=2e-4, d_lr=2e-4, beta_1=0.5,
                beta_2=0.999, log_every=200, sample_every=2000, checkpoint_every=2000)
