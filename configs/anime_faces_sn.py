"""Anime faces at 64x64, SN-GAN: anime_faces.py with spectral normalization in D.

Source: DCGAN on 64x64 anime faces (e.g. the Kaggle anime-face crops) with Adam for
both networks (issue 4 table): Adam lr 2e-4 betas (0.5, 0.999), the DCGAN paper's,
batch 128, z 100, 64 feature maps, 64x64 RGB. Epochs are not in the table: the
trainer's default (25).
Spectral normalization (Miyato et al. 2018) on every D layer in place of D's batch
norm; this optimiser is their setting C (lr 2e-4, betas (0.5, 0.999), one D step).
Data: an image folder. The path below is a placeholder: pass
--dataset=folder:/your/path/to/anime_faces.
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="folder:data/anime_faces", image_size=64, channels=3, variant="sngan",
                latent_dim=100, gen_filters=64, disc_filters=64, batch_size=128, epochs=25,
                g_optimizer="adam", d_optimizer="adam", g_lr=2e-4, d_lr=2e-4, beta_1=0.5,
                beta_2=0.999, log_every=100, sample_every=1000, checkpoint_every=1000)
