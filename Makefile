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

# Human video end to end on generated EgoDex-format data (about 2 minutes): synthesise, convert,
# draw the labels over the video, and train on human + Meta-World robot data together.
HUMAN := runs/human
demo-human: $(STAMP)
	rm -rf $(HUMAN)
	$(BIN)/egovla synth egodex $(HUMAN)/egodex --tasks open_drawer,stack_cups --episodes 4 --frames 90 --leave-view --low-confidence 0.1
	$(BIN)/egovla convert egodex $(HUMAN)/egodex $(HUMAN)/human --size 64 --horizon 16
	$(BIN)/egovla viz $(HUMAN)/human --episode 1 --out $(HUMAN)/human-episode1.mp4
	$(BIN)/egovla collect metaworld --tasks demo --episodes 4 --size 64 --out $(HUMAN)/robot
	$(BIN)/egovla train --dataset $(HUMAN)/human:0.5 --dataset $(HUMAN)/robot:0.5 --image-size 64 --chunk-len 16 \
		--steps 100 --workers 1 --out $(HUMAN)/run

clean:
	rm -rf $(VENV) runs .pytest_cache
