# Two entry points on a fresh machine: `make demo` and `make test`. Both bootstrap tox (with tox-uv)
# into .relay/tox first; tox then creates the environments, which install the `relay` command.
PYTHON ?= python3
TOX_VENV := .relay/tox
TOX := $(TOX_VENV)/bin/tox
# The checks run side by side: integration waits on Terraform and the emulator most of the time.
CHECKS := lint,unit,validate,policy,plugin,integration

.PHONY: preflight demo test drill synth lint unit validate policy plugin integration bench emulator-start emulator-stop clean

$(TOX):
	@echo "relay: bootstrapping tox and tox-uv into $(TOX_VENV)"
	$(PYTHON) -m venv $(TOX_VENV)
	$(TOX_VENV)/bin/pip install --quiet --disable-pip-version-check tox==4.67.15 tox-uv==1.37.1

# Seconds, standard library only: can Terraform get its provider (mirror, own CLI config, registry)?
preflight:
	@$(PYTHON) -m tools.terraform check

demo: preflight $(TOX)
	@echo "relay: setting up the demo environment (first run: ~450 MB of AWS bindings, the emulator, cdktf-cli)"
	$(TOX) -e demo

test: preflight $(TOX)
	$(TOX) run-parallel --parallel all --parallel-no-spinner -e $(CHECKS)

synth lint unit validate policy plugin integration bench drill: $(TOX)
	$(TOX) -e $@

emulator-start: $(TOX)
	$(TOX) -e emulator -- start

emulator-stop: $(TOX)
	$(TOX) -e emulator -- stop

# The emulator's data (kept across restarts) and its Terraform state go together.
clean: $(TOX)
	$(TOX) -e emulator -- clean
	rm -rf cdktf.out .relay/state/emulator
