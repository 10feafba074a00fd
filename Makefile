# The README's two commands: `make demo` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export MUJOCO_GL ?= egl

.PHONY: install test demo demo-human clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU wheel of torch; asking for torch without a pin would pull CUDA packages.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	# openpi's published robot client, for the compatibility test. --no-deps: it pins numpy<2 and
	# dm-tree, which its websocket client and msgpack encoding do not use.
	$(BIN)/pip install --quiet --no-deps openpi-client==0.1.2
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist worksteal $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/egovla demo $(DEMO_ARGS)

# Does human video help a robot? (about 9 minutes on 2 cores): record Meta-World as a person would (human-proxy
# video in EgoDex's format), convert it, draw its labels over the video, pretrain on it, fine-tune on 2
# robot demos per task, and evaluate closed loop beside a policy trained on the robot demos alone.
HUMAN := runs/human
demo-human: $(STAMP)
	rm -rf $(HUMAN)
	$(BIN)/egovla human-transfer --preset demo --out $(HUMAN)

clean:
	rm -rf $(VENV) runs .pytest_cache
