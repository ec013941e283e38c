# Two set-up commands on a fresh machine:  `make train`  and  `make test`.
# Both install what they need first (idempotent; pip skips what is there).
PYTHON ?= python3
# Where nvidia-smi lists a GPU: tensorflow with its CUDA libraries (the `and-cuda` extra;
# plain `tensorflow` 2.21 carries none and would train on the CPU). Elsewhere tensorflow-cpu.
TF_PACKAGE ?= $(shell nvidia-smi -L 2>/dev/null | grep -q '^GPU' && echo 'tensorflow[and-cuda]' || echo tensorflow-cpu)
TF_VERSION := $(shell sed -n 's/^tensorflow\([<>=].*\)/\1/p' requirements.txt)

.PHONY: install train test bench
# tensorflow-serving-api (TF Serving warm-up protos, export/warmup.py) with --no-deps: the
# wheel is generated protos only, and its `tensorflow` dependency would be a second TF.
install:
	grep -v '^tensorflow[<>=]' requirements.txt > .requirements-rest.txt
	$(PYTHON) -m pip install --quiet "$(TF_PACKAGE)$(TF_VERSION)" -r .requirements-rest.txt
	rm -f .requirements-rest.txt
	$(PYTHON) -m pip install --quiet --no-deps "tensorflow-serving-api$(TF_VERSION)"

# The default job: digits (bundled with scikit-learn, no network), 32x32, a few minutes on 2 CPU cores.
# Writes runs/digits-dcgan/{samples,tensorboard,checkpoints,saved_model}.
train: install
	$(PYTHON) -m dcgan_tf.train --dataset=digits

test: install
	$(PYTHON) -m pytest -q -n 2 --dist loadgroup tests

bench: install
	$(PYTHON) -m dcgan_tf.bench
