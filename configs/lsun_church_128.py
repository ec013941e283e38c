"""LSUN church_outdoor at 128x128 (126,227 images), the DCGAN study's 128-pixel experiment.

Source: the DCGAN architecture of Radford et al. (2015) extended to 128x128 (six
transposed convs in G, six convs in D), trained with the paper's optimiser.
Settings (issue 4 table): 128x128 RGB, batch 128, Adam lr 2e-4 beta1 0.5 (beta2
0.999) for both networks, 100 epochs, z 100, 64 feature maps.
Data: TFDS' lsun needs tensorflow-io (unusable with TF 2.21): place
church_outdoor_train_lmdb/ (or an exported image folder church_outdoor_train/) in
--manual_dir, or pass --dataset=folder:/your/church/images.
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="lsun_church", image_size=128, channels=3, variant="dcgan",
                latent_dim=100, gen_filters=64, disc_filters=64, batch_size=128, epochs=100,
                g_optimizer="adam", d_optimizer="adam", g_lr=2e-4, d_lr=2e-4, beta_1=0.5,
                beta_2=0.999, log_every=100, sample_every=1000, checkpoint_every=1000)
