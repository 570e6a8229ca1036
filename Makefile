# Two commands: `make demo` and `make test`. Both set up .venv first when needed.
VENV    := .venv
PY      := $(VENV)/bin/python
SMK     := $(VENV)/bin/snakemake
STAMP   := $(VENV)/.installed
PROFILE ?= profiles/local

.PHONY: setup tpu-setup demo test lint bench faults clean

setup: $(STAMP)

# --no-compile: Python byte-compiles a module when it is first imported; compiling all of
# torch's at install time doubled the install (87 s against 37 s for .venv, measured).
$(STAMP): envs/cpu.txt envs/auto_lirpa.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --no-compile -r envs/cpu.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-compile --no-deps -r envs/auto_lirpa.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-compile --no-deps -e .
	touch $@

# The XLA (TPU) training environment, separate from .venv (see envs/tpu.txt).
TPU_VENV  := .venv-tpu
TPU_PY    := $(TPU_VENV)/bin/python
TPU_STAMP := $(TPU_VENV)/.installed

tpu-setup: $(TPU_STAMP)

# --no-cache-dir: pip would keep a second copy of the ~3 GB of CUDA wheels in ~/.cache; and
# envs/tpu-torch.txt goes one package a call, as pip keeps all the wheels of a call on disk
# until it ends (3.5 GB more at the peak, measured): CI's disk is small.
TPU_PIP   := $(TPU_PY) -m pip install -q --disable-pip-version-check --no-compile --no-cache-dir

$(TPU_STAMP): envs/tpu-torch.txt envs/tpu.txt pyproject.toml
	test -x $(TPU_PY) || python3 -m venv $(TPU_VENV)
	$(TPU_PIP) -r envs/tpu.txt
	grep -v '^#' envs/tpu-torch.txt | xargs -n 1 $(TPU_PIP) --no-deps
	$(TPU_PIP) --no-deps -e .
	touch $@

demo: setup
	$(SMK) --profile $(PROFILE) all
	$(SMK) --profile $(PROFILE) --report results/report/report.html

test: setup tpu-setup
	$(PY) -m pytest -q

lint: setup
	$(SMK) --lint

bench: setup
	$(PY) bench/startup.py
	$(PY) bench/sudoku_build.py
	$(PY) bench/trm_train.py
	$(PY) bench/verify_throughput.py
	$(PY) bench/scaling.py
	$(PY) bench/curvature.py
	$(PY) bench/ssvae.py

# kill -9 the default campaign at 10 random moments, rerun each, compare with a clean run
# (tools/fault_campaign.py; about 11 campaigns' time)
faults: setup
	$(PY) tools/fault_campaign.py --kills 10

clean:
	rm -rf results .snakemake
