"""Images/s of the PyTorch DCGAN reference train step, for comparison with `dcgan_tf.bench`.

The networks and the step are those of pytorch/examples `dcgan/main.py` (64x64, ngf = ndf = 64,
nz 100, BN, Adam 2e-4 beta1 0.5, BCELoss on a sigmoid D, G forward once per step, D on real
then on fake.detach(), G step through the updated D), on one in-memory batch like our bench.
PyTorch is not a dependency of dcgan_tf: `pip install torch` to run this.

  python scripts/torch_reference_bench.py --batch_size=128 --steps=20
Prints one JSON line (img_per_s, s_per_step median, torch version, threads, load_1m).
"""

import argparse
import json
import os
import statistics
import time

import torch
from torch import nn


def generator(nz=100, ngf=64, nc=3):
  return nn.Sequential(
      nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
      nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4),
      nn.ReLU(True),
      nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2),
      nn.ReLU(True),
      nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
      nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())


def discriminator(ndf=64, nc=3):
  return nn.Sequential(
      nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
      nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2),
      nn.LeakyReLU(0.2, inplace=True),
      nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4),
      nn.LeakyReLU(0.2, inplace=True),
      nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8),
      nn.LeakyReLU(0.2, inplace=True),
      nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch_size", type=int, default=128)
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--channels_last", action="store_true",
                      help="NHWC memory format (oneDNN's preferred layout on CPU).")
  args = parser.parse_args()
  torch.manual_seed(0)
  net_g, net_d = generator(), discriminator()
  fmt = torch.channels_last if args.channels_last else torch.contiguous_format
  net_g, net_d = net_g.to(memory_format=fmt), net_d.to(memory_format=fmt)
  opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
  criterion = nn.BCELoss()
  b = args.batch_size
  real = (torch.rand(b, 3, 64, 64) * 2 - 1).contiguous(memory_format=fmt)
  ones, zeros = torch.ones(b), torch.zeros(b)

  def step():
    net_d.zero_grad()
    err_real = criterion(net_d(real).view(-1), ones)
    err_real.backward()
    fake = net_g(torch.randn(b, 100, 1, 1))
    err_fake = criterion(net_d(fake.detach()).view(-1), zeros)
    err_fake.backward()
    opt_d.step()
    net_g.zero_grad()
    err_g = criterion(net_d(fake).view(-1), ones)
    err_g.backward()
    opt_g.step()

  for _ in range(args.warmup):
    step()
  times = []
  for _ in range(args.steps):
    t = time.perf_counter()
    step()
    times.append(time.perf_counter() - t)
  s = statistics.median(times)
  print(json.dumps(dict(kind="torch_reference", torch=torch.__version__,
                        threads=torch.get_num_threads(), batch_size=b,
                        channels_last=args.channels_last, steps=args.steps,
                        s_per_step=round(s, 5), img_per_s=round(b / s, 2),
                        load_1m=round(os.getloadavg()[0], 2))))


if __name__ == "__main__":
  main()
