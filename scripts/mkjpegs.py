"""~2000 face-like 178x218 JPEGs (smooth background, skin ellipse, eyes, noise), quality 90."""
import os, sys
import numpy as np
from PIL import Image, ImageDraw, ImageFilter
root = sys.argv[1]; n = int(sys.argv[2])
os.makedirs(root, exist_ok=True)
rng = np.random.default_rng(0)
yy, xx = np.mgrid[0:218, 0:178]
for i in range(n):
  c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
  t = (yy / 218.0)[..., None]
  bg = (c0 * (1 - t) + c1 * t + rng.normal(0, 6, (218, 178, 3))).clip(0, 255).astype(np.uint8)
  im = Image.fromarray(bg)
  d = ImageDraw.Draw(im)
  skin = tuple(int(v) for v in rng.integers(90, 240, 3))
  cx, cy = 89 + rng.integers(-8, 9), 115 + rng.integers(-8, 9)
  d.ellipse([cx - 45, cy - 60, cx + 45, cy + 60], fill=skin)
  hair = tuple(int(v) for v in rng.integers(0, 120, 3))
  d.chord([cx - 50, cy - 75, cx + 50, cy + 10], 180, 360, fill=hair)
  for ex in (cx - 18, cx + 18):
    d.ellipse([ex - 7, cy - 12, ex + 7, cy - 4], fill=(255, 255, 255)); d.ellipse([ex - 3, cy - 11, ex + 3, cy - 5], fill=(30, 20, 10))
  d.arc([cx - 20, cy + 15, cx + 20, cy + 40], 20, 160, fill=(120, 30, 30), width=3)
  im = im.filter(ImageFilter.GaussianBlur(1.0))
  im.save(os.path.join(root, f"{i + 1:06d}.jpg"), quality=90)
