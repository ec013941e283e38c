"""Conditional DCGAN on CelebA faces as ONE class (unlabelled data).

Source: the conditional-DCGAN study (issue 4 table): 1 class, label embedding 1,
3 channels, z 100, no reconstruction term (weight 0), batch 256, 64 feature maps,
64x64 images.
Not in the table: Adam lr 2e-4 beta1 0.5 for both networks (the DCGAN paper's);
epochs: the trainer's default (25); the 108x108 center crop before resizing is the
usual DCGAN convention for aligned CelebA.
Data: an img_align_celeba/ folder in --manual_dir, TFDS celeb_a, or
--dataset=folder:/your/img_align_celeba.
"""

from dcgan_tf.config import Config


def get_config():
  return Config(dataset="celeba", center_crop=108, image_size=64, channels=3, variant="cdcgan",
                num_classes=1, embedding_dim=1, latent_dim=100, recon_weight=0.0,
                gen_filters=64, disc_filters=64, batch_size=256, epochs=25,
                g_optimizer="adam", d_optimizer="adam", g_lr=2e-4, d_lr=2e-4, beta_1=0.5,
                beta_2=0.999, log_every=100, sample_every=1000, checkpoint_every=1000)
