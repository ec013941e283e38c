"""dcgan_tf: train, monitor, evaluate and export DCGAN-family image generators."""
