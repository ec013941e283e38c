"""Oxford-IIIT Pets (7,349 cat and dog photos) at 64x64, unconditional DCGAN.

Source: Radford et al. (2015) DCGAN at 64x64 with the settings of the issue 4
table: RGB 64x64, batch 128, Adam lr 2e-4 betas (0.5, 0.999) for both networks,
z 100, 64 feature maps (G 512-256-128-64, D 64-128-256-512), 100 epochs.
Data: TFDS oxford_iiit_pet (--dataset=pets); photos are resized on the shorter side
and center-cropped to 64x64.
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="pets", image_size=64, channels=3, variant="dcgan", latent_dim=100,
                gen_filters=64, disc_filters=64, batch_size=128, epochs=100,
                g_optimizer="adam", d_optimizer="adam", g_lr=2e-4, d_lr=2e-4, beta_1=0.5,
                beta_2=0.999, log_every=100, sample_every=1000, checkpoint_every=1000)
