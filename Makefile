# Two entry points on a fresh machine: `make demo` and `make test`. Both bootstrap tox into
# .relay/tox first; everything else (venvs, the emulator) is set up by tox and the scripts it runs.
PYTHON ?= python3
TOX_VENV := .relay/tox
TOX := $(TOX_VENV)/bin/tox

.PHONY: demo test synth lint unit validate plugin integration emulator-start emulator-stop clean

$(TOX):
	$(PYTHON) -m venv $(TOX_VENV)
	$(TOX_VENV)/bin/pip install --quiet --disable-pip-version-check tox==4.67.15

demo: $(TOX)
	$(TOX) -e demo

test: $(TOX)
	$(TOX)

synth lint unit validate plugin integration: $(TOX)
	$(TOX) -e $@

emulator-start: $(TOX)
	$(TOX) -e emulator -- start

emulator-stop: $(TOX)
	$(TOX) -e emulator -- stop

# The emulator keeps no data across restarts, so its Terraform state goes with it.
clean: emulator-stop
	rm -rf cdktf.out .relay/state/emulator
