"""Loss curves of the Fashion-MNIST run from its TensorBoard events -> docs/fmnist_loss.png."""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import tensorflow as tf

logdir, out = sys.argv[1], sys.argv[2]
series = {}
for name in sorted(f for f in os.listdir(logdir) if "tfevents" in f):
  for event in tf.compat.v1.train.summary_iterator(os.path.join(logdir, name)):
    for v in event.summary.value:
      if v.HasField("tensor") and v.tag in ("d_loss", "g_loss", "d_real", "d_fake"):
        series.setdefault(v.tag, {})[event.step] = float(tf.make_ndarray(v.tensor))
# The trainer logs Keras Mean trackers, which average over the whole fit call (one call
# from step 0 here): the logged value at step s is the mean of steps 1..s. The mean of
# each logging interval follows exactly: (s_k M_k - s_{k-1} M_{k-1}) / (s_k - s_{k-1}).
def interval_means(points):
  steps = sorted(points)
  out, prev_s, prev_m = [], 0, 0.0
  for s in steps:
    out.append((s * points[s] - prev_s * prev_m) / (s - prev_s))
    prev_s, prev_m = s, points[s]
  return steps, out

fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
for ax, tags, title in ((a, ("d_loss", "g_loss"), "losses"),
                        (b, ("d_real", "d_fake"), "D outputs: mean sigmoid D(x), D(G(z))")):
  for i, tag in enumerate(tags):
    steps, window = interval_means(series[tag])
    color = f"C{i}"
    ax.plot(steps, window, marker="o", markersize=3, color=color, label=f"{tag} (per 100 steps)")
    ax.plot(steps, [series[tag][s] for s in steps], "--", lw=1, color=color, alpha=0.6,
            label=f"{tag} (logged: running mean)")
  ax.set_title(title, fontsize=10); ax.set_xlabel("generator step"); ax.grid(alpha=0.3); ax.legend(fontsize=7)
b.set_ylim(0, 1)
fig.suptitle("DCGAN on Fashion-MNIST (Debian IDX files), 32x32x1, batch 64, 3000 steps")
fig.tight_layout()
fig.savefig(out, dpi=100)
print({t: (min(s), max(s), len(s)) for t, s in series.items()})
