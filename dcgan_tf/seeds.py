"""Every random stream of the product, derived from (a seed, a purpose, optional words).

One function, `derive(seed, purpose, *words)`, turns the seed of a run (--seed) or of a
request (evaluate's and sample's --seed) into the seed of one stream: the sha256 of the joined
text, so no two purposes (or two words of one purpose) share a stream, and a stream is a pure
function of its inputs, whatever process or device count draws it (tf.data's shuffle also
mixes in the global TensorFlow seed, which training sets from the "global" stream).
Counters that only exist inside a compiled graph (the generator step, the z or D input of a
step, the replica, a served request's seed) are not hashed: they are the second word of a
stateless op's seed [derive(...), counter], or are folded in (`stateless_fold_in`).

  purpose         seed  draws                                  derivation
  layers          run   each layer's initializer and dropout   derive(s, p, layer path)
  global          run   keras.utils.set_random_seed: anything  derive(s, p)
                        unseeded; tf.data shuffles mix it in
  file_order      run   TFDS shuffle_files, folder file order  derive(s, p)
  data_order      run   shuffle and flips / MNIST augmentation derive(s, p, step, rollbacks,
                        of the training batches                  input pipeline id)
  train_noise     run   training z (gan.py)                    fold_in([derive(s, p), step],
                                                                 draw); rows per replica
  augment         run   DiffAugment of D's inputs (gan.py)     fold_in(fold_in([derive(s, p),
                                                                 step], draw), replica)
  grid_noise      run   fixed z of the sample grids            [derive(s, p), 0]
  ema_statistics  run   z and labels recomputing the EMA G's   z [derive(s, p), 0],
                        batch-norm statistics (train/ema.py)     labels [derive(s, p), 1]
  sample_noise    S     z of sample, of evaluate (during       [derive(0, p), S] (noise.py:
                        training S = 0) and of the export's      S is an int64 tensor in
                        generate* (the same z for the same S)    the SavedModel)
  sample_labels   S     uniform labels of evaluate's fakes     derive(S, p) (numpy)
  arithmetic      S     sample --mode=arithmetic: random       derive(S, p) (numpy)
                        groups, their labels, the jitter
  eval_images     S     evaluate's real-image draws: reservoir derive(S, p, draw), draw in
                        sample, order, pipeline flips; the       real | classifier | fake_split
                        SVM's split of a one-split dataset       | svm | svm_split | svm_train
                                                                 | svm_test
  eval_metric     S     KID subsets, SWD patches/directions,   derive(S, p, metric)
                        real-vs-fake split and classifier
  classifier      S     the FID classifier's weights, dropout  derive(S, p)
                        and batch order
  export_inputs   -     an export's example and warm-up        z [derive(0, p), 0]; their
                        requests, ONNX/TFLite check z            seed input and the numpy z:
                                                                 derive(0, p)
  bench_inputs    run   bench's synthetic images, labels, z    [derive(s, p), 1 | 2 | 3]

p: the purpose. "run" (s): the run's --seed (Config.seed). "S": the seed of an evaluation, a
picture or a served request (evaluate's and sample's --seed, generate*'s `seed` input;
evaluation during training uses S = 0, evaluate's default, so every run is scored on the same
z). "-": no seed; streams without a run seed hash 0 in its place.
"""

import hashlib

# Every purpose derive() accepts, in the order of the table above.
PURPOSES = ("layers", "global", "file_order", "data_order", "train_noise", "augment",
            "grid_noise", "ema_statistics", "sample_noise", "sample_labels", "arithmetic",
            "eval_images", "eval_metric", "classifier", "export_inputs", "bench_inputs")

SEED_RANGE = 2 ** 31  # derived seeds are in [0, 2**31): an int32, valid for every TF/numpy op


def derive(seed: int, purpose: str, *words) -> int:
  """The seed in [0, SEED_RANGE) of stream `purpose` (one of PURPOSES) of `seed` (any int),
  split further by `words` (ints or strings: a step, an input pipeline id, a layer path).

  The parts are joined by newlines and hashed (sha256): none may hold a newline, so two
  different (seed, purpose, words) never hash the same text.
  """
  if purpose not in PURPOSES:
    raise ValueError(f"unknown random stream {purpose!r}; known: {', '.join(PURPOSES)}")
  parts = [str(int(seed)), purpose] + [str(w) for w in words]
  if any("\n" in part for part in parts):
    raise ValueError(f"a seed word holds a newline: {parts!r}")
  digest = hashlib.sha256("\n".join(parts).encode()).digest()
  return int.from_bytes(digest[:8], "little") % SEED_RANGE
